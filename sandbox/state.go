package sandbox

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/state"
	"github.com/rbox-sandbox/rbox/userns"
)

// Each sandbox owns ROOT/ID/ (meta.json, the log of a detached sandbox, and
// layer/ with its writable layer and mount point), the lock file
// ROOT/ID.lock, which its supervisor holds with flock for the whole run, and
// the name ROOT/names/NAME, a symlink to ID. A lock that can be taken
// belongs to a supervisor that is gone: its sandbox has exited (a detached
// sandbox keeps its directory, without the layer, until rbox rm) or died
// (its directory is stale and the next run removes it). The lock file is
// created with O_TMPFILE, locked, and only then linked into place, so no
// other rbox ever sees it unlocked while its owner lives.

type boxState struct {
	root string
	id   string
	name string
	dir  string
	lock *os.File
	// keep leaves meta.json and the log after the run (detached sandboxes,
	// for rbox ps, wait, logs and rm).
	keep bool
	// stale holds the locks of dead sandboxes we could not delete from the
	// host (files owned by subordinate IDs); the init deletes them inside
	// the user namespace and we finish the job afterwards.
	stale []staleDir
}

type staleDir struct {
	dir  string
	lock *os.File
}

// ensureRoot opens the state root the one safe way (see state.OpenRoot),
// whoever resolved it.
func ensureRoot(root string) error {
	f, err := state.OpenRoot(root, os.Getuid())
	if err != nil {
		return err
	}
	return f.Close()
}

// layer is the directory of the writable layer and the mount point.
func (s *boxState) layer() string { return filepath.Join(s.dir, "layer") }

func newState(root, name string) (*boxState, error) {
	if err := ensureRoot(root); err != nil {
		return nil, err
	}
	// getrandom(2) directly: crypto/rand would bring the FIPS module's
	// package initialisers into every start of the init.
	b := make([]byte, 6)
	if _, err := unix.Getrandom(b, 0); err != nil {
		return nil, fmt.Errorf("random sandbox id: %w", err)
	}
	s := &boxState{root: root, id: hex.EncodeToString(b)}
	s.dir = filepath.Join(root, s.id)
	s.name = name
	if s.name == "" {
		s.name = "rbox-" + s.id[:8]
	}

	fd, err := unix.Open(root, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create lock in %q: %w", root, err)
	}
	s.lock = os.NewFile(uintptr(fd), s.dir+".lock")
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		s.lock.Close()
		return nil, fmt.Errorf("lock %q: %w", s.lock.Name(), err)
	}
	if err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, s.dir+".lock", unix.AT_SYMLINK_FOLLOW); err != nil {
		s.lock.Close()
		return nil, fmt.Errorf("create lock %q: %w", s.lock.Name(), err)
	}
	s.collectStale(root)
	if err := claimName(root, s.name, s.id); err != nil {
		os.Remove(s.dir + ".lock")
		s.lock.Close()
		return nil, err
	}
	for _, d := range []string{s.dir, s.layer()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			s.release(nil)
			return nil, fmt.Errorf("create %q: %w", d, err)
		}
	}
	return s, nil
}

// collectStale removes what killed supervisors left behind. What the host
// user cannot delete is kept locked for the init to remove.
func (s *boxState) collectStale(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || name == s.id {
			continue
		}
		lockPath := filepath.Join(root, e.Name())
		f, err := os.OpenFile(lockPath, os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			f.Close() // alive
			continue
		}
		dir := filepath.Join(root, name)
		if m, err := readMeta(dir); err == nil && m.Status == StatusExited {
			f.Close() // a detached sandbox that ended: kept for rbox rm
			continue
		}
		if removeTree(dir) == nil {
			forget(root, dir, f)
			continue
		}
		s.stale = append(s.stale, staleDir{dir: dir, lock: f})
	}
}

// staleDirs are the directories the init should remove.
func (s *boxState) staleDirs() []string {
	var out []string
	for _, d := range s.stale {
		out = append(out, d.dir)
	}
	return out
}

// release removes the sandbox's directory and lock. Files the workload
// gave to subordinate IDs cannot be deleted by the host user: reap deletes
// them as mapped root, in a user namespace of their own. If even that
// fails, the lock file stays for the next run to find unlocked.
func (s *boxState) release(reap func([]string) error) {
	for _, d := range s.stale {
		if removeTree(d.dir) == nil {
			forget(s.root, d.dir, d.lock)
		} else {
			d.lock.Close()
		}
	}
	gone := s.dir
	if s.keep {
		gone = s.layer()
	}
	err := removeLayout(s.dir, s.keep)
	if err != nil {
		err = removeTree(gone)
	}
	if err != nil && reap != nil {
		reap([]string{gone})
		err = removeTree(gone)
	}
	if err == nil && !s.keep {
		forget(s.root, s.dir, s.lock)
		return
	}
	s.lock.Close()
}

// The entries a run makes in its directory, children before parents
// (a trailing slash marks a directory): layer/ holds the generated files'
// lower layer gen/, the overlay's upper and work directories (work/work
// is the kernel's, mode 000), the mount point merged/, and tmpfs/, the
// mount point of a layer on a tmpfs (overlay.TmpfsLayer).
var (
	layoutLayer = []string{
		"gen/etc/hostname", "gen/etc/hosts", "gen/etc/resolv.conf", "gen/etc/", "gen/",
		"upper/", "work/work/", "work/", "merged/", "tmpfs/",
	}
	layoutDir = []string{"enter.sock", "meta.json"}
)

// removeLayout removes what a run made in dir by name, without walking
// it. An upper layer the workload wrote to, or anything else unknown,
// makes the last rmdir fail, and removeTree takes over.
func removeLayout(dir string, keep bool) error {
	layer := filepath.Join(dir, "layer")
	rm := func(base string, names []string) {
		for _, n := range names {
			flags := 0
			if strings.HasSuffix(n, "/") {
				flags = unix.AT_REMOVEDIR
			}
			unix.Unlinkat(unix.AT_FDCWD, filepath.Join(base, n), flags)
		}
	}
	rm(layer, layoutLayer)
	if err := unix.Rmdir(layer); err != nil || keep {
		return err
	}
	rm(dir, layoutDir)
	return unix.Rmdir(dir)
}

// forget removes a sandbox's name and lock once its directory is gone.
func forget(root, dir string, lock *os.File) {
	id := filepath.Base(dir)
	if names, err := os.ReadDir(filepath.Join(root, "names")); err == nil {
		for _, n := range names {
			p := filepath.Join(root, "names", n.Name())
			if target, _ := os.Readlink(p); target == id {
				os.Remove(p)
			}
		}
	}
	os.Remove(dir + ".lock")
	lock.Close()
}

// claimName links ROOT/names/NAME to id; a name held by a dead sandbox is
// taken over.
func claimName(root, name, id string) error {
	dir := filepath.Join(root, "names")
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %q: %w", dir, err)
	}
	p := filepath.Join(dir, name)
	for try := 0; try < 2; try++ {
		err := os.Symlink(id, p)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("claim name %q: %w", name, err)
		}
		other, _ := os.Readlink(p)
		if _, err := os.Stat(filepath.Join(root, other+".lock")); err == nil {
			return fmt.Errorf("the name %q is in use by sandbox %s: pick another --name, or rbox rm %s once it has exited", name, other, name)
		}
		os.Remove(p) // its sandbox is gone
	}
	return fmt.Errorf("claim name %q: raced with another rbox", name)
}

// removeTree is os.RemoveAll that first makes our own unreadable
// directories (a workload's chmod 000) removable.
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		if err != nil && p != dir {
			// The walk could not enter p: make it enterable and go on.
			os.Chmod(p, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%q still exists", dir)
	}
	return nil
}

// RemoveLayer deletes a --persist directory. Its files may belong to
// subordinate IDs, which only a process in a user namespace with the same
// map can delete, so an init is started to do it.
func RemoveLayer(dir string, o Options) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fail(err)
	}
	// The layer, not a symlink that names it (it was given to --persist
	// so, maybe).
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if st, err := os.Stat(filepath.Join(abs, "upper")); err != nil || !st.IsDir() {
		return fail(fmt.Errorf("%q is not an rbox layer directory (no upper/ inside): refusing to remove it", dir))
	}
	// Closed to everyone else before anything is removed, so a removal
	// that stops half-way (a file of an unmapped ID, a full disk) leaves
	// no planted setuid file reachable.
	if err := closeLayer(abs); err != nil {
		return fail(fmt.Errorf("remove-layer %q: %w", dir, err))
	}
	if removeTree(abs) == nil {
		return nil
	}
	spec := &Spec{IDMap: IDMapAuto}
	plan, helpers, err := planIDMap(spec, o)
	if err != nil {
		return fail(err)
	}
	return reap([]string{abs}, plan, helpers, o)
}

// reap removes directories as root of a new user namespace with the
// user's full map, where files owned by subordinate IDs are ours to
// delete. It builds no sandbox: the init removes them and exits.
func reap(dirs []string, plan idmap.Plan, helpers idmap.Helpers, o Options) error {
	if !plan.Full {
		return fail(fmt.Errorf("cannot remove %q: it holds files of subordinate IDs and you have no subordinate range to map them", dirs[0]))
	}
	cfg := &userns.Config{IDMap: plan, Reap: dirs, ReapOnly: true}
	sb, err := userns.Start(cfg, userns.StartOptions{Executable: o.Executable, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr})
	if err != nil {
		return fail(err)
	}
	if err := idmap.Apply(plan, sb.Pid(), helpers); err != nil {
		sb.Kill()
		return fail(fmt.Errorf("write the ID map: %w", err))
	}
	if err := sb.Go(); err != nil {
		sb.Kill()
		return fail(err)
	}
	if r := sb.Wait(userns.Hooks{}); r.Err != nil {
		return &ExitError{Code: r.Code, Err: r.Err}
	}
	return nil
}
