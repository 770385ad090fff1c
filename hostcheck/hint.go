package hostcheck

import (
	"errors"
	"strings"

	"github.com/rbox-sandbox/rbox/cgroupv2"
)

// ProbesFor names the probes of rbox check that explain a failure of
// rbox exec, or none. It reads the message: the init's errors cross the
// namespace boundary as text, and the supervisor's keep their words
// ("clone sandbox init", "mount rootfs", ...) for the same reason.
func ProbesFor(err error) []string {
	if err == nil {
		return nil
	}
	msg := err.Error()
	has := func(s string) bool { return strings.Contains(msg, s) }
	switch {
	case has("is not mapped in the sandbox"):
		// -u of an unmapped ID: the line names the fix (and the probe)
		// itself; it is not the host's fault.
		return nil
	case errors.Is(err, cgroupv2.ErrUnavailable):
		return []string{"cgroup", "systemd", "controllers"}
	case has("cgroup limits need") && has("not delegated"):
		return []string{"controllers"}
	case has("/dev/net/tun"):
		return []string{"tun"}
	case (has("slirp4netns") || has("pasta") || has("--net slirp")) && (has("not found") || has("no such file") || has("not installed") || has("not in PATH")):
		return []string{"slirp"}
	case has("mount rootfs"):
		var out []string
		if has("kernel overlay") {
			out = append(out, "overlay")
		}
		if has("fuse") {
			out = append(out, "fuse")
		}
		return out
	case has("clone sandbox init"), has("make / private"):
		// The clone refused, or allowed without capabilities (AppArmor).
		return []string{"userns"}
	case has("write the sandbox's ID map"):
		return []string{"idmap"}
	case has("newuidmap not found"):
		return []string{"newuidmap"}
	case has("newgidmap not found"):
		return []string{"newgidmap"}
	case has("subuid"):
		return []string{"subuid"}
	case has("subgid"):
		return []string{"subgid"}
	}
	return nil
}

// Hint ends err with a line naming the probes that explain it:
//
//	hint: run rbox check (probe NAME)
//
// It returns err itself when no probe does; errors.As and errors.Is still
// see what err wraps.
func Hint(err error) error {
	probes := ProbesFor(err)
	if len(probes) == 0 {
		return err
	}
	return &hinted{err: err, probes: probes}
}

type hinted struct {
	err    error
	probes []string
}

func (h *hinted) Error() string {
	word := "probe "
	if len(h.probes) > 1 {
		word = "probes "
	}
	return h.err.Error() + "\nhint: run rbox check (" + word + strings.Join(h.probes, ", ") + ")"
}

func (h *hinted) Unwrap() error { return h.err }
