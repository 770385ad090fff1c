package slirp

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// helperSandbox says whether slirp4netns can take --enable-sandbox here.
// Run as a user, it makes a user namespace of its own for it; run as root
// (rbox inside a container or another rbox) it only unshares a mount
// namespace, which needs CAP_SYS_ADMIN, and a container's root seldom
// holds it. Without the sandbox slirp4netns still runs, with its seccomp
// filter, seeing the sandbox's parent's filesystem instead of /etc and
// /run alone.
func helperSandbox() bool {
	if os.Geteuid() != 0 {
		return true
	}
	var data [2]unix.CapUserData
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0
}

// ownPid turns the pid of a process as /proc names it into its pid in
// our pid namespace, the one pidfd_open takes. They differ where /proc is
// of an outer pid namespace (rbox inside rbox or a container, with the
// parent's /proc). NSpid lists a process's pids from the procfs's
// namespace down to its own; ours is at the depth of our own NSpid (pasta
// makes a pid namespace of its own, so its last field is 1, not ours).
func ownPid(procPid int) int {
	self, target := nsPids("self"), nsPids(strconv.Itoa(procPid))
	if len(self) == 0 || len(target) < len(self) {
		return procPid
	}
	n, err := strconv.Atoi(target[len(self)-1])
	if err != nil {
		return procPid
	}
	return n
}

// nsPids reads the NSpid fields of /proc/PID/status.
func nsPids(pid string) []string {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
			return strings.Fields(v)
		}
	}
	return nil
}
