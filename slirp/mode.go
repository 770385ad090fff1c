package slirp

import (
	"fmt"
	"strings"
)

// Kinds of network.
const (
	None  = "none"  // an own namespace with only lo
	Host  = "host"  // the host's namespace
	Slirp = "slirp" // an own namespace reached through slirp4netns
	Pasta = "pasta" // an own namespace reached through passt's pasta
)

// optAllowHostLoopback lets the sandbox reach the host's 127.0.0.1 through
// the gateway (10.0.2.2).
const optAllowHostLoopback = "allow-host-loopback"

// Mode is a parsed --net value.
type Mode struct {
	Kind string `json:"kind"`
	// AllowHostLoopback lets the sandbox connect to services that listen
	// on the host's loopback addresses, through the gateway address.
	AllowHostLoopback bool `json:"allowHostLoopback,omitempty"`
}

// ParseMode parses none, host, slirp[:allow-host-loopback] or
// pasta[:allow-host-loopback]. Its error says what is wrong with the
// value; the caller names the value and where it came from.
func ParseMode(s string) (Mode, error) {
	kind, opts, hasOpts := strings.Cut(s, ":")
	m := Mode{Kind: kind}
	switch kind {
	case None, Host:
		if hasOpts {
			return Mode{}, fmt.Errorf("%s takes no options", kind)
		}
		return m, nil
	case Slirp, Pasta:
	default:
		return Mode{}, fmt.Errorf("use slirp, pasta, none or host (slirp and pasta accept :%s)", optAllowHostLoopback)
	}
	if hasOpts {
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case optAllowHostLoopback:
				m.AllowHostLoopback = true
			default:
				return Mode{}, fmt.Errorf("unknown option %q (the only one is %s)", o, optAllowHostLoopback)
			}
		}
	}
	return m, nil
}

// String is the --net value that gives m.
func (m Mode) String() string {
	if m.AllowHostLoopback {
		return m.Kind + ":" + optAllowHostLoopback
	}
	return m.Kind
}

// UserMode reports whether a user-mode stack (slirp4netns or pasta)
// connects the sandbox.
func (m Mode) UserMode() bool { return m.Kind == Slirp || m.Kind == Pasta }

// Tool is a program a network mode runs on the host, and the Debian
// package that has it.
type Tool struct{ Bin, Pkg string }

// Tools lists what m runs on the host: its helper. (slirp4netns makes
// the tap device itself; rootlesskit's driver ran nsenter and ip for it.)
func (m Mode) Tools() []Tool {
	switch m.Kind {
	case Slirp:
		return []Tool{{"slirp4netns", "slirp4netns"}}
	case Pasta:
		return []Tool{{"pasta", "passt"}}
	}
	return nil
}

// Helper is the program behind a user-mode network.
func (m Mode) Helper() string {
	if m.Kind == Pasta {
		return "pasta"
	}
	return "slirp4netns"
}

// MTU bounds: 65520 is slirp4netns's and rootlesskit's default and its
// largest; below 576 IPv4 itself breaks, and pasta refuses less than 68.
const (
	DefaultMTU = 65520
	MinMTU     = 576
	MaxMTU     = 65520
)

// CheckMTU checks an MTU; 0 means the default. Its error says what to
// use; the caller names the value.
func CheckMTU(mtu int) error {
	if mtu != 0 && (mtu < MinMTU || mtu > MaxMTU) {
		return fmt.Errorf("use a value from %d to %d (default %d)", MinMTU, MaxMTU, DefaultMTU)
	}
	return nil
}
