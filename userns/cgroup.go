package userns

import (
	"fmt"
	"os"
	"syscall"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/caps"
)

// The workload's cgroup. The supervisor puts the init in the init leaf of
// the sandbox's cgroup and hands it the path of the workload's leaf
// (Config.CgroupLeaf, see cgroupv2's leaves.go). The init stays in the
// supervisor's cgroup namespace and starts every workload process (the
// workload, rbox enter's) so that it is in its leaf before it runs any
// code of its own, and rooted there:
//
//   - clone3 with CLONE_INTO_CGROUP and the leaf's descriptor puts the
//     child in the leaf as it is created. The kernel allows that only when
//     the forking thread's cgroup namespace shows both the init's leaf and
//     the workload's (nsdelegate), which the supervisor's does;
//   - the child then unshares a cgroup namespace (Go's Unshareflags, before
//     it switches uid and executes), which is rooted at its cgroup, the
//     leaf: inside, /proc/self/cgroup reads "0::/", and the kernel refuses
//     writes to the leaf's limits (pids.max, memory.max) from inside. That
//     takes CAP_SYS_ADMIN in the child, so the spawning thread keeps it in
//     its permitted and effective sets (childCaps); the workload's execve
//     drops it again unless --cap-add gave it.
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
func intoCgroupLeaf(a *syscall.SysProcAttr) {
	if cgroupLeaf < 0 {
		return
	}
	a.UseCgroupFD = true
	a.CgroupFD = cgroupLeaf
	a.Unshareflags |= unix.CLONE_NEWCGROUP
}

// childCaps are the capabilities the spawning thread keeps for the child's
// own steps before execve, beyond the workload's.
func childCaps(cfg *Config) caps.Set {
	if cfg.CgroupLeaf == "" {
		return 0
	}
	return 1 << unix.CAP_SYS_ADMIN
}

// mountCgroupLeaf binds the workload's leaf read-only at /sys/fs/cgroup:
// over the empty directory of the sandbox's sysfs, or over the host's
// hierarchy that the bind of /sys brings along with --net host.
func mountCgroupLeaf(root *os.File) error {
	tree, err := unix.OpenTree(cgroupLeaf, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("bind the sandbox's cgroup: %w", err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return fmt.Errorf("make the sandbox's cgroup read-only: %w", err)
	}
	t, err := pathrs.MkdirAllHandle(root, "/sys/fs/cgroup", 0o755)
	if err != nil {
		return fmt.Errorf("mount point /sys/fs/cgroup: %w", err)
	}
	defer t.Close()
	return attach(tree, t, "/sys/fs/cgroup")
}
