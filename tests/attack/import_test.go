package attack

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestImportTreeSwap plays the owner of a tree that the user imports
// (rbox image import DIR: a tree in a shared directory, another user's
// rootfs): while rbox copies a large file of the tree, the owner swaps a
// directory that rbox has listed but not entered yet for a symlink to a
// private directory of the user's. An import that walks by path follows
// the symlink and copies the user's private file into the image, where
// the image's workload reads it. The import must store no byte of it.
// (The owner here is the test user itself: the walk is the same for a
// tree of another user's, which is where the attack comes from.)
func TestImportTreeSwap(t *testing.T) {
	work := t.TempDir()
	tree := filepath.Join(work, "tree")
	private := filepath.Join(work, "private")
	// tree/private gives the swapped-in symlink, relative, a directory to
	// lead to inside the image too, so that the unpacker stores what the
	// walk read through it.
	for _, d := range []string{filepath.Join(tree, "z"), filepath.Join(tree, "private"), private} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := fmt.Sprintf("SECRET-%d-of-the-user", os.Getpid())
	if err := os.WriteFile(filepath.Join(private, "key"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	// Same size as the secret: the copy reads as many bytes as the walk's
	// stat of the decoy said.
	if err := os.WriteFile(filepath.Join(tree, "z", "key"), bytes.Repeat([]byte("d"), len(secret)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Copying "a" gives the owner time: the walk listed the tree's top
	// directory before it opened "a", and enters "z" after it.
	if err := os.WriteFile(filepath.Join(tree, "a"), make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	swapped := make(chan error, 1)
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, tree, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	go func() { swapped <- swapOnOpen(in, tree, "a", "../private") }()

	data := filepath.Join(work, "data")
	cmd := exec.Command(rboxBin, "image", "import", tree, "swap:1")
	cmd.Env = append(baseEnv(), "XDG_DATA_HOME="+data)
	r := run(t, cmd)
	select {
	case err := <-swapped:
		if err != nil {
			t.Fatalf("the owner's swap: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the import never opened the large file, so the swap was not tried:\n%s", r)
	}
	t.Logf("import: %s", r)
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), secret) {
				t.Errorf("THE USER'S PRIVATE FILE WAS IMPORTED: %s holds %s/key", p, private)
			}
		}
		return nil
	})
}

// swapOnOpen waits for the open of name in dir, then replaces dir/z with
// a symlink to target.
func swapOnOpen(in int, dir, name, target string) error {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(in, buf)
		if err != nil {
			return err
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nb := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if string(bytes.TrimRight(nb, "\x00")) != name {
				continue
			}
			if err := os.Rename(filepath.Join(dir, "z"), filepath.Join(dir, "z.old")); err != nil {
				return err
			}
			return os.Symlink(target, filepath.Join(dir, "z"))
		}
	}
}
