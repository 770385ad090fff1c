package slirp

import (
	"strings"
)

// ResolvConf is the sandbox's /etc/resolv.conf for a user-mode network:
// the helper's DNS forwarder as the only nameserver (it forwards to the
// host's resolvers, loopback ones such as systemd-resolved's 127.0.0.53
// included, which the sandbox could not reach itself), and the host's
// search domains and options, so that short names resolve as on the host.
func ResolvConf(dns []string, host []byte) string {
	var b strings.Builder
	b.WriteString("# written by rbox: the network helper's DNS forwarder\n")
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "search" || f[0] == "domain" || f[0] == "options") {
			b.WriteString(strings.Join(f, " ") + "\n")
		}
	}
	for _, ns := range dns {
		b.WriteString("nameserver " + ns + "\n")
	}
	return b.String()
}
