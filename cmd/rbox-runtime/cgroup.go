package main

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/oci"
)

func runPause(e *env, name string, args []string) error  { return freeze(e, name, args, true) }
func runResume(e *env, name string, args []string) error { return freeze(e, name, args, false) }

// freeze pauses or resumes through cgroup v2's cgroup.freeze: the only
// freezer rbox has. A container without a cgroup cannot be paused.
func freeze(e *env, name string, args []string, on bool) error {
	rest, err := parse(newFlags(name), args, 1, 1)
	if err != nil {
		return err
	}
	st, r, unlock, err := e.loadLocked(rest[0])
	if err != nil {
		return err
	}
	defer unlock()
	s := r.State().Status
	switch {
	case on && s != specs.StateRunning:
		return fmt.Errorf("cannot pause container %q: it is %s, not running", r.ID, s)
	case !on && s != oci.StatePaused:
		return fmt.Errorf("cannot resume container %q: it is %s, not paused", r.ID, s)
	case r.Cgroup == "":
		return fmt.Errorf("cannot %s container %q: it runs without a cgroup (no delegated cgroup v2 here), and rbox freezes through the cgroup", name, r.ID)
	}
	v := "0"
	if on {
		v = "1"
	}
	if err := os.WriteFile(filepath.Join(r.Cgroup, "cgroup.freeze"), []byte(v), 0); err != nil {
		return fmt.Errorf("%s container %q: %w", name, r.ID, err)
	}
	r.Paused = on
	return st.Save(r)
}

func runUpdate(e *env, name string, args []string) error {
	fs := newFlags(name)
	resources := fs.String("resources", "", "")
	fs.StringVar(resources, "r", "", "")
	rest, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *resources == "" {
		return fmt.Errorf("no --resources: give --resources FILE, or - for stdin (rbox-runtime takes runc's JSON form only)")
	}
	data, err := readInput(*resources, e.stdin)
	if err != nil {
		return fmt.Errorf("--resources: %w", err)
	}
	if _, err := oci.ParseResources(data); err != nil {
		return fmt.Errorf("--resources %q: %w", *resources, err)
	}
	r, err := load(e, rest[0])
	if err != nil {
		return err
	}
	if r.Cgroup == "" {
		return fmt.Errorf("cannot update container %q: it runs without a cgroup (no delegated cgroup v2 here), so it has no limits to change", r.ID)
	}
	return fmt.Errorf("%w: changing the limits of container %q waits for rbox's sandbox plan", errNotYet, r.ID)
}
