package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/userns"
)

// sysctlFix is how root sets a sysctl now and at every boot.
func sysctlFix(key, value string) string {
	return fmt.Sprintf("as root: sysctl -w %s=%s && echo %s=%s >> /etc/sysctl.d/50-rbox.conf", key, value, key, value)
}

// appArmorFix is the profile that lets rbox create user namespaces on a
// host that restricts them (Ubuntu 23.10 and later).
func appArmorFix(exe string) string {
	if exe == "" {
		exe = "/usr/local/bin/rbox"
	}
	return strings.Join([]string{
		"as root, give rbox an AppArmor profile that allows user namespaces:",
		"  cat > /etc/apparmor.d/rbox <<'END'",
		"  abi <abi/4.0>,",
		"  include <tunables/global>",
		"  profile rbox " + exe + " flags=(unconfined) {",
		"    userns,",
		"    include if exists <local/rbox>",
		"  }",
		"  END",
		"  apparmor_parser -r /etc/apparmor.d/rbox",
		"(or lift the restriction for every program: " + sysctlFix("kernel.apparmor_restrict_unprivileged_userns", "0") + ")",
	}, "\n")
}

// usernsSysctls judges the sysctls that gate unprivileged user namespaces:
// read(name) returns a value and whether the file exists on this kernel.
// It returns the first problem with its fix, or what allows them.
func usernsSysctls(read func(string) (string, bool), appArmorLabel, exe string) (problem, fix, allowed string) {
	if v, ok := read("kernel/unprivileged_userns_clone"); ok && v == "0" {
		return "kernel.unprivileged_userns_clone=0: this kernel lets only root create user namespaces",
			sysctlFix("kernel.unprivileged_userns_clone", "1"), ""
	}
	if v, ok := read("user/max_user_namespaces"); ok && v == "0" {
		return "user.max_user_namespaces=0: no user namespace may be created",
			sysctlFix("user.max_user_namespaces", "15000"), ""
	}
	if v, ok := read("kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" && !confinedWithUserns(appArmorLabel) {
		return "kernel.apparmor_restrict_unprivileged_userns=1 and rbox runs unconfined (" + appArmorLabel + "): its user namespaces get no capabilities",
			appArmorFix(exe), ""
	}
	v, ok := read("user/max_user_namespaces")
	if !ok {
		return "", "", "user namespaces allowed"
	}
	return "", "", "user namespaces allowed (user.max_user_namespaces=" + v + ")"
}

// confinedWithUserns guesses from /proc/self/attr/current whether a
// profile of rbox's own applies: "unconfined" (or nothing) means the
// restriction holds; a named profile is assumed to be the one to add.
func confinedWithUserns(label string) bool {
	return label != "" && label != "unconfined"
}

func probeUserns(ctx context.Context, h *Host) Result {
	const name = "userns"
	problem, fix, allowed := usernsSysctls(h.sysctl, h.AppArmorLabel, h.Executable)
	if problem != "" {
		return fail(name, fix, "%s", problem)
	}
	if h.Exe == "" {
		return ok(name, "%s", allowed)
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	// The namespaces rbox exec creates with its defaults (--net none).
	if err := runHelper(h.helper(ctx, userns.CloneFlags(true), true, "userns")); err != nil {
		return fail(name, usernsErrnoFix(err), "a test sandbox's namespaces (user, mount, pid, uts, ipc, net) could not be created: %v", err)
	}
	return ok(name, "%s; a test sandbox's namespaces were created", allowed)
}

// usernsErrnoFix explains a failed clone whose sysctls look fine.
func usernsErrnoFix(err error) string {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return "the limit of user namespaces is reached: " + sysctlFix("user.max_user_namespaces", "15000")
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return "something above the sysctls forbids them: inside a container, run it with a seccomp profile that allows clone(CLONE_NEWUSER) (docker: --security-opt seccomp=unconfined); under AppArmor, see kernel.apparmor_restrict_unprivileged_userns"
	case errors.Is(err, unix.EINVAL):
		return "this kernel lacks user namespaces (CONFIG_USER_NS): boot a kernel built with it"
	}
	return "see the error above; rbox exec needs the same namespaces"
}
