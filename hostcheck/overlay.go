package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/overlay"
)

// The namespaces of an overlay try: a new pid namespace makes the helper
// PID 1, so a fuse-overlayfs daemon dies with it.
const mountCloneFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID

// tryOverlay mounts an overlay with driver over a throwaway image in
// base (the state root, or the data directory of the store and the
// writable layers), writes through it, and removes everything.
func tryOverlay(ctx context.Context, h *Host, driver, fuseBin, base string) error {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(base, "check-")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	d := func(n string) string { return filepath.Join(dir, n) }
	for _, n := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(d(n), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(d("lower"), "lower"), []byte("lower\n"), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	args := []string{"mount", driver, fuseBin, d("lower"), d("upper"), d("work"), d("merged")}
	// Where rbox exec puts the layer on a tmpfs, so does the try; that
	// tmpfs ends with the helper, so only the helper sees the upper.
	onTmpfs := overlay.UnfitForUpper(base) != ""
	if onTmpfs {
		t, upper, work, err := overlay.PrepareTmpfs(dir, "16m")
		if err != nil {
			return err
		}
		args[4], args[5] = upper, work
		args = append(args, t.Dir)
	}
	if err := runHelper(h.helper(ctx, mountCloneFlags, true, args...)); err != nil {
		return err
	}
	if onTmpfs {
		return nil
	}
	if _, err := os.Stat(filepath.Join(d("upper"), "upper")); err != nil {
		return fmt.Errorf("a file written through the overlay is not in the upper layer: %w", err)
	}
	return nil
}

// probeOverlay tries kernel overlayfs in a user namespace for real.
func probeOverlay(ctx context.Context, h *Host, r *Report) Result {
	const name = "overlay"
	if !r.ok("userns") {
		return skip(name, "not tried: needs probe userns")
	}
	if h.Exe == "" {
		return skip(name, "not tried")
	}
	if err := tryOverlay(ctx, h, overlay.Kernel, "", h.TempDir); err != nil {
		var uname unix.Utsname
		unix.Uname(&uname)
		return fail(name, overlayFix(unix.ByteSliceToString(uname.Release[:]), h.TempDir),
			"kernel overlayfs refused in a user namespace: %v", err)
	}
	if fs := overlay.UnfitForUpper(h.TempDir); fs != "" {
		return ok(name, "kernel overlayfs mounted and written in a user namespace, its upper layer on a tmpfs in the sandbox (%s is on %s, which cannot hold one; --layer-size bounds it)", h.TempDir, fs)
	}
	return ok(name, "kernel overlayfs mounted and written in a user namespace (layers in %s)", h.TempDir)
}

// overlayFix explains a refusal of kernel overlayfs: an old kernel, or
// the filesystem that holds the writable layers.
func overlayFix(release, layers string) string {
	var major, minor int
	fmt.Sscanf(release, "%d.%d", &major, &minor)
	fallback := "; meanwhile rbox exec falls back to fuse-overlayfs (probe fuse), and rbox exec --read-only needs neither (the image bound read-only as it is)"
	if major < 5 || major == 5 && minor < 11 {
		return "kernel overlayfs in a user namespace needs Linux 5.11 or later (this is " + release + ")" + fallback
	}
	return fmt.Sprintf("the writable layers live in %s: put them on a filesystem overlayfs takes as an upper layer "+
		"(ext4, xfs, btrfs, tmpfs since Linux 6.6; not overlayfs, NFS or FUSE) by pointing XDG_RUNTIME_DIR or TMPDIR there (and XDG_DATA_HOME: probe store)", layers) + fallback
}

// devProblem opens a device for reading and writing as rbox will, and
// says what stops it, with the fix.
func devProblem(path, module string) (problem, fix string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return "", ""
	}
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return fmt.Sprintf("%s is missing: %v", path, err), "as root: modprobe " + module
	case errors.Is(err, os.ErrPermission):
		return fmt.Sprintf("%s is not readable and writable by you: %v", path, err),
			fmt.Sprintf("as root: chmod 0666 %s (and, to keep it across reboots, a udev rule: KERNEL==\"%s\", MODE=\"0666\" in /etc/udev/rules.d/60-rbox.rules)", path, filepath.Base(path))
	}
	return fmt.Sprintf("open %s: %v", path, err), ""
}

// probeFuse checks the fallback driver: fuse-overlayfs, /dev/fuse, and a
// real mount in a user namespace.
func probeFuse(ctx context.Context, h *Host, r *Report) Result {
	const name = "fuse"
	bin, found := lookPath("fuse-overlayfs", h.Path)
	if !found {
		return fail(name, "as root: apt-get install fuse-overlayfs (Debian, Ubuntu), dnf install fuse-overlayfs (Fedora); without it or kernel overlayfs, rbox exec --read-only still works (the image bound read-only as it is)",
			"fuse-overlayfs, the fallback overlay driver, not found in PATH")
	}
	if problem, fix := devProblem(h.DevFuse, "fuse"); problem != "" {
		return fail(name, deviceFix(h, h.DevFuse, fix)+"; without it or kernel overlayfs, rbox exec --read-only still works (the image bound read-only as it is)", "%s", problem)
	}
	if !r.ok("userns") {
		return skip(name, "%s and %s usable; mount not tried: needs probe userns", bin, h.DevFuse)
	}
	if h.Exe == "" {
		return ok(name, "%s and %s usable; mount not tried", bin, h.DevFuse)
	}
	if err := tryOverlay(ctx, h, overlay.Fuse, bin, h.TempDir); err != nil {
		return fail(name, "fuse-overlayfs 1.0 or later is needed, and the kernel must allow FUSE mounts in user namespaces (Linux 4.18 or later)",
			"fuse-overlayfs refused in a user namespace: %v", err)
	}
	return ok(name, "fuse-overlayfs (%s) mounted and written in a user namespace", bin)
}
