package hostcheck

import (
	"context"
	"errors"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/cgroupv2"
)

// probeCgroup judges what --memory, --cpus and --pids-limit need: a pure
// cgroup v2 hierarchy (cgroup), the user's systemd on its bus (systemd),
// and the limit controllers delegated to the user (controllers), by
// systemd or in the current cgroup.
func probeCgroup(ctx context.Context, h *Host) []Result {
	if h.NoCgroup {
		return []Result{skip("cgroup", "not probed"), skip("systemd", "not probed"), skip("controllers", "not probed")}
	}
	var out []Result
	reason, fix, err := cgroupv2.HostProblem()
	switch {
	case err != nil:
		out = append(out, fail("cgroup", "", "%v", err))
	case reason != "":
		out = append(out, fail("cgroup", fix, "%s", reason))
	default:
		out = append(out, ok("cgroup", "cgroup v2 (unified) at /sys/fs/cgroup"))
	}
	addr, serr := cgroupv2.ProbeSystemd(ctx, h.Cgroup)
	if serr != nil {
		out = append(out, fail("systemd", unavailableFix(serr), "%s", unavailableReason(serr)))
	} else {
		out = append(out, ok("systemd", "the user's systemd answers on %s", addr))
	}
	if out[0].Status != OK {
		return append(out, skip("controllers", "not probed: needs probe cgroup"))
	}
	return append(out, probeControllers(h, serr == nil))
}

func probeControllers(h *Host, systemd bool) Result {
	const name = "controllers"
	delegateFix := "as root: printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' > /etc/systemd/system/user@.service.d/delegate.conf (mkdir the directory first), systemctl daemon-reload, and log in again"
	if systemd {
		dir := cgroupv2.UserServiceCgroup(int(h.UID))
		have, err := cgroupv2.Controllers(dir)
		if err != nil {
			return fail(name, delegateFix, "read what systemd delegates: %v", err)
		}
		if miss := missingOf(cgroupv2.LimitControllers, have); len(miss) > 0 {
			return fail(name, delegateFix, "systemd delegates %q to the user, without %s", strings.Join(have, " "), strings.Join(miss, ", "))
		}
		return ok(name, "systemd delegates %s (%s)", strings.Join(have, " "), dir)
	}
	dir, err := cgroupv2.CurrentCgroup()
	if err != nil {
		return fail(name, "", "find the current cgroup: %v", err)
	}
	if err := unix.Access(dir+"/cgroup.subtree_control", unix.W_OK); err != nil {
		return fail(name, "reach the user's systemd (probe systemd), or run rbox under 'systemd-run --user --scope -p Delegate=yes'",
			"no delegated cgroup: the user's systemd does not answer and the current cgroup %q is not writable", dir)
	}
	have, err := cgroupv2.Controllers(dir)
	if err != nil {
		return fail(name, "", "%v", err)
	}
	if miss := missingOf(cgroupv2.LimitControllers, have); len(miss) > 0 {
		return fail(name, delegateFix, "the current cgroup %q is delegated with %q, without %s", dir, strings.Join(have, " "), strings.Join(miss, ", "))
	}
	return ok(name, "the current cgroup %q is delegated with %s", dir, strings.Join(have, " "))
}

func missingOf(want, have []string) []string {
	var out []string
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}

// unavailableReason and unavailableFix split cgroupv2's refusal into the
// probe's line and its fix.
func unavailableReason(err error) string {
	var ue *cgroupv2.UnavailableError
	if errors.As(err, &ue) {
		return strings.Join(ue.Reasons, "; ")
	}
	return err.Error()
}

func unavailableFix(err error) string {
	var ue *cgroupv2.UnavailableError
	if errors.As(err, &ue) {
		return strings.Join(ue.Hints, "\n")
	}
	return "see the error above"
}
