package userns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// An op that needs the root before OpRoot is refused, and so are kinds
// the init does not know and external ops it was not given: nothing is
// mounted for them.
func TestApplyRefuses(t *testing.T) {
	for _, c := range []struct {
		op   Op
		want string
	}{
		{Op{Kind: OpProc, Target: "/proc"}, "comes before the root"},
		{Op{Kind: OpPivot}, "comes before the root"},
		{Op{Kind: OpOverlay, Target: "/m"}, "not available"},
		{Op{Kind: OpNetwork}, "not available"},
	} {
		b := &builder{cfg: &Config{}}
		if err := b.apply(c.op); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("apply(%+v) = %v, want %q", c.op, err, c.want)
		}
	}
}

func TestReadOnlyRoot(t *testing.T) {
	for _, c := range []struct {
		ops  []Op
		want bool
	}{
		{nil, false},
		{[]Op{{Kind: OpRemount, Target: "/", Attrs: unix.MOUNT_ATTR_RDONLY}}, true},
		{[]Op{{Kind: OpRemount, Target: "/x", Attrs: unix.MOUNT_ATTR_RDONLY}}, false},
		{[]Op{{Kind: OpReadOnly, Target: "/", Attrs: unix.MOUNT_ATTR_RDONLY}}, false},
	} {
		if got := readOnlyRoot(c.ops); got != c.want {
			t.Errorf("readOnlyRoot(%+v) = %v", c.ops, got)
		}
	}
}

// TestCopyTree copies what a tmpfs with copy-up is given: directories,
// files and symlinks with their modes; a symlink is copied, not followed.
func TestCopyTree(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	os.Chmod(src, 0o751)
	os.MkdirAll(filepath.Join(src, "d", "e"), 0o700)
	os.WriteFile(filepath.Join(src, "d", "f"), []byte("data"), 0o640)
	os.Symlink("/etc/passwd", filepath.Join(src, "l"))
	open := func(p string) int {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	if err := copyTree(open(src), open(dst)); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{"": 0o751 | os.ModeDir, "d": 0o700 | os.ModeDir, "d/e": 0o700 | os.ModeDir, "d/f": 0o640} {
		fi, err := os.Lstat(filepath.Join(dst, p))
		if err != nil || fi.Mode() != want {
			t.Errorf("%q: %v, %v; want %v", p, fi.Mode(), err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "d", "f")); string(b) != "data" {
		t.Errorf("d/f holds %q", b)
	}
	if l, err := os.Readlink(filepath.Join(dst, "l")); err != nil || l != "/etc/passwd" {
		t.Errorf("l: %q, %v", l, err)
	}
}
