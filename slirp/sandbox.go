package slirp

import (
	"os"

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
