package slirp

import (
	"fmt"
	"strconv"
	"strings"
)

// The port forwarder's protocol. For each connection to a published port
// (TCP) or each new client of one (UDP), the supervisor connects to the
// init's socket (SOCK_SEQPACKET, in the sandbox's state directory) and
// sends one request, "tcp PORT" or "udp PORT"; the init connects a socket
// of that kind to 127.0.0.1:PORT inside the sandbox's network namespace
// and answers "ok" with the socket attached (SCM_RIGHTS), or "error: WHY".
// Sockets belong to the namespace they were made in: that is the whole
// trick, and all the init does.

// portRequest is one request.
type portRequest struct {
	Proto string // "tcp" or "udp"
	Port  int
}

func (r portRequest) String() string { return r.Proto + " " + strconv.Itoa(r.Port) }

// parsePortRequest reads a request; the init answers anything else with an
// error and nothing more.
func parsePortRequest(b []byte) (portRequest, error) {
	proto, port, ok := strings.Cut(string(b), " ")
	if !ok || (proto != "tcp" && proto != "udp") {
		return portRequest{}, fmt.Errorf("bad port request %q", b)
	}
	n, err := parsePortNumber(port)
	if err != nil {
		return portRequest{}, fmt.Errorf("bad port request %q: port %w", b, err)
	}
	// The supervisor writes the port as strconv.Itoa does; anything else
	// ("tcp 0080") is not one of its requests.
	if strconv.Itoa(n) != port {
		return portRequest{}, fmt.Errorf("bad port request %q: port %q is not in canonical form", b, port)
	}
	return portRequest{Proto: proto, Port: n}, nil
}
