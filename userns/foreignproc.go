package userns

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
)

// A sandbox whose /proc is the parent's (mountProc's fallback, inside a
// container or another rbox) sees a procfs of an outer pid namespace:
// there /proc/PID names a process by its pid out there, not by the pid
// clone returned. An rbox run in such a sandbox finds the init's files
// through the init's pid as that procfs counts it, and lets the init write
// its own single ID map (through /proc/self, which is right in any procfs)
// instead of having the Go runtime write /proc/PID/uid_map.

// foreignProc reports whether /proc counts pids in another pid namespace
// than ours.
func foreignProc() bool {
	self, err := os.Readlink("/proc/self")
	return err == nil && self != strconv.Itoa(os.Getpid())
}

// procPid returns pid as /proc names it: itself, unless /proc is of an
// outer pid namespace; then the pid that namespace gives the process, read
// from the fdinfo of a pidfd (the kernel prints it in the procfs's own pid
// namespace).
func procPid(pid int) int {
	if !foreignProc() {
		return pid
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return pid
	}
	defer unix.Close(fd)
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		return pid
	}
	if n, ok := fdinfoPid(string(b)); ok {
		return n
	}
	return pid
}

// fdinfoPid reads the "Pid:" line of a pidfd's fdinfo.
func fdinfoPid(s string) (int, bool) {
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(l, "Pid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil && n > 0
		}
	}
	return 0, false
}

// ProcPidOf is pid (a process of ours, or we ourselves) as /proc names
// it; see procPid.
func ProcPidOf(pid int) int { return procPid(pid) }

// ProcPid is the init's pid as this process's /proc names it (see above):
// the one to give helpers that open /proc/PID (slirp4netns, newuidmap).
func (s *Sandbox) ProcPid() int { return procPid(s.Pid()) }

// writeOwnMap maps the user who made the namespace, alone, to root of it,
// from inside: the kernel lets the namespace's owner write such a single
// line for itself (the init holds every capability of its namespace here,
// as ambient ones).
func writeOwnMap(cfg *Config) error {
	if len(cfg.IDMap.UID) != 1 || len(cfg.IDMap.GID) != 1 {
		return fmt.Errorf("write the sandbox's own ID map: want one uid and one gid line, have %d and %d", len(cfg.IDMap.UID), len(cfg.IDMap.GID))
	}
	u, g := cfg.IDMap.UID[0], cfg.IDMap.GID[0]
	files := [][2]string{
		{"/proc/self/setgroups", "deny"},
		{"/proc/self/uid_map", fmt.Sprintf("%d %d %d\n", u.Inside, u.Outside, u.Count)},
		{"/proc/self/gid_map", fmt.Sprintf("%d %d %d\n", g.Inside, g.Outside, g.Count)},
	}
	for _, f := range files {
		if err := os.WriteFile(f[0], []byte(f[1]), 0); err != nil {
			return fmt.Errorf("write the sandbox's own ID map: %w", err)
		}
	}
	return nil
}

// selfMapEnv carries UID:GID to a helper that maps itself (SelfMapAttr).
const selfMapEnv = "RBOX_SELF_MAP"

// SelfMapAttr sets attr to map uid and gid alone to root of the new user
// namespace: through the Go runtime, or, under a foreign /proc, by the
// child itself, which then must call MapSelfFromEnv first. It returns the
// variable to add to the child's environment, or "".
func SelfMapAttr(attr *syscall.SysProcAttr, uid, gid uint32) (string, error) {
	if !foreignProc() {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(uid), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(gid), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
		return "", nil
	}
	caps, err := allCaps()
	if err != nil {
		return "", err
	}
	attr.AmbientCaps = caps
	return selfMapVar(idmap.Single(uid, gid)), nil
}

// selfMapVar hands a single map to a child that maps itself.
func selfMapVar(p idmap.Plan) string {
	return fmt.Sprintf("%s=%d:%d", selfMapEnv, p.UID[0].Outside, p.GID[0].Outside)
}

// awaitSelfMap waits for the init to write its own map: until then its
// namespace has no root, and the helpers the supervisor runs against it
// next (nsenter for the tap device) would enter it without capabilities.
// The init does it first thing, within a millisecond or so.
func (s *Sandbox) awaitSelfMap() error {
	path := fmt.Sprintf("/proc/%d/uid_map", s.ProcPid())
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("wait for the sandbox init to map itself: %w", err)
		}
		if len(b) > 0 {
			return nil
		}
	}
	return fmt.Errorf("wait for the sandbox init to map itself: %q still empty after 10 s", path)
}

// MapSelfFromEnv writes the map SelfMapAttr left to the child, if any.
func MapSelfFromEnv() error {
	v := os.Getenv(selfMapEnv)
	if v == "" {
		return nil
	}
	var uid, gid uint32
	if _, err := fmt.Sscanf(v, "%d:%d", &uid, &gid); err != nil {
		return fmt.Errorf("bad %s=%q", selfMapEnv, v)
	}
	return writeOwnMap(&Config{IDMap: idmap.Single(uid, gid)})
}
