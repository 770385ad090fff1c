package hostcheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/overlay"
)

// fsName names the file systems people keep homes on, by statfs magic
// (a switch, not a map: no package init in every rbox exec).
func fsName(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return "unknown"
	}
	switch int64(st.Type) {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	case unix.NFS_SUPER_MAGIC:
		return "nfs"
	case unix.FUSE_SUPER_MAGIC:
		return "fuse"
	case unix.ECRYPTFS_SUPER_MAGIC:
		return "ecryptfs"
	case 0x2fc12fc1:
		return "zfs"
	}
	return fmt.Sprintf("type 0x%x", st.Type)
}

// probeStore tries, for real, what the image store and the sandboxes'
// writable layers need of the file system under h.DataDir: user.*
// extended attributes (opaque directories are user.overlay.opaque) and
// kernel overlayfs in a user namespace with its lower, upper and work
// directories there.
func probeStore(ctx context.Context, h *Host, r *Report) Result {
	const name = "store"
	if h.DataDir == "" {
		return skip(name, "no home: the image store has no place (set XDG_DATA_HOME)")
	}
	fix := fmt.Sprintf("keep it on ext4, xfs, btrfs or tmpfs (not NFS, FUSE or ecryptfs) by pointing XDG_DATA_HOME there (the store is %s/images)", h.DataDir)
	if err := os.MkdirAll(filepath.Dir(h.DataDir), 0o755); err != nil {
		return fail(name, fix, "cannot make %s: %v", h.DataDir, err)
	}
	if err := os.Mkdir(h.DataDir, 0o700); err != nil && !os.IsExist(err) {
		return fail(name, fix, "cannot make %s: %v", h.DataDir, err)
	}
	fs := fsName(h.DataDir)
	f, err := os.CreateTemp(h.DataDir, "check-xattr-")
	if err != nil {
		return fail(name, fix, "cannot write in %s: %v", h.DataDir, err)
	}
	xerr := unix.Fsetxattr(int(f.Fd()), "user.rbox.check", []byte("y"), 0)
	f.Close()
	os.Remove(f.Name())
	if xerr != nil {
		return fail(name, fix, "%s (%s) refuses user extended attributes, which opaque directories of layers need: %v", h.DataDir, fs, xerr)
	}
	if !r.ok("userns") || h.Exe == "" {
		return ok(name, "image store and writable layers in %s (%s): user xattrs kept; overlay not tried", h.DataDir, fs)
	}
	if err := tryOverlay(ctx, h, overlay.Kernel, "", h.DataDir); err != nil {
		return fail(name, fix, "kernel overlayfs refused layers in %s (%s): %v (rbox exec falls back to fuse-overlayfs)", h.DataDir, fs, err)
	}
	return ok(name, "image store and writable layers in %s (%s): user xattrs kept, kernel overlay layers mounted and written in a user namespace", h.DataDir, fs)
}
