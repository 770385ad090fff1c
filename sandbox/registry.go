package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/state"
)

// Info is a sandbox as rbox ps shows it.
type Info struct {
	state.Meta
	// Running is true while its supervisor holds the lock.
	Running bool `json:"running"`
	dir     string
}

// Dir is the sandbox's state directory.
func (i *Info) Dir() string { return i.dir }

// LogPath is where a detached sandbox's output goes.
func (i *Info) LogPath() string { return filepath.Join(i.dir, "log") }

// running tells whether the supervisor of the sandbox in dir still holds
// its lock.
func running(dir string) bool { return state.LockHeld(dir + ".lock") }

// List returns every sandbox of the user: running ones and detached ones
// that exited. A sandbox whose supervisor is gone without recording an
// exit (it was killed) is removed here and never listed, as is a lock
// left without its directory or meta.json by a supervisor killed while it
// started.
func List(root string) ([]*Info, error) {
	if err := state.EnsureRoot(root); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", root, err)
	}
	var out []*Info
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok {
			continue
		}
		dir := filepath.Join(root, id)
		m, err := state.ReadMeta(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && !running(dir) {
				removeDead(root, dir)
			}
			continue // starting, or not a sandbox we can describe
		}
		if m.ID != id {
			continue // not written by the supervisor of this directory
		}
		info := &Info{Meta: *m, Running: running(dir), dir: dir}
		if !info.Running && info.Status != state.Exited {
			removeDead(root, dir)
			continue
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// removeDead cleans a sandbox whose supervisor was killed, if no other
// rbox is doing so.
func removeDead(root, dir string) {
	f, err := os.OpenFile(dir+".lock", os.O_RDWR, 0)
	if err != nil {
		return
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		f.Close()
		return
	}
	if state.RemoveTree(dir) == nil {
		state.Forget(root, dir, f)
		return
	}
	f.Close() // files of subordinate IDs: the next rbox exec reaps them
}

// Find looks a sandbox up by name or by ID (a unique prefix will do).
func Find(root, ref string) (*Info, error) {
	all, err := List(root)
	if err != nil {
		return nil, err
	}
	var byID []*Info
	for _, i := range all {
		if i.Name == ref || i.ID == ref {
			return i, nil
		}
		if strings.HasPrefix(i.ID, ref) {
			byID = append(byID, i)
		}
	}
	if len(byID) == 1 {
		return byID[0], nil
	}
	return nil, fmt.Errorf("no sandbox named %q: rbox ps --all lists them", ref)
}

// Kill sends sig to a running sandbox's workload, through its supervisor,
// which forwards it as it does for exec. SIGKILL and SIGSTOP cannot be
// caught, so they would hit the supervisor itself: those go to the
// sandbox's init instead, and SIGKILL of PID 1 ends the whole sandbox while
// the supervisor records the status and cleans up.
func Kill(root, ref string, sig unix.Signal) error {
	i, err := Find(root, ref)
	if err != nil {
		return err
	}
	if !i.Running {
		return fmt.Errorf("sandbox %q has exited (status %d): nothing to signal", i.Name, *i.ExitCode)
	}
	// A pidfd pins the process, and its start time proves it is the one
	// recorded: a pid that was reused, or one meta.json names without
	// being our supervisor, is never signalled.
	target, start, what := i.SupervisorPid, i.SupervisorStart, "supervisor"
	if sig == unix.SIGKILL || sig == unix.SIGSTOP {
		target, start, what = i.InitPid, i.InitStart, "init"
	}
	pfd, err := state.OpenProcess(target, start, what)
	if err != nil {
		return fmt.Errorf("sandbox %q: %w", i.Name, err)
	}
	defer unix.Close(pfd)
	if !running(i.dir) {
		return fmt.Errorf("sandbox %q has just exited", i.Name)
	}
	if err := unix.PidfdSendSignal(pfd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal sandbox %q: %w", i.Name, err)
	}
	return nil
}

// Wait blocks until the sandbox ends and returns its exit status. It waits
// on the supervisor's lock, not by polling.
func Wait(root, ref string) (int, error) {
	i, err := Find(root, ref)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(i.dir + ".lock")
	if err != nil {
		return 0, fmt.Errorf("sandbox %q: %w", i.Name, err)
	}
	defer f.Close()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH)
		if err != unix.EINTR {
			break
		}
	}
	m, err := state.ReadMeta(i.dir)
	if err != nil || m.ExitCode == nil {
		return 0, fmt.Errorf("sandbox %q ended without recording a status (its supervisor was killed)", i.Name)
	}
	return *m.ExitCode, nil
}

// Remove deletes an exited sandbox: its state, log and name.
func Remove(root, ref string, o Options) error {
	i, err := Find(root, ref)
	if err != nil {
		return err
	}
	if i.Running {
		return fmt.Errorf("sandbox %q is running: rbox kill %s first", i.Name, i.Name)
	}
	f, err := os.OpenFile(i.dir+".lock", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		f.Close()
		return fmt.Errorf("sandbox %q is busy", i.Name)
	}
	if err := state.RemoveTree(i.dir); err != nil {
		f.Close()
		return fmt.Errorf("remove %s: %w", i.dir, err)
	}
	state.Forget(root, i.dir, f)
	return nil
}

// Uptime is how long a sandbox has run, or ran.
func (i *Info) Uptime(now time.Time) time.Duration {
	if !i.Finished.IsZero() {
		return i.Finished.Sub(i.Created)
	}
	return now.Sub(i.Created)
}
