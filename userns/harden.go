package userns

import (
	"errors"
	"fmt"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/caps"
	"github.com/rbox-sandbox/rbox/seccomp"
)

// maskedPaths hide kernel state a sandbox has no business reading: files
// get /dev/null bound over them, directories an empty read-only tmpfs. The
// list follows runc's default spec. The workload cannot unmount a mask or
// mount a fresh procfs or sysfs over it: both need CAP_SYS_ADMIN, outside
// the default set; from a nested user namespace the kernel refuses a new
// instance outright, because there the masks are locked mounts
// (mount_too_revealing). A workload given CAP_SYS_ADMIN (--cap-add) can
// undo them: the masks were made in its own user namespace, so they are
// not locked for it (as in rootless podman; see SECURITY.md).
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// readOnlyPaths stay visible but cannot be written, even by root of the
// sandbox: writes there reach the kernel, not the sandbox.
var readOnlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

func maskProcAndSys(root *os.File) error {
	for _, p := range maskedPaths {
		if err := mask(root, p); err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	for _, p := range readOnlyPaths {
		if err := bindReadOnly(root, p); err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return nil
}

func mask(root *os.File, p string) error {
	h, err := pathrs.OpenatInRoot(root, p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return err
	}
	var mfd int
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		mfd, err = newMount("tmpfs", [][2]string{{"size", "0"}, {"mode", "0555"}}, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	} else {
		mfd, err = unix.OpenTree(unix.AT_FDCWD, "/dev/null", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	}
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return attach(mfd, h, p)
}

// bindReadOnly covers p with a read-only bind mount of itself.
func bindReadOnly(root *os.File, p string) error {
	h, err := pathrs.OpenatInRoot(root, p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer h.Close()
	tree, err := unix.OpenTree(int(h.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return err
	}
	return attach(tree, h, p)
}

// restrictThread applies, to the calling (locked) thread only, what the
// workload must inherit, in this order:
//
//  1. with --allow-new-privs, the seccomp filter first: without
//     no_new_privs the kernel installs a filter only for a thread holding
//     CAP_SYS_ADMIN, which step 2 normally drops;
//  2. the capability sets: bounding, inheritable, permitted and effective
//     become cfg.Caps, ambient is cleared. CAP_SETUID and CAP_SETGID stay
//     in permitted and effective alone, because the forked child calls
//     setgroups, setgid and setuid before execve (even for uid 0). execve
//     then recomputes the sets: root gets exactly cfg.Caps (inheritable |
//     bounding), any other uid none (the switch from uid 0 cleared
//     permitted and effective, and its files have no capabilities unless
//     setcap gave them some, which no_new_privs ignores);
//  3. no_new_privs, unless the user opted out, so that setuid binaries and
//     file capabilities cannot raise the workload's privileges;
//  4. the seccomp filter, last, so that nothing rbox itself calls above is
//     filtered. The forked child still runs Go's few calls between fork
//     and execve (setgroups, setgid, setuid, setsid, ioctl TIOCSCTTY,
//     dup3, execve) under it: a profile that refuses those cannot start
//     a workload, and rbox says which exec failed.
func restrictThread(cfg *Config) error {
	// The init runs with every capability ambient (see Start); applying
	// cfg.Caps below empties the ambient and inheritable sets of this
	// thread, so neither reaches the workload.
	if cfg.Seccomp != nil && cfg.AllowNewPrivs {
		if err := seccomp.InstallOnThread(*cfg.Seccomp); err != nil {
			return err
		}
	}
	if err := caps.ApplyToThreadBeforeExec(cfg.Caps, childCaps(cfg)); err != nil {
		return err
	}
	if !cfg.AllowNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
		if cfg.Seccomp != nil {
			if err := seccomp.InstallOnThread(*cfg.Seccomp); err != nil {
				return err
			}
		}
	}
	return nil
}
