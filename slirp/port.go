package slirp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Port is a published port: connections to HostIP:HostPort on the host
// reach ContainerPort inside the sandbox.
type Port struct {
	// HostIP is the host address to listen on; empty for all of them, as
	// docker and podman do.
	HostIP        string `json:"hostIP,omitempty"`
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Proto         string `json:"proto"` // "tcp" or "udp"
}

// String gives p back in -p syntax.
func (p Port) String() string {
	s := strconv.Itoa(p.HostPort) + ":" + strconv.Itoa(p.ContainerPort) + "/" + p.Proto
	switch {
	case p.HostIP == "":
		return s
	case strings.Contains(p.HostIP, ":"):
		return "[" + p.HostIP + "]:" + s
	default:
		return p.HostIP + ":" + s
	}
}

// ParsePort parses [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]; an IPv6
// HOSTIP is written in brackets ([::1]:8080:80).
func ParsePort(s string) (Port, error) {
	bad := func(why string) (Port, error) {
		return Port{}, fmt.Errorf("invalid -p %q: %s; use [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp], e.g. -p 8080:80 or -p 127.0.0.1:5353:53/udp", s, why)
	}
	p := Port{Proto: "tcp"}
	rest := s
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		p.Proto = rest[i+1:]
		rest = rest[:i]
		if p.Proto != "tcp" && p.Proto != "udp" {
			return bad(fmt.Sprintf("protocol %q is neither tcp nor udp", p.Proto))
		}
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return bad("an IPv6 address in brackets must be followed by :HOSTPORT")
		}
		p.HostIP, rest = rest[1:end], rest[end+2:]
		a, err := netip.ParseAddr(p.HostIP)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad(fmt.Sprintf("%q is not an IPv6 address", p.HostIP))
		}
		p.HostIP = a.String()
		if strings.Count(rest, ":") != 1 {
			return bad("expected HOSTPORT:CONTAINERPORT after the address")
		}
	} else {
		switch strings.Count(rest, ":") {
		case 1:
		case 2:
			i := strings.IndexByte(rest, ':')
			p.HostIP, rest = rest[:i], rest[i+1:]
			a, err := netip.ParseAddr(p.HostIP)
			if err != nil || !a.Is4() {
				return bad(fmt.Sprintf("%q is not an IPv4 address (write IPv6 ones in brackets)", p.HostIP))
			}
			p.HostIP = a.String()
		default:
			return bad("expected two or three fields separated by ':'")
		}
	}
	hp, cp, _ := strings.Cut(rest, ":")
	var err error
	if p.HostPort, err = parsePortNumber(hp); err != nil {
		return bad("host port " + err.Error())
	}
	if p.ContainerPort, err = parsePortNumber(cp); err != nil {
		return bad("container port " + err.Error())
	}
	return p, nil
}

func parsePortNumber(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("is empty")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s is out of range (1-65535)", s)
	}
	return n, nil
}

// Conflict finds two specs that would listen on the same host port and
// protocol (the same address, or any address together with a specific
// one): ports[i] clashes with the earlier ports[j].
func Conflict(ports []Port) (i, j int, found bool) {
	for i, a := range ports {
		for j, b := range ports[:i] {
			if a.Proto == b.Proto && a.HostPort == b.HostPort && (a.HostIP == b.HostIP || a.HostIP == "" || b.HostIP == "") {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}
