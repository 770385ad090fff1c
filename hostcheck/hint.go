package hostcheck

import (
	"errors"
	"strings"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/probe"
)

// ProbesFor names the probes of rbox check that explain a failure of
// rbox exec, or none. It reads the error's types, never its wording: the
// code that fails ties its error to a probe (probe.Wrap), the init's
// errors keep that tie across the namespace boundary (their sync
// message carries the names), and cgroupv2's refusals are their own
// type.
func ProbesFor(err error) []string {
	if err == nil {
		return nil
	}
	if errors.Is(err, cgroupv2.ErrUnavailable) {
		return []string{probe.Cgroup, probe.Systemd, probe.Controllers}
	}
	return probe.Of(err)
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
