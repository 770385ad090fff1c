package userns

import (
	"fmt"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// The workload's cgroup. The supervisor puts the init in the init leaf of
// the sandbox's cgroup and hands it the path of the workload's leaf
// (Config.CgroupLeaf, see cgroupv2's leaves.go). The init stays in the
// supervisor's cgroup namespace and starts every workload process (the
// workload, rbox enter's) so that it is in its leaf before it runs any
// code of its own, and rooted there (forkexec.go):
//
//   - clone3 with CLONE_INTO_CGROUP and the leaf's descriptor puts the
//     child in the leaf as it is created: no moment in the init's leaf,
//     no write to cgroup.procs after the fact. The kernel allows that only
//     when the forking thread's cgroup namespace shows both the init's
//     leaf and the workload's (nsdelegate), which the supervisor's does;
//   - the child's first step unshares a cgroup namespace, which is rooted
//     at its cgroup, the leaf: inside, /proc/self/cgroup reads "0::/", and
//     the kernel refuses writes to the leaf's limits (pids.max,
//     memory.max) from inside. That takes CAP_SYS_ADMIN, which the child
//     holds then as the init does; its capset and setuid, and the execve,
//     drop it unless --cap-add gave it. The seccomp filter comes after,
//     so no profile can refuse this unshare.
//
// /sys/fs/cgroup inside is a read-only bind of the leaf, so the workload
// sees the cgroup it is rooted at.

// cgroupLeaf is the init's descriptor (O_PATH) of the workload's leaf, -1
// without a cgroup. It stays open for rbox enter.
var cgroupLeaf = -1

// openCgroupLeaf opens the workload's leaf while the host's /sys/fs/cgroup
// is still reachable (before the pivot).
func openCgroupLeaf(cfg *Config) error {
	if cfg.CgroupLeaf == "" {
		return nil
	}
	fd, err := unix.Open(cfg.CgroupLeaf, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return failure(125, "open the workload's cgroup %q: %w", cfg.CgroupLeaf, err)
	}
	cgroupLeaf = fd
	return nil
}

// intoCgroupLeaf makes a workload process start in the leaf, in a cgroup
// namespace of its own rooted there.
func intoCgroupLeaf(a *execAttr) {
	if cgroupLeaf >= 0 {
		a.into = intoCgroup(cgroupLeaf)
	}
}

// intoCgroup is the clone3 of forkexec.go into the cgroup open at fd.
func intoCgroup(fd int) *cloneArgs {
	return &cloneArgs{flags: unix.CLONE_VFORK | unix.CLONE_INTO_CGROUP, exitSignal: uint64(unix.SIGCHLD), cgroup: uint64(fd)}
}

// mountCgroupLeaf binds the workload's leaf at op.Target (read-only, as the
// plan's attributes say): over the empty directory of the sandbox's sysfs,
// or over the host's hierarchy that the bind of /sys brings along with
// --net host.
func mountCgroupLeaf(root *os.File, op Op) error {
	if cgroupLeaf < 0 {
		return fmt.Errorf("op %s %s: the sandbox has no cgroup", op.Kind, op.Target)
	}
	tree, err := unix.OpenTree(cgroupLeaf, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("bind the sandbox's cgroup: %w", err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: op.Attrs, Attr_clr: op.Clear}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return fmt.Errorf("set the attributes of the sandbox's cgroup: %w", err)
	}
	t, err := pathrs.MkdirAllHandle(root, op.Target, 0o755)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", op.Target, err)
	}
	defer t.Close()
	return attach(tree, t, op.Target)
}
