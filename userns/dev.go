package userns

import (
	"errors"
	"fmt"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
)

// mountSystem gives the sandbox its own /proc, a minimal /dev, a read-only
// /sys (with the sandbox's own cgroup, read-only, at /sys/fs/cgroup when it
// has one) and, for a read-only root, a writable /tmp.
func mountSystem(cfg *Config, root *os.File) error {
	const hardened = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	if err := mountProc(root, hardened); err != nil {
		if errors.Is(err, errMountPoint) {
			return fmt.Errorf("%w: the image's /proc must be a directory (or missing), not a symlink or a file; fix the image (rm /proc; mkdir /proc)", err)
		}
		return fmt.Errorf("%w (a host /proc with parts covered, as in some containers, forbids a new procfs)", err)
	}
	if err := mountDev(cfg, root); err != nil {
		return err
	}
	if cfg.OwnNetwork {
		// sysfs shows the network namespace it was mounted in; the kernel
		// only lets us mount one for a namespace we own.
		if err := mountSys(root, hardened); err != nil {
			return err
		}
	} else if err := bindAt(root, "/sys", "/sys", true); err != nil {
		return err
	}
	if cfg.CgroupLeaf != "" {
		if err := mountCgroupLeaf(root); err != nil {
			return err
		}
	}
	if err := maskProcAndSys(root); err != nil {
		return err
	}
	if cfg.ReadOnly {
		if err := freshAt(root, "/tmp", "tmpfs", [][2]string{{"mode", "1777"}}, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV); err != nil {
			return err
		}
	}
	return nil
}

// errMountPoint marks a mount point that could not be found or made in
// the image, as opposed to a mount the kernel refused.
var errMountPoint = errors.New("mount point")

// unwrapPathErr keeps only the errno of an error about a host path of the
// merged root: the message names the sandbox path already.
func unwrapPathErr(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

func freshAt(root *os.File, target, fstype string, opts [][2]string, attrs int) error {
	mfd, err := newMount(fstype, opts, attrs)
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	defer unix.Close(mfd)
	t, err := pathrs.MkdirAllHandle(root, target, 0o755)
	if err != nil {
		return fmt.Errorf("%w %s: %w", errMountPoint, target, unwrapPathErr(err))
	}
	defer t.Close()
	return attach(mfd, t, target)
}

func bindAt(root *os.File, source, target string, readOnly bool) error {
	_, err := bindIn(root, Mount{Kind: Bind, Source: source, Target: target, ReadOnly: readOnly})
	return err
}

// hostDevices are bound from the host: character devices cannot be created
// in a user namespace, and these are safe to share.
var hostDevices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// mountDev builds /dev on a fresh tmpfs. All work below happens relative to
// the tmpfs's own root descriptor, which the image cannot influence.
func mountDev(cfg *Config, root *os.File) error {
	mfd, err := newMount("tmpfs", [][2]string{{"mode", "755"}, {"size", "65536k"}}, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	defer unix.Close(mfd)
	t, err := pathrs.MkdirAllHandle(root, "/dev", 0o755)
	if err != nil {
		return fmt.Errorf("mount point /dev: %w", err)
	}
	defer t.Close()
	if err := attach(mfd, t, "/dev"); err != nil {
		return err
	}
	dev := mfd // the mount's root, now attached at /dev

	for _, name := range hostDevices {
		fd, err := unix.Openat(dev, name, unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return fmt.Errorf("create /dev/%s: %w", name, err)
		}
		unix.Close(fd)
		tree, err := unix.OpenTree(unix.AT_FDCWD, "/dev/"+name, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("bind /dev/%s: %w", name, err)
		}
		err = unix.MoveMount(tree, "", dev, name, unix.MOVE_MOUNT_F_EMPTY_PATH)
		unix.Close(tree)
		if err != nil {
			return fmt.Errorf("bind /dev/%s: %w", name, err)
		}
	}

	ptsOpts := [][2]string{{"newinstance", ""}, {"ptmxmode", "0666"}, {"mode", "0620"}}
	// The tty group exists only where it is mapped; naming an unmapped gid
	// makes the kernel refuse the mount.
	if idmap.Contains(cfg.IDMap.GID, 5) {
		ptsOpts = append(ptsOpts, [2]string{"gid", "5"})
	}
	subs := []struct {
		name, fstype string
		opts         [][2]string
		attrs        int
	}{
		{"pts", "devpts", ptsOpts, unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC},
		{"shm", "tmpfs", [][2]string{{"mode", "1777"}, {"size", "65536k"}}, unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC},
		{"mqueue", "mqueue", nil, unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC},
	}
	for _, s := range subs {
		if err := unix.Mkdirat(dev, s.name, 0o755); err != nil {
			return fmt.Errorf("create /dev/%s: %w", s.name, err)
		}
		sfd, err := newMount(s.fstype, s.opts, s.attrs)
		if err != nil {
			return fmt.Errorf("mount /dev/%s: %w", s.name, err)
		}
		err = unix.MoveMount(sfd, "", dev, s.name, unix.MOVE_MOUNT_F_EMPTY_PATH)
		unix.Close(sfd)
		if err != nil {
			return fmt.Errorf("attach /dev/%s: %w", s.name, err)
		}
	}
	links := [][2]string{
		{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil {
			return fmt.Errorf("create /dev/%s: %w", l[1], err)
		}
	}
	return nil
}
