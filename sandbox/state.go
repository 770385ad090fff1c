package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/state"
	"github.com/rbox-sandbox/rbox/userns"
)

// RemoveLayer deletes a --persist directory. Its files may belong to
// subordinate IDs, which only a process in a user namespace with the same
// map can delete, so an init is started to do it.
func RemoveLayer(dir string, o Options) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// The layer, not a symlink that names it (it was given to --persist
	// so, maybe).
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if st, err := os.Stat(filepath.Join(abs, "upper")); err != nil || !st.IsDir() {
		return fmt.Errorf("%q is not an rbox layer directory (no upper/ inside): refusing to remove it", dir)
	}
	// Closed to everyone else before anything is removed, so a removal
	// that stops half-way (a file of an unmapped ID, a full disk) leaves
	// no planted setuid file reachable.
	if err := closeLayer(abs); err != nil {
		return fmt.Errorf("remove-layer %q: %w", dir, err)
	}
	if state.RemoveTree(abs) == nil {
		return nil
	}
	// The fallback's warning is left out: reap says why it cannot go on.
	plan, helpers, _, err := planIDMap(&Spec{IDMap: IDMapAuto}, HostEnv())
	if err != nil {
		return err
	}
	return reap([]string{abs}, plan, helpers, o)
}

// reap removes directories as root of a new user namespace with the
// user's full map, where files owned by subordinate IDs are ours to
// delete. It builds no sandbox: the init removes them and exits.
func reap(dirs []string, plan idmap.Plan, helpers idmap.Helpers, o Options) error {
	if !plan.Full {
		return fmt.Errorf("cannot remove %q: it holds files of subordinate IDs and you have no subordinate range to map them", dirs[0])
	}
	cfg := &userns.Config{IDMap: plan, Reap: dirs}
	sb, err := userns.Start(cfg, userns.StartOptions{Reaper: true, Executable: o.Executable, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr})
	if err != nil {
		return err
	}
	if err := idmap.Apply(plan, sb.Pid(), helpers); err != nil {
		sb.Kill()
		return fmt.Errorf("write the ID map: %w", err)
	}
	if err := sb.Go(); err != nil {
		sb.Kill()
		return err
	}
	if r := sb.Wait(userns.Hooks{}); r.Err != nil {
		return r.Err
	}
	return nil
}
