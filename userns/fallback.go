package userns

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/probe"
)

// Inside a container or another rbox, the parent's /proc and /sys have
// parts covered (masks, read-only binds). In a nested user namespace those
// mounts are locked, and the kernel refuses a new procfs or sysfs that
// would show what they cover (mount_too_revealing: EPERM at fsmount). Then
// the sandbox gets the parent's own trees, bound recursively with the
// parent's masks still on them (rbox's are applied on top afterwards), and
// the user is told once. crun falls back the same way for sysfs.

// procFallback follows the kernel's refusal (err) of a new procfs at
// op.Target: a procfs restricted to processes (subset=pid) where the
// kernel takes one, or else the parent's /proc, bound recursively (the
// parent's masks stay on it; rbox's come on top).
func procFallback(root *os.File, op Op, err error) error {
	// Kernels that relax the check for a process-only procfs take one:
	// it keeps the sandbox's own pid namespace, at the price of
	// /proc/meminfo, /proc/sys and the like (Linux 6.18 refuses it too).
	sub := op
	sub.Options = append(append([][2]string(nil), op.Options...), [2]string{"subset", "pid"})
	if freshIn(root, sub) == nil {
		notice("a new /proc is refused here (the parent's /proc has masked parts): /proc shows only the sandbox's processes (subset=pid), no /proc/meminfo or /proc/sys%s", procUnlock)
		return nil
	}
	bind := Op{Kind: OpRBind, Source: "/proc", Target: op.Target, Attrs: op.Attrs}
	if _, _, berr := bindIn(root, bind); berr != nil {
		return fmt.Errorf("%w; bind of the parent's /proc: %w", err, berr)
	}
	notice("a new /proc is refused here (the parent's /proc has masked parts): the sandbox sees the outer pid namespace's /proc, with rbox's masks over it%s", procUnlock)
	return nil
}

// procUnlock names the outer runtimes' options that give a container an
// unmasked /proc, and with it a sandbox of its own.
const procUnlock = " (podman run --security-opt unmask=/proc/*, docker run --security-opt systempaths=unconfined gives rbox its own)"

// sysFallback follows the kernel's refusal (err) of a new sysfs at
// op.Target: the parent's /sys, bound recursively and read-only.
func sysFallback(root *os.File, op Op, err error) error {
	bind := Op{Kind: OpRBind, Source: "/sys", Target: op.Target, Attrs: op.Attrs | unix.MOUNT_ATTR_RDONLY}
	if _, _, berr := bindIn(root, bind); berr != nil {
		return fmt.Errorf("%w; bind of the parent's /sys: %w", err, berr)
	}
	notice("a new /sys is refused here (the parent's /sys has masked parts): the sandbox sees the parent's /sys, read-only (its network devices among them)")
	return nil
}

// refusedAsRevealing tells the kernel's refusal of a new instance from a
// missing mount point or a bad image.
func refusedAsRevealing(err error) bool {
	return errors.Is(err, unix.EPERM) && !errors.Is(err, errMountPoint)
}

// notice says once, on the user's stderr, what the sandbox gave up.
func notice(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "rbox: notice: "+format+"\n", a...)
}

// setHostname names the sandbox's UTS namespace. docker's and podman's
// default seccomp profiles refuse sethostname to a container without
// CAP_SYS_ADMIN, even in a UTS namespace of its own: then the sandbox
// keeps the hostname it inherited, and says so.
func setHostname(name string) error {
	err := unix.Sethostname([]byte(name))
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EPERM) && outerFiltered() {
		notice("the outer seccomp filter refuses sethostname: the sandbox keeps the hostname of its parent (--security-opt seccomp=unconfined on the outer container lifts it)")
		return nil
	}
	return fmt.Errorf("set hostname %q: %w", name, err)
}

// outerFiltered reports whether a seccomp filter is installed on this
// process: one rbox did not install yet, since rbox installs its own on
// the workload as the workload's last step.
func outerFiltered() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	return seccompMode(string(b)) == "2"
}

// seccompMode reads the Seccomp: line of /proc/PID/status: 0 none, 1
// strict, 2 a filter.
func seccompMode(status string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// OuterSeccomp explains an EPERM of what (a syscall rbox needs) under a
// seccomp filter installed by an outer container runtime, or returns "".
func OuterSeccomp(err error, what string) string {
	if !errors.Is(err, unix.EPERM) || !outerFiltered() {
		return ""
	}
	return fmt.Sprintf(": a seccomp filter installed outside rbox (Seccomp: 2 in /proc/self/status) likely denies %s, as docker's default profile does; run the outer container with --security-opt seccomp=unconfined (Kubernetes: securityContext.seccompProfile.type: Unconfined)", what)
}

// OuterFiltered reports whether a seccomp filter installed outside rbox
// applies to this process (see outerFiltered); for rbox check.
func OuterFiltered() bool { return outerFiltered() }

// outerProbes names the probes of rbox check that explain a refused clone
// or mount: the outer seccomp filter's first where one is installed.
func outerProbes(err error) []string {
	if OuterSeccomp(err, "") != "" {
		return []string{probe.Seccomp, probe.UserNS}
	}
	return []string{probe.UserNS}
}
