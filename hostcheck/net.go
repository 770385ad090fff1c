package hostcheck

import (
	"strconv"
	"strings"
)

// probeSlirp looks for a user-mode network helper.
func probeSlirp(h *Host) Result {
	const name = "slirp"
	var found []string
	for _, b := range []string{"slirp4netns", "pasta"} {
		if p, ok := lookPath(b, h.Path); ok {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return fail(name, "as root: apt-get install slirp4netns (or passt, for pasta); --net none and --net host work without",
			"neither slirp4netns nor pasta found in PATH: no user-mode network for the sandbox")
	}
	return ok(name, "%s", strings.Join(found, ", "))
}

// probeTun checks /dev/net/tun, which slirp4netns and pasta open inside
// the sandbox's network namespace.
func probeTun(h *Host) Result {
	const name = "tun"
	if problem, fix := devProblem(h.DevTun, "tun"); problem != "" {
		return fail(name, fix+"; --net none and --net host work without", "%s", problem)
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
