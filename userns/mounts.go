package userns

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// The mounts of the ops (op.go). Every target is resolved inside the root
// (pathrs: openat2 RESOLVE_IN_ROOT where the kernel has it), and every
// mount is attached by descriptor, so a symlink in a hostile image can
// never make us mount or write on the host.

// layerFull explains the errors of a writable layer whose filesystem ran
// out of space or inodes: overlayfs mounts read-only when it cannot make
// its work directory, so EROFS says the same there.
func layerFull(cfg *Config, err error) string {
	dir := cfg.Layer
	if dir == "" {
		return ""
	}
	switch {
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return fmt.Sprintf(": the writable layer's filesystem is full (df %q; df -i %q): free space there, or use --persist DIR on another filesystem", dir, dir)
	case errors.Is(err, unix.EROFS) && !readOnlyRoot(cfg.Ops):
		return fmt.Sprintf(": the overlay came up read-only, as it does when it cannot create its work directory: the writable layer's filesystem is likely out of inodes or space (df -i %q): free some, or use --persist DIR on another filesystem", dir)
	}
	return ""
}

// readOnlyRoot says whether the ops make the root read-only.
func readOnlyRoot(ops []Op) bool {
	for _, op := range ops {
		if op.Kind == OpRemount && path.Clean(op.Target) == "/" && op.Attrs&unix.MOUNT_ATTR_RDONLY != 0 {
			return true
		}
	}
	return false
}

// pivot makes root the process's root and detaches the old one, so that no
// path leads back to the host's tree.
func pivot(root *os.File) error {
	if err := unix.Fchdir(int(root.Fd())); err != nil {
		return fmt.Errorf("enter new root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	// The old root is now stacked on ".": detach it.
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// checkMountPoint refuses an op whose missing target would be created
// inside a host directory bound before it (-v A:/mnt/a -v B:/mnt/a/b):
// mkdir there would leave an empty b/ in the host directory A. A mount
// point that exists already in A is used as it is.
func (b *builder) checkMountPoint(op Op) error {
	if len(b.binds) == 0 {
		return nil
	}
	for p := op.Target; ; p = path.Dir(p) {
		f, err := pathrs.OpenatInRoot(b.root, p)
		if err != nil {
			if p == "/" {
				return nil
			}
			continue
		}
		defer f.Close()
		if p == op.Target {
			return nil
		}
		var stx unix.Statx_t
		if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
			return nil
		}
		src, ok := b.binds[stx.Mnt_id]
		if !ok {
			return nil
		}
		return fmt.Errorf("%s %s: its mount point would be created in the host directory %q bound at %s; create %q there first, or mount it elsewhere", op.Kind, op.Target, src, p, strings.TrimPrefix(op.Target, p+"/"))
	}
}

// bindIn attaches a bind of the host path op.Source (with its submounts
// for OpRBind) and returns the new mount's ID and whether it is a
// directory.
func bindIn(root *os.File, op Op) (uint64, bool, error) {
	st, err := os.Stat(op.Source)
	if err != nil {
		return 0, false, fmt.Errorf("bind %s: %w", op.Source, err)
	}
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	setFlags := unix.AT_EMPTY_PATH
	if op.Kind == OpRBind {
		flags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, op.Source, uint(flags))
	if err != nil {
		return 0, false, fmt.Errorf("bind %s: open_tree: %w", op.Source, err)
	}
	defer unix.Close(tree)
	if op.Attrs != 0 || op.Clear != 0 {
		attr := &unix.MountAttr{Attr_set: op.Attrs, Attr_clr: op.Clear}
		if err := unix.MountSetattr(tree, "", uint(setFlags), attr); err != nil {
			return 0, false, fmt.Errorf("bind %s: set its attributes: %w", op.Source, err)
		}
	}
	var stx unix.Statx_t
	if err := unix.Statx(tree, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, false, fmt.Errorf("bind %s: statx: %w", op.Source, err)
	}
	target, err := targetIn(root, op.Target, st.IsDir())
	if err != nil {
		return 0, false, fmt.Errorf("bind target %s: %w", op.Target, err)
	}
	defer target.Close()
	if err := attach(tree, target, op.Target); err != nil {
		return 0, false, err
	}
	return stx.Mnt_id, st.IsDir(), propagate(root, op)
}

// freshIn attaches a new file system of the op's kind at its target.
func freshIn(root *os.File, op Op) error {
	mfd, err := newMount(string(op.Kind), op.Options, int(op.Attrs))
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", op.Kind, op.Target, err)
	}
	defer unix.Close(mfd)
	t, err := pathrs.MkdirAllHandle(root, op.Target, 0o755)
	if err != nil {
		return fmt.Errorf("%w %s: %w", errMountPoint, op.Target, unwrapPathErr(err))
	}
	defer t.Close()
	if op.CopyUp {
		if err := copyTree(int(t.Fd()), mfd); err != nil {
			return fmt.Errorf("tmpfs %s: copy what was there: %w", op.Target, err)
		}
	}
	if err := attach(mfd, t, op.Target); err != nil {
		return err
	}
	return propagate(root, op)
}

// propagate sets the op's propagation on the mount now at its target.
func propagate(root *os.File, op Op) error {
	if op.Propagation == 0 {
		return nil
	}
	h, err := pathrs.OpenatInRoot(root, op.Target)
	if err != nil {
		return fmt.Errorf("propagation of %s: %w", op.Target, err)
	}
	defer h.Close()
	flags := uint(unix.AT_EMPTY_PATH)
	if op.Kind == OpRBind {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(int(h.Fd()), "", flags, &unix.MountAttr{Propagation: op.Propagation}); err != nil {
		return fmt.Errorf("propagation of %s: %w", op.Target, err)
	}
	return nil
}

// remount sets the op's attributes and propagation on the mount at its
// target (an OCI bundle's rootfsPropagation is one on "/").
func remount(root *os.File, op Op) error {
	h, err := pathrs.OpenatInRoot(root, op.Target)
	if err != nil {
		return fmt.Errorf("remount %s: %w", op.Target, err)
	}
	defer h.Close()
	attr := &unix.MountAttr{Attr_set: op.Attrs, Attr_clr: op.Clear, Propagation: op.Propagation}
	if err := unix.MountSetattr(int(h.Fd()), "", unix.AT_EMPTY_PATH, attr); err != nil {
		if path.Clean(op.Target) == "/" && op.Attrs&unix.MOUNT_ATTR_RDONLY != 0 {
			return fmt.Errorf("make the root read-only: %w", err)
		}
		return fmt.Errorf("remount %s: %w", op.Target, err)
	}
	return nil
}

// targetIn finds or creates a mount point inside root. An existing path is
// resolved inside root, symlinks included; a missing one is created.
func targetIn(root *os.File, p string, dir bool) (*os.File, error) {
	if dir {
		return pathrs.MkdirAllHandle(root, p, 0o755)
	}
	if f, err := pathrs.OpenatInRoot(root, p); err == nil {
		return f, nil
	}
	parent, err := pathrs.MkdirAllHandle(root, path.Dir(p), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), path.Base(p), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

// attach moves the detached mount mfd onto the target descriptor.
func attach(mfd int, target *os.File, what string) error {
	err := unix.MoveMount(mfd, "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("attach %s: %w", what, err)
	}
	return nil
}

// newMount creates a detached mount of a fresh filesystem.
func newMount(fstype string, opts [][2]string, attrs int) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	for _, o := range opts {
		if o[1] == "" {
			err = unix.FsconfigSetFlag(fsfd, o[0])
		} else {
			err = unix.FsconfigSetString(fsfd, o[0], o[1])
		}
		if err != nil {
			return -1, fmt.Errorf("%s option %s=%s: %w", fstype, o[0], o[1], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("create %s: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return mfd, nil
}

// writeFileIn replaces a file in the root. Whatever the image has at that
// path (a symlink to the host's /etc, say) is unlinked first, and the new
// file is created with O_EXCL|O_NOFOLLOW in a parent resolved inside root.
func writeFileIn(root *os.File, op Op) error {
	parent, err := pathrs.MkdirAllHandle(root, path.Dir(op.Target), 0o755)
	if err != nil {
		return err
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	name := path.Base(op.Target)
	if err := unix.Unlinkat(pfd, name, 0); err != nil && err != unix.ENOENT {
		return err
	}
	fd, err := unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, op.Mode)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(fd), op.Target)
	defer out.Close()
	_, err = out.WriteString(op.Content)
	return err
}

// symlinkIn makes op.Target a link to op.Source, in a parent resolved
// inside root.
func symlinkIn(root *os.File, op Op) error {
	parent, err := pathrs.MkdirAllHandle(root, path.Dir(op.Target), 0o755)
	if err != nil {
		return fmt.Errorf("create %s: %w", op.Target, unwrapPathErr(err))
	}
	defer parent.Close()
	if err := unix.Symlinkat(op.Source, int(parent.Fd()), path.Base(op.Target)); err != nil {
		return fmt.Errorf("create %s: %w", op.Target, err)
	}
	return nil
}

func loopbackUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)
}
