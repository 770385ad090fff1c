package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// privateNS puts the test's thread, locked, into a mount namespace of its
// own (the thread dies with it), or skips where that takes root.
func privateNS(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("mounts overlayfs: run as root (make unit)")
	}
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatal(err)
	}
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMountRetryOnTmpfs: an upper directory that the kernel refuses
// (EINVAL: here one on overlayfs, which Mount does not statfs itself)
// moves to a tmpfs mounted over it with Retry, and fails without.
func TestMountRetryOnTmpfs(t *testing.T) {
	privateNS(t)
	dir := t.TempDir()
	outer := filepath.Join(dir, "outer")
	mkdirs(t, filepath.Join(dir, "ol"), filepath.Join(dir, "ou"), filepath.Join(dir, "ow"), outer, filepath.Join(dir, "lower"), filepath.Join(dir, "merged"))
	if err := os.WriteFile(filepath.Join(dir, "lower", "f"), []byte("lower"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", outer, "overlay", 0, "lowerdir="+dir+"/ol,upperdir="+dir+"/ou,workdir="+dir+"/ow"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(outer, unix.MNT_DETACH)
	upper, work := filepath.Join(outer, "upper"), filepath.Join(outer, "work")
	mkdirs(t, upper, work)
	c := Config{Lower: filepath.Join(dir, "lower"), Upper: upper, Work: work, Driver: Auto}
	merged := filepath.Join(dir, "merged")

	_, err := Mount(c, merged)
	if !errors.As(err, new(*upperRefused)) || !strings.Contains(err.Error(), "upperdir") {
		t.Fatalf("an upper on overlayfs without Retry: %v, want the kernel's refusal of the upper", err)
	}
	c.Retry = &RetryLayer{Size: "16m", Notice: "the layer moved"}
	driver, err := Mount(c, merged)
	if err != nil || driver != Kernel {
		t.Fatalf("with Retry: %q, %v", driver, err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	defer unix.Unmount(upper, unix.MNT_DETACH)
	if b, err := os.ReadFile(filepath.Join(merged, "f")); err != nil || string(b) != "lower" {
		t.Errorf("the lower through the overlay: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(merged, "new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(upper, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC {
		t.Errorf("the upper directory is not covered by a tmpfs: %x, %v", fs.Type, err)
	}
	if _, err := os.Stat(filepath.Join(upper, "upper", "new")); err != nil {
		t.Errorf("the write is not in the tmpfs layer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ou", "upper", "new")); err == nil {
		t.Errorf("the write reached the refused directory")
	}
}

// TestMountBind: with neither driver (fuse-overlayfs missing, the lower
// refused), Bind binds the image read-only, the generated files over its
// own, and names the file it lacks; a missing mount point fails before
// anything is mounted, and so do several layers.
func TestMountBind(t *testing.T) {
	privateNS(t)
	dir := t.TempDir()
	// The image is on an overlay of an overlay: a third one is past the
	// kernel's stacking depth (EINVAL at its creation).
	base, img, merged := filepath.Join(dir, "base"), filepath.Join(dir, "ov2"), filepath.Join(dir, "merged")
	mkdirs(t, filepath.Join(base, "etc"), filepath.Join(base, "proc"), merged, filepath.Join(dir, "ov1"), img)
	if err := os.WriteFile(filepath.Join(base, "etc", "hostname"), []byte("image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, lower := range []string{base, filepath.Join(dir, "ov1")} {
		u, w := filepath.Join(dir, fmt.Sprint("u", i)), filepath.Join(dir, fmt.Sprint("w", i))
		mkdirs(t, u, w)
		if err := unix.Mount("overlay", filepath.Join(dir, fmt.Sprint("ov", i+1)), "overlay", 0, "lowerdir="+lower+",upperdir="+u+",workdir="+w); err != nil {
			t.Fatal(err)
		}
		defer unix.Unmount(filepath.Join(dir, fmt.Sprint("ov", i+1)), unix.MNT_DETACH)
	}
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	mkdirs(t, upper, work)
	files := []File{{Path: "/etc/hostname", Content: "sandbox\n"}, {Path: "/etc/hosts", Content: "127.0.0.1 localhost\n"}}
	c := Config{Lower: img, Upper: upper, Work: work, Driver: Auto,
		Bind: &BindRoot{Files: files, MountPoints: []string{"/proc"}}}

	none := c
	none.Bind = nil
	if _, err := Mount(none, merged); err == nil || !strings.Contains(err.Error(), `is on overlayfs, which stacks at most two deep); fuse-overlayfs: not installed`) {
		t.Errorf("no way out: %v", err)
	}
	bad := c
	bad.Bind = &BindRoot{MountPoints: []string{"/proc", "/sys", "/data"}}
	if _, err := Mount(bad, merged); err == nil || !strings.Contains(err.Error(), "has no /sys, /data, where the sandbox mounts") {
		t.Errorf("missing mount points: %v", err)
	}
	layers := c
	layers.Lowers = []string{img, img}
	if _, err := Mount(layers, merged); err == nil || !strings.Contains(err.Error(), "an image of 2 layers cannot be one read-only bind") {
		t.Errorf("two layers: %v", err)
	}
	if st := mountID(t, merged); st != mountID(t, dir) {
		t.Fatalf("a refusal left a mount on %s", merged)
	}

	driver, err := Mount(c, merged)
	if err != nil {
		t.Fatal(err)
	}
	if driver != Bind {
		t.Fatalf("driver %q, want the bind", driver)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	if b, err := os.ReadFile(filepath.Join(merged, "etc", "hostname")); err != nil || string(b) != "sandbox\n" {
		t.Errorf("/etc/hostname: %q, %v; want the generated one over the image's", b, err)
	}
	if _, err := os.Stat(filepath.Join(merged, "etc", "hosts")); err == nil {
		t.Errorf("/etc/hosts appeared in a read-only image that has none")
	}
	if err := os.WriteFile(filepath.Join(merged, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("a write to the bound image: %v, want EROFS", err)
	}
	if err := os.WriteFile(filepath.Join(merged, "etc", "hostname"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("a write to a generated file: %v, want EROFS", err)
	}
	if b, _ := os.ReadFile(filepath.Join(img, "etc", "hostname")); string(b) != "image\n" {
		t.Errorf("the image's /etc/hostname is now %q", b)
	}
}

func mountID(t *testing.T, p string) uint64 {
	t.Helper()
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, 0, unix.STATX_MNT_ID, &stx); err != nil {
		t.Fatal(err)
	}
	return stx.Mnt_id
}
