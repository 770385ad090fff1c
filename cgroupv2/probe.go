package cgroupv2

import (
	"context"
	"path/filepath"
	"strconv"
)

// This file exports the host detection that New does, for rbox check,
// which reports each step on its own instead of stopping at the first.

// HostProblem says why this host's cgroup mounts cannot carry limits, and
// the fix; both are "" on a pure cgroup v2 host (unified mode).
func HostProblem() (reason, fix string, err error) {
	m, err := hostMode()
	if err != nil {
		return "", "", err
	}
	reason, fix = m.problem()
	return reason, fix, nil
}

// ProbeSystemd reports whether the user's systemd answers on the bus that
// env points to; the error is an *UnavailableError with the fix.
func ProbeSystemd(ctx context.Context, env Env) (addr string, err error) {
	m, err := newSystemd(ctx, env)
	if err != nil {
		a, _ := busAddress(env)
		return a, err
	}
	m.Close()
	return m.addr, nil
}

// CurrentCgroup is the cgroup v2 directory of this process under
// /sys/fs/cgroup.
func CurrentCgroup() (string, error) {
	rel, err := readFile("/proc/self/cgroup", parseProcCgroup)
	if err != nil {
		return "", err
	}
	return filepath.Join(mountRoot, rel), nil
}

// UserServiceCgroup is the cgroup of uid's systemd user manager, whose
// cgroup.controllers lists what it can delegate to the user's scopes.
func UserServiceCgroup(uid int) string {
	u := strconv.Itoa(uid)
	return filepath.Join(mountRoot, "user.slice", "user-"+u+".slice", "user@"+u+".service")
}

// Controllers reads the cgroup.controllers of the cgroup directory dir.
func Controllers(dir string) ([]string, error) {
	return readFile(filepath.Join(dir, "cgroup.controllers"), parseControllers)
}

// LimitControllers are the controllers --memory, --cpus and --pids-limit
// need.
var LimitControllers = []string{"cpu", "memory", "pids"}
