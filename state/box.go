package state

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
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

// Box is one sandbox's share of the state root, held for its run.
type Box struct {
	root string
	// ID is the sandbox's random id; Name its name (rbox-<id> unless
	// given); Dir is ROOT/ID.
	ID, Name, Dir string
	lock          *os.File
	// Keep leaves meta.json and the log after the run (detached sandboxes,
	// for rbox ps, wait, logs and rm).
	Keep bool
	// stale holds the locks of dead sandboxes we could not delete from the
	// host (files owned by subordinate IDs); the init deletes them inside
	// the user namespace and we finish the job afterwards.
	stale []staleDir
}

type staleDir struct {
	dir  string
	lock *os.File
}

// EnsureRoot opens the state root the one safe way (see OpenRoot),
// whoever resolved it.
func EnsureRoot(root string) error {
	f, err := OpenRoot(root, os.Getuid())
	if err != nil {
		return err
	}
	return f.Close()
}

// Layer is the directory of the writable layer and the mount point.
func (s *Box) Layer() string { return filepath.Join(s.Dir, "layer") }

// NewBox makes a sandbox's directory, lock and name in root, and sweeps
// what killed supervisors left there.
func NewBox(root, name string) (*Box, error) {
	if err := EnsureRoot(root); err != nil {
		return nil, err
	}
	// getrandom(2) directly: crypto/rand would bring the FIPS module's
	// package initialisers into every start of the init.
	b := make([]byte, 6)
	if _, err := unix.Getrandom(b, 0); err != nil {
		return nil, fmt.Errorf("random sandbox id: %w", err)
	}
	s := &Box{root: root, ID: hex.EncodeToString(b)}
	s.Dir = filepath.Join(root, s.ID)
	s.Name = name
	if s.Name == "" {
		s.Name = "rbox-" + s.ID[:8]
	}

	fd, err := unix.Open(root, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create lock in %q: %w", root, err)
	}
	s.lock = os.NewFile(uintptr(fd), s.Dir+".lock")
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		s.lock.Close()
		return nil, fmt.Errorf("lock %q: %w", s.lock.Name(), err)
	}
	if err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, s.Dir+".lock", unix.AT_SYMLINK_FOLLOW); err != nil {
		s.lock.Close()
		return nil, fmt.Errorf("create lock %q: %w", s.lock.Name(), err)
	}
	s.collectStale(root)
	if err := claimName(root, s.Name, s.ID); err != nil {
		os.Remove(s.Dir + ".lock")
		s.lock.Close()
		return nil, err
	}
	for _, d := range []string{s.Dir, s.Layer()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			s.Release(nil)
			return nil, fmt.Errorf("create %q: %w", d, err)
		}
	}
	return s, nil
}

// collectStale removes what killed supervisors left behind. What the host
// user cannot delete is kept locked for the init to remove.
func (s *Box) collectStale(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || name == s.ID {
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
		if m, err := ReadMeta(dir); err == nil && m.Status == Exited {
			f.Close() // a detached sandbox that ended: kept for rbox rm
			continue
		}
		if RemoveTree(dir) == nil {
			Forget(root, dir, f)
			continue
		}
		s.stale = append(s.stale, staleDir{dir: dir, lock: f})
	}
}

// StaleDirs are the directories the init should remove.
func (s *Box) StaleDirs() []string {
	var out []string
	for _, d := range s.stale {
		out = append(out, d.dir)
	}
	return out
}

// Release removes the sandbox's directory and lock. Files the workload
// gave to subordinate IDs cannot be deleted by the host user: reap deletes
// them as mapped root, in a user namespace of their own. If even that
// fails, the lock file stays for the next run to find unlocked.
func (s *Box) Release(reap func([]string) error) {
	for _, d := range s.stale {
		if RemoveTree(d.dir) == nil {
			Forget(s.root, d.dir, d.lock)
		} else {
			d.lock.Close()
		}
	}
	gone := s.Dir
	if s.Keep {
		gone = s.Layer()
	}
	err := removeLayout(s.Dir, s.Keep)
	if err != nil {
		err = RemoveTree(gone)
	}
	if err != nil && reap != nil {
		reap([]string{gone})
		err = RemoveTree(gone)
	}
	if err == nil && !s.Keep {
		Forget(s.root, s.Dir, s.lock)
		return
	}
	s.lock.Close()
}

// The entries a run makes in its directory, children before parents
// (a trailing slash marks a directory): layer/ holds the generated files'
// lower layer gen/, the overlay's upper and work directories (work/work
// is the kernel's, mode 000) and the mount point merged/.
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

// Forget removes a sandbox's name and lock once its directory is gone.
func Forget(root, dir string, lock *os.File) {
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
			return &NameInUseError{Name: name, ID: other}
		}
		os.Remove(p) // its sandbox is gone
	}
	return fmt.Errorf("claim name %q: raced with another rbox", name)
}

// RemoveTree is os.RemoveAll that first makes our own unreadable
// directories (a workload's chmod 000) removable.
func RemoveTree(dir string) error {
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

// NameInUseError is a name that a live or kept sandbox holds.
type NameInUseError struct{ Name, ID string }

func (e *NameInUseError) Error() string {
	return fmt.Sprintf("the name %q is in use by sandbox %s", e.Name, e.ID)
}
