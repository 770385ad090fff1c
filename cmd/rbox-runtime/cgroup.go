package main

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/oci"
)

func runPause(e *env, name string, args []string) error  { return freeze(e, name, args, true) }
func runResume(e *env, name string, args []string) error { return freeze(e, name, args, false) }

// freeze pauses or resumes through the container's cgroup: cgroup v2's
// cgroup.freeze or v1's freezer. A container without a cgroup cannot be
// paused.
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
	}
	cg, err := r.OpenCgroup()
	if err != nil {
		return err
	}
	if cg == nil {
		return fmt.Errorf("cannot %s container %q: it runs without a cgroup (rootless without a delegated cgroup, or --cgroup-manager disabled), and rbox freezes through the cgroup", name, r.ID)
	}
	if err := cg.Freeze(on); err != nil {
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
	res, err := oci.ParseResources(data)
	if err != nil {
		return fmt.Errorf("--resources %q: %w", *resources, err)
	}
	r, err := load(e, rest[0])
	if err != nil {
		return err
	}
	cg, err := r.OpenCgroup()
	if err != nil {
		return err
	}
	if cg == nil {
		return fmt.Errorf("cannot update container %q: it runs without a cgroup (rootless without a delegated cgroup, or --cgroup-manager disabled), so it has no limits to change", r.ID)
	}
	if err := cg.Update(res); err != nil {
		return fmt.Errorf("update container %q: --resources %q: %w", r.ID, *resources, err)
	}
	return nil
}

// rootless is --rootless, or with auto (the default) whether the runtime
// is anyone but root of the host's user namespace: then a cgroup it
// cannot make is no failure.
func (e *env) rootless() bool {
	switch e.global.rootless {
	case "true":
		return true
	case "false":
		return false
	}
	return os.Geteuid() != 0 || !initialUserNS()
}
