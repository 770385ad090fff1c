package idmap

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/rbox-sandbox/rbox/probe"
)

// Helpers are the paths of the setuid mapping helpers.
type Helpers struct {
	NewUIDMap string
	NewGIDMap string
}

// FindHelpers looks newuidmap and newgidmap up in PATH.
func FindHelpers() (Helpers, error) {
	u, err := exec.LookPath("newuidmap")
	if err != nil {
		return Helpers{}, probe.Wrap(errors.New("newuidmap not found in PATH (install the uidmap package)"), probe.NewUIDMap)
	}
	g, err := exec.LookPath("newgidmap")
	if err != nil {
		return Helpers{}, probe.Wrap(errors.New("newgidmap not found in PATH (install the uidmap package)"), probe.NewGIDMap)
	}
	return Helpers{NewUIDMap: u, NewGIDMap: g}, nil
}

// Apply writes a full plan into the user namespace of pid. It runs
// newuidmap and newgidmap at the same time: they touch different files and
// each costs a fork and exec of a setuid binary, which is most of the start
// latency they add.
func Apply(p Plan, pid int, h Helpers) error {
	if !p.Full {
		return errors.New("a single map is written by the clone itself")
	}
	errc := make(chan error, 1)
	go func() { errc <- runHelper(h.NewGIDMap, helperArgs(pid, p.GID)) }()
	uerr := runHelper(h.NewUIDMap, helperArgs(pid, p.UID))
	gerr := <-errc
	// One line: when both fail it is nearly always for the same reason.
	switch {
	case uerr != nil && gerr != nil:
		return probe.Wrap(fmt.Errorf("%w; %w", uerr, gerr), probe.IDMap)
	case uerr != nil:
		return probe.Wrap(uerr, probe.IDMap)
	}
	return probe.Wrap(gerr, probe.IDMap)
}

func runHelper(path string, args []string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s %s failed: %s", path, strings.Join(args, " "), strings.ReplaceAll(msg, "\n", "; "))
	}
	return nil
}
