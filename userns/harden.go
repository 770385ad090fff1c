package userns

import (
	"errors"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/caps"
)

// mask hides p: files get /dev/null bound over them, directories an empty
// read-only tmpfs. A missing p is skipped.
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

// bindReadOnly covers op.Target with a bind mount of itself with
// op.Attrs, recursively. A missing target is skipped.
func bindReadOnly(root *os.File, op Op) error {
	h, err := pathrs.OpenatInRoot(root, op.Target)
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
	attr := &unix.MountAttr{Attr_set: op.Attrs | unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return err
	}
	return attach(tree, h, op.Target)
}

// harden fills in what the forked child applies before execve
// (forkexec.go), in this order, after its own first steps (the cgroup
// namespace when the sandbox has a cgroup, while the child still holds
// the init's capabilities; setsid, stdio, close_range):
//
//  1. the bounding set becomes cfg.Caps, and the ambient set is cleared
//     (the init runs with every capability ambient, see Start);
//  2. setgroups (with a full ID map), setgid, setuid: the init's thread
//     is root with every capability, so no exception is needed for
//     CAP_SETUID and CAP_SETGID. From uid 0 to another uid the kernel
//     clears permitted and effective, unless step 1 set keep-caps (see 4);
//  3. capset of the final sets: inheritable empty (CVE-2022-24769), and
//     permitted and effective cfg.Caps for root, none for any other uid.
//     execve then recomputes them: root gets exactly cfg.Caps (the
//     bounding set), any other uid none (its files have no capabilities
//     unless setcap gave them some, which no_new_privs ignores);
//  4. no_new_privs, unless the user opted out, so that setuid binaries
//     and file capabilities cannot raise the workload's privileges;
//  5. the seccomp filter, last: only the execve after it runs under it.
//     Without no_new_privs the kernel installs a filter only for a
//     process holding CAP_SYS_ADMIN, so with --allow-new-privs step 3
//     keeps CAP_SYS_ADMIN in permitted and effective for it; for a uid
//     other than 0, step 1 sets keep-caps so that the setuid of step 2
//     leaves permitted alone and step 3 can raise it to effective. The
//     execve that follows drops what the workload should not hold: for
//     root permitted becomes the bounding set, for another uid (whose
//     keep-caps flag execve clears) empty.
func harden(cfg *Config, uid uint32, a *execAttr) {
	a.drop = uint64(caps.All &^ cfg.Caps)
	var held caps.Set
	if uid == 0 {
		held = cfg.Caps
	}
	if cfg.Seccomp != nil && cfg.AllowNewPrivs {
		held |= 1 << unix.CAP_SYS_ADMIN
		a.keepCaps = uid != 0
	}
	a.caps.Hdr, a.caps.Data = caps.CapsetData(held)
	a.noNewPrivs = !cfg.AllowNewPrivs
	if f := cfg.Seccomp; f != nil {
		a.filter = &unix.SockFprog{Len: uint16(len(f.Program)), Filter: &f.Program[0]}
		a.flags = f.Flags
	}
}
