package cgroupv2

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rbox-sandbox/rbox/probe"
)

// Kind names a cgroup manager, as the user picks it (--cgroup-manager).
type Kind string

const (
	Auto     Kind = "auto"     // systemd, else cgroupfs, else an error that says why
	Systemd  Kind = "systemd"  // the user's systemd over D-Bus
	Cgroupfs Kind = "cgroupfs" // the current cgroup, when it is delegated
)

// ParseKind parses a --cgroup-manager value; "" is Auto.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case "":
		return Auto, nil
	case Auto, Systemd, Cgroupfs:
		return k, nil
	}
	return "", &ParseError{Flag: "--cgroup-manager", Value: s, Want: "use auto, systemd or cgroupfs"}
}

// Env is what the package needs from the caller's environment to reach the
// user's systemd. The caller passes os.Getenv("DBUS_SESSION_BUS_ADDRESS")
// and os.Getenv("XDG_RUNTIME_DIR"); the package reads no variables itself.
type Env struct {
	BusAddress string // DBUS_SESSION_BUS_ADDRESS
	RuntimeDir string // XDG_RUNTIME_DIR
}

// Manager makes the cgroup of a sandbox. Both implementations run in the
// supervisor, on the host side, as the unprivileged user.
type Manager interface {
	// Kind is Systemd or Cgroupfs (never Auto).
	Kind() Kind
	// Create makes a new cgroup named after name with the limits l, puts
	// the process pid (the sandbox's init, waiting for "go") in its init
	// leaf and readies the workload's leaf (leaves.go). The limits are
	// validated first. It fails, naming the controller and the fix, when a
	// controller the limits need is not delegated.
	Create(ctx context.Context, name string, l Limits, pid int) (*Cgroup, error)
	// Close releases the manager's connections. Cgroups it made stay usable
	// until destroyed only while the manager is open.
	Close() error
}

// ErrUnavailable is matched (errors.Is) by New's error when no cgroup v2
// manager can work here. A caller that was asked for no limits goes on
// without a cgroup; one that was asked for limits fails with the message.
var ErrUnavailable = errors.New("cgroup v2 manager unavailable")

// UnavailableError says why no manager of the asked kind can work here, one
// reason per manager tried, and how to fix it.
type UnavailableError struct {
	Reasons []string // one line each, without "hint:"
	Hints   []string
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	b.WriteString("cgroup limits are not available: ")
	b.WriteString(strings.Join(e.Reasons, "; "))
	for _, h := range e.Hints {
		b.WriteString("\nhint: ")
		b.WriteString(h)
	}
	return b.String()
}

func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// New returns the manager of the given kind, checking that it can work here:
// the host mounts a pure cgroup v2 hierarchy, and the user's systemd answers
// on the bus (Systemd) or the current cgroup is delegated (Cgroupfs). Auto
// tries systemd, then cgroupfs. Errors match ErrUnavailable.
func New(ctx context.Context, kind Kind, env Env) (Manager, error) {
	mode, err := hostMode()
	if err != nil {
		return nil, err
	}
	if reason, hint := mode.problem(); reason != "" {
		return nil, &UnavailableError{Reasons: []string{reason}, Hints: []string{hint}}
	}
	var u UnavailableError
	if kind == Auto || kind == Systemd {
		m, err := newSystemd(ctx, env)
		if err == nil {
			return m, nil
		}
		var ue *UnavailableError
		if !errors.As(err, &ue) || kind == Systemd {
			return nil, err
		}
		u.Reasons = append(u.Reasons, ue.Reasons...)
		u.Hints = append(u.Hints, ue.Hints...)
	}
	if kind == Auto || kind == Cgroupfs {
		m, err := newCgroupfs()
		if err == nil {
			return m, nil
		}
		var ue *UnavailableError
		if !errors.As(err, &ue) || kind == Cgroupfs {
			return nil, err
		}
		u.Reasons = append(u.Reasons, ue.Reasons...)
		u.Hints = append(u.Hints, ue.Hints...)
	}
	if len(u.Reasons) == 0 {
		return nil, fmt.Errorf("unknown cgroup manager %q: use auto, systemd or cgroupfs", kind)
	}
	return nil, &u
}

// noBusError is the refusal when the caller's environment has no way to the
// user's bus: a process that did not come through a PAM login (su, sudo, a
// system service, some ssh and CI agents) has neither variable.
func noBusError() *UnavailableError {
	uid := os.Getuid()
	return &UnavailableError{
		Reasons: []string{"no user session bus to reach systemd: DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are unset (typical of su, sudo and ssh or CI agents without a PAM login)"},
		Hints:   []string{fmt.Sprintf("log in through PAM (ssh, machinectl shell USER@, su -l), or have root run 'loginctl enable-linger USER' once and set XDG_RUNTIME_DIR=/run/user/%d DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/%d/bus", uid, uid)},
	}
}

// notDelegatedError names the controllers the limits need that the cgroup
// dir does not have, and the systemd drop-in that delegates them.
func notDelegatedError(dir string, need, have []string) error {
	miss := missing(need, have)
	q := make([]string, len(miss))
	for i, n := range miss {
		q[i] = fmt.Sprintf("%q", n)
	}
	what := "the " + q[0] + " controller, which is"
	if len(q) > 1 {
		what = "the " + strings.Join(q, ", ") + " controllers, which are"
	}
	return probe.Wrap(fmt.Errorf("cgroup limits need %s not delegated to %q (it has %q)\n"+
		"hint: as root, write \"[Service]\" and \"Delegate=cpu cpuset io memory pids\" to /etc/systemd/system/user@.service.d/delegate.conf, run 'systemctl daemon-reload', and log in again",
		what, dir, strings.Join(have, " ")), probe.Controllers)
}
