package cgroupv2

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// Sweeping removes what a supervisor that was SIGKILLed left behind. Its
// sandbox dies with it (the init has a parent-death signal), so its cgroup
// empties; then:
//
//   - systemd: the scope stops and systemd removes its cgroup by itself, but
//     the per-sandbox slice app-rbox-NAME.slice (which only holds counters)
//     stays until someone stops it;
//   - cgroupfs: CURRENT/rbox-NAME stays, empty, until someone removes it.
//
// A later run that uses a manager sweeps them: every sandbox cgroup that has
// no process left and whose name live reports as not alive. A cgroup with
// processes is never touched, so a sweep can never kill a running sandbox.

// Sweep removes the empty cgroups of sandboxes that are gone. live reports
// whether the sandbox of that name still has a supervisor; a sandbox that
// is live but empty (its supervisor reading the statistics) is left alone.
func Sweep(ctx context.Context, m Manager, live func(name string) bool) error {
	switch m := m.(type) {
	case *systemdManager:
		return m.sweep(ctx, live)
	case *cgroupfsManager:
		return m.sweep(ctx, live)
	}
	return nil
}

// emptyCgroups lists the children of dir named PREFIX+NAME+SUFFIX that have no
// process, by NAME.
func emptyCgroups(dir, prefix, suffix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		if n, ok = strings.CutSuffix(n, suffix); !ok || n == "" {
			continue
		}
		ev, err := readFile(filepath.Join(dir, e.Name(), "cgroup.events"), parseFlatKeyed)
		if err != nil || ev["populated"] != 0 {
			continue
		}
		names = append(names, n)
	}
	return names, nil
}

// sweep stops the empty per-sandbox slices in app-rbox.slice. Their
// directory is found next to the slice of a sandbox this manager made, or
// asked of systemd.
func (m *systemdManager) sweep(ctx context.Context, live func(string) bool) error {
	p, err := m.conn.GetUnitTypePropertyContext(ctx, "app-rbox.slice", "Slice", "ControlGroup")
	if err != nil {
		return fmt.Errorf("find app-rbox.slice: %w", err)
	}
	rel, _ := p.Value.Value().(string)
	if !strings.HasPrefix(rel, "/") {
		return nil // not started: nothing of rbox's is there
	}
	names, err := emptyCgroups(filepath.Join(mountRoot, rel), "app-rbox-", ".slice")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, esc := range names {
		name := unit.UnitNameUnescape(esc)
		if live(name) {
			continue
		}
		slice := "app-rbox-" + esc + ".slice"
		err := m.runJob(ctx, "stop "+slice, func(ch chan<- string) (int, error) {
			return m.conn.StopUnitContext(ctx, slice, "replace", ch)
		})
		if err != nil && !isNoSuchUnit(err) {
			errs = append(errs, fmt.Errorf("stop leftover slice %q: %w", slice, err))
		}
	}
	return errors.Join(errs...)
}

// sweep removes the empty CURRENT/rbox-NAME cgroups.
func (m *cgroupfsManager) sweep(ctx context.Context, live func(string) bool) error {
	names, err := emptyCgroups(m.base, "rbox-", "")
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if n == strings.TrimPrefix(leafName, "rbox-") || live(n) {
			continue
		}
		if err := removeCgroup(ctx, filepath.Join(m.base, "rbox-"+n)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
