package hostcheck

import (
	"strconv"
	"strings"

	"github.com/rbox-sandbox/rbox/slirp"
)

// probeSlirp looks for what the default network (--net slirp) runs:
// slirp4netns. pasta is reported beside it (--net pasta).
func probeSlirp(h *Host) Result {
	const name = "slirp"
	var found, missing, pkgs []string
	for _, t := range (slirp.Mode{Kind: slirp.Slirp}).Tools() {
		if p, ok := lookPath(t.Bin, h.Path); ok {
			found = append(found, p)
		} else {
			missing, pkgs = append(missing, t.Bin), append(pkgs, t.Pkg)
		}
	}
	pasta, hasPasta := lookPath("pasta", h.Path)
	if len(missing) > 0 {
		why := "not in PATH: " + strings.Join(missing, ", ") + ", which the default network (--net slirp) runs"
		if hasPasta {
			why += " (" + pasta + " is there: --net pasta works)"
		}
		return fail(name, "as root: apt-get install "+strings.Join(pkgs, " ")+"; --net none and --net host work without", "%s", why)
	}
	if hasPasta {
		found = append(found, pasta)
	}
	return ok(name, "%s", strings.Join(found, ", "))
}

// probeTun checks /dev/net/tun, which slirp4netns and pasta open inside
// the sandbox's network namespace.
func probeTun(h *Host) Result {
	const name = "tun"
	if problem, fix := devProblem(h.DevTun, "tun"); problem != "" {
		return fail(name, deviceFix(h, h.DevTun, fix)+"; --net none and --net host work without", "%s", problem)
	}
	return ok(name, "%s usable", h.DevTun)
}

// portStart judges net.ipv4.ip_unprivileged_port_start: the lowest host
// port an unprivileged user may bind, so publish with -p.
func portStart(v string, present bool) Result {
	const name = "ports"
	if !present {
		return ok(name, "net.ipv4.ip_unprivileged_port_start absent (kernel before 4.11): host ports from 1024 can be published")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return fail(name, "", "net.ipv4.ip_unprivileged_port_start=%q is not a number", v)
	}
	if n == 0 {
		return ok(name, "every host port can be published (net.ipv4.ip_unprivileged_port_start=0)")
	}
	// Not a problem, but the one question users ask: say how, on the line.
	return ok(name, "host ports from %d can be published; for lower ones: %s", n, sysctlFix("net.ipv4.ip_unprivileged_port_start", "0"))
}

func probePorts(h *Host) Result {
	v, present := h.sysctl("net/ipv4/ip_unprivileged_port_start")
	return portStart(v, present)
}
