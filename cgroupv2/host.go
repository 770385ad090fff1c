package cgroupv2

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// mountRoot is where every manager expects the unified hierarchy.
const mountRoot = "/sys/fs/cgroup"

// mode is how the host mounts cgroups.
type mode int

const (
	modeUnified mode = iota // cgroup2 at /sys/fs/cgroup: what rbox needs
	modeHybrid              // cgroup v1 controllers, cgroup2 only at /sys/fs/cgroup/unified
	modeLegacy              // cgroup v1 only
	modeNone                // nothing mounted at /sys/fs/cgroup
)

// classify decides the mode from the filesystem types (statfs f_type) of
// /sys/fs/cgroup and /sys/fs/cgroup/unified (0 when absent).
func classify(root, unified int64) mode {
	switch {
	case root == unix.CGROUP2_SUPER_MAGIC:
		return modeUnified
	case root == unix.TMPFS_MAGIC && unified == unix.CGROUP2_SUPER_MAGIC:
		return modeHybrid
	case root == unix.TMPFS_MAGIC:
		return modeLegacy
	}
	return modeNone
}

func hostMode() (mode, error) {
	fsType := func(p string) (int64, error) {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return 0, nil
			}
			return 0, &fs.PathError{Op: "statfs", Path: p, Err: err}
		}
		return int64(st.Type), nil
	}
	root, err := fsType(mountRoot)
	if err != nil {
		return modeNone, fmt.Errorf("find the cgroup hierarchy: %w", err)
	}
	var unified int64
	if root != unix.CGROUP2_SUPER_MAGIC {
		if unified, err = fsType(mountRoot + "/unified"); err != nil {
			return modeNone, fmt.Errorf("find the cgroup hierarchy: %w", err)
		}
	}
	return classify(root, unified), nil
}

const limitFlags = "--memory, --memory-swap, --cpus and --pids-limit"

// problem is why the mode cannot carry limits, and the fix; "" when it can.
func (m mode) problem() (reason, hint string) {
	bootHint := "boot the host with systemd.unified_cgroup_hierarchy=1 (the default since systemd 247), or run without " + limitFlags
	switch m {
	case modeUnified:
		return "", ""
	case modeHybrid:
		return fmt.Sprintf("this host mounts cgroup v1 controllers at %q and cgroup v2 only at %q (hybrid mode), where no controller can be delegated", mountRoot, mountRoot+"/unified"), bootHint
	case modeLegacy:
		return fmt.Sprintf("this host mounts only cgroup v1 at %q; rbox needs cgroup v2", mountRoot), bootHint
	}
	return fmt.Sprintf("no cgroup filesystem is mounted at %q", mountRoot), "mount cgroup2 at " + mountRoot + ", or run without " + limitFlags
}
