package userns

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/probe"
)

// rootState is what the build of the root filesystem hands to the workload
// start.
type rootState struct {
	user execUser
}

// buildRoot assembles the sandbox's filesystem and pivots into it. Every
// target inside the image is resolved with the image's directory as the
// root (pathrs: openat2 RESOLVE_IN_ROOT where the kernel has it), and every
// mount is attached by descriptor, so a symlink in a hostile image can never
// make us mount or write on the host.
func buildRoot(cfg *Config) (*rootState, error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, failure(125, "make / private: %w%s", probe.Wrap(err, outerProbes(err)...), OuterSeccomp(err, "mount"))
	}
	driver, err := overlay.Mount(cfg.Rootfs, cfg.Merged)
	if err != nil {
		return nil, failure(125, "mount rootfs %q: %w", cfg.Rootfs.Lower, err)
	}
	debugf(cfg, "rootfs: %s overlay, lower %q, upper %q", driver, cfg.Rootfs.Lower, cfg.Rootfs.Upper)

	root, err := os.OpenFile(cfg.Merged, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, failure(125, "open merged root %q: %w", cfg.Merged, err)
	}
	defer root.Close()

	for _, f := range cfg.Files {
		if err := writeFileIn(root, f); err != nil {
			return nil, failure(125, "write %s in the sandbox: %w%s", f.Path, unwrapPathErr(err), layerFull(cfg, err))
		}
	}
	user, err := lookupUser(root, cfg.User)
	if err != nil {
		return nil, failure(125, "%w", err)
	}
	if err := checkMapped(cfg, &user); err != nil {
		return nil, err
	}
	if err := mountSystem(cfg, root); err != nil {
		return nil, failure(125, "%w", err)
	}
	debugf(cfg, "init: /proc, /dev, /sys mounted")
	if err := mountUser(root, cfg.Mounts); err != nil {
		return nil, failure(125, "%w", err)
	}
	if cfg.Cwd != "" && cfg.Cwd != "/" {
		d, err := pathrs.MkdirAllHandle(root, cfg.Cwd, 0o755)
		if err != nil {
			return nil, failure(125, "working directory %q: %w", cfg.Cwd, err)
		}
		d.Close()
	}
	if err := setHostname(cfg.Hostname); err != nil {
		return nil, failure(125, "%w", err)
	}
	if cfg.OwnNetwork {
		if err := loopbackUp(); err != nil {
			return nil, failure(125, "bring up lo: %w", err)
		}
	}
	if err := pivot(root); err != nil {
		return nil, failure(125, "%w", err)
	}
	if cfg.ReadOnly {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(unix.AT_FDCWD, "/", 0, attr); err != nil {
			return nil, failure(125, "make the root read-only: %w", err)
		}
	}
	return &rootState{user: user}, nil
}

// layerFull explains the errors of a writable layer whose filesystem ran
// out of space or inodes: overlayfs mounts read-only when it cannot make
// its work directory, so EROFS says the same there.
func layerFull(cfg *Config, err error) string {
	dir := path.Dir(cfg.Rootfs.Upper)
	switch {
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return fmt.Sprintf(": the writable layer's filesystem is full (df %q; df -i %q): free space there, or use --persist DIR on another filesystem", dir, dir)
	case errors.Is(err, unix.EROFS) && !cfg.ReadOnly:
		return fmt.Sprintf(": the overlay came up read-only, as it does when it cannot create its work directory: the writable layer's filesystem is likely out of inodes or space (df -i %q): free some, or use --persist DIR on another filesystem", dir)
	}
	return ""
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

// mountUser attaches volumes and tmpfs mounts, parents before children.
func mountUser(root *os.File, mounts []Mount) error {
	ms := append([]Mount(nil), mounts...)
	sort.SliceStable(ms, func(i, j int) bool {
		return strings.Count(path.Clean(ms[i].Target), "/") < strings.Count(path.Clean(ms[j].Target), "/")
	})
	vols := map[uint64]Mount{}
	for _, m := range ms {
		if err := checkMountPoint(root, m, vols); err != nil {
			return err
		}
		var err error
		switch m.Kind {
		case Bind:
			var id uint64
			id, err = bindIn(root, m)
			vols[id] = m
		case Tmpfs:
			err = tmpfsIn(root, m)
		default:
			err = fmt.Errorf("unknown mount kind %q", m.Kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkMountPoint refuses a mount whose missing mount point would be
// created inside a volume attached before it (-v A:/mnt/a -v B:/mnt/a/b):
// mkdir there would leave an empty b/ in the host directory A. A mount
// point that exists already in A is used as it is.
func checkMountPoint(root *os.File, m Mount, vols map[uint64]Mount) error {
	if len(vols) == 0 {
		return nil
	}
	for p := m.Target; ; p = path.Dir(p) {
		f, err := pathrs.OpenatInRoot(root, p)
		if err != nil {
			if p == "/" {
				return nil
			}
			continue
		}
		defer f.Close()
		if p == m.Target {
			return nil
		}
		var stx unix.Statx_t
		if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
			return nil
		}
		v, ok := vols[stx.Mnt_id]
		if !ok {
			return nil
		}
		what := "-v " + m.Source + ":" + m.Target
		if m.Kind == Tmpfs {
			what = "--tmpfs " + m.Target
		}
		return fmt.Errorf("%s: its mount point would be created in the host directory %q of -v %s:%s; create %q there first, or mount it elsewhere", what, v.Source, v.Source, v.Target, strings.TrimPrefix(m.Target, v.Target+"/"))
	}
}

// bindIn attaches a bind mount of m.Source and returns the new mount's ID.
func bindIn(root *os.File, m Mount) (uint64, error) {
	st, err := os.Stat(m.Source)
	if err != nil {
		return 0, fmt.Errorf("volume %s: %w", m.Source, err)
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, m.Source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return 0, fmt.Errorf("volume %s: open_tree: %w", m.Source, err)
	}
	defer unix.Close(tree)
	if m.ReadOnly {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return 0, fmt.Errorf("volume %s: make read-only: %w", m.Source, err)
		}
	}
	var stx unix.Statx_t
	if err := unix.Statx(tree, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, fmt.Errorf("volume %s: statx: %w", m.Source, err)
	}
	target, err := targetIn(root, m.Target, st.IsDir())
	if err != nil {
		return 0, fmt.Errorf("volume target %s: %w", m.Target, err)
	}
	defer target.Close()
	return stx.Mnt_id, attach(tree, target, "volume "+m.Target)
}

func tmpfsIn(root *os.File, m Mount) error {
	opts := [][2]string{{"mode", "1777"}}
	if m.Mode != "" {
		opts[0][1] = m.Mode
	}
	if m.Size != "" {
		opts = append(opts, [2]string{"size", m.Size})
	}
	mfd, err := newMount("tmpfs", opts, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return fmt.Errorf("tmpfs %s: %w", m.Target, err)
	}
	defer unix.Close(mfd)
	target, err := targetIn(root, m.Target, true)
	if err != nil {
		return fmt.Errorf("tmpfs target %s: %w", m.Target, err)
	}
	defer target.Close()
	return attach(mfd, target, "tmpfs "+m.Target)
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

// writeFileIn replaces a file in the writable layer. Whatever the image has
// at that path (a symlink to the host's /etc, say) is unlinked first, and
// the new file is created with O_EXCL|O_NOFOLLOW in a parent resolved
// inside root.
func writeFileIn(root *os.File, f File) error {
	parent, err := pathrs.MkdirAllHandle(root, path.Dir(f.Path), 0o755)
	if err != nil {
		return err
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	name := path.Base(f.Path)
	if err := unix.Unlinkat(pfd, name, 0); err != nil && err != unix.ENOENT {
		return err
	}
	fd, err := unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, f.Mode)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(fd), f.Path)
	defer out.Close()
	_, err = out.WriteString(f.Content)
	return err
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
