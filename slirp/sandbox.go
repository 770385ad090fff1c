package slirp

import (
	"fmt"
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
// parent's /proc): the last NSpid field is the pid in the process's own
// namespace, which is ours for our children.
func ownPid(procPid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", procPid))
	if err != nil {
		return procPid
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
				return n
			}
		}
	}
	return procPid
}
