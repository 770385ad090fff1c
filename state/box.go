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

// Each sandbox owns ROOT/ID/ (meta.json, sockets, the log of a detached
// sandbox), the lock file ROOT/ID.lock, which its supervisor holds with
// flock for the whole run, and the name ROOT/names/NAME, a symlink to ID. A
// lock that can be taken belongs to a supervisor that is gone: its sandbox
// has exited (a detached sandbox keeps its directory until rbox rm) or died
// (its directory is stale and the next run removes it). The lock file is
// created with O_TMPFILE, locked, and only then linked into place, so no
// other rbox ever sees it unlocked while its owner lives.
//
// The writable layer and the mount point, {gen,upper,work,merged}, live on
// disk in LAYERS/ID (the layer root, $XDG_DATA_HOME/rbox/sandboxes): ROOT
// is $XDG_RUNTIME_DIR/rbox on systemd hosts, a tmpfs of 10% of RAM, which a
// workload writing gigabytes into its root would fill. LAYERS/ID has a lock
// of its own, LAYERS/ID.lock, made the same way and held by the same
// supervisor (a link cannot cross file systems), so a sweep judges a layer
// by its own lock alone: whatever state root its sandbox used, and after a
// reboot emptied the runtime directory. A layer never outlives its run, so
// an unlocked one is always stale.

// Box is one sandbox's share of the state root, held for its run.
type Box struct {
	root string
	// ID is the sandbox's random id; Name its name (rbox-<id> unless
	// given); Dir is ROOT/ID.
	ID, Name, Dir string
	lock          *os.File
	// layerRoot holds the writable layers ("" to keep them in Dir).
	layerRoot string
	layerLock *os.File
	// LayerNote says why the layer is in Dir after all ("" if it is not).
	LayerNote string
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
	// forget removes what names the directory once it is gone.
	forget func()
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
func (s *Box) Layer() string {
	if s.layerRoot != "" {
		return filepath.Join(s.layerRoot, s.ID)
	}
	return filepath.Join(s.Dir, "layer")
}

// openLayerRoot makes and checks dir (LAYERS) and its parent, rbox's
// directory in $XDG_DATA_HOME, as state roots are checked: another user
// who could write there could plant files in a sandbox's root. A
// directory that cannot be made (no writable home) is "", the state
// directory's place for the layer, with the reason second.
func openLayerRoot(dir string) (root, why string, err error) {
	if dir == "" {
		return "", "", nil
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Dir(dir)), 0o755); err != nil {
		return "", err.Error(), nil
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		f, err := OpenRoot(d, os.Getuid())
		var fe *ForeignError
		if errors.As(err, &fe) {
			return "", "", fmt.Errorf("%w (it holds the sandboxes' writable layers; or set XDG_DATA_HOME)", err)
		}
		if err != nil {
			return "", err.Error(), nil
		}
		f.Close()
	}
	return dir, "", nil
}

// lockedFile creates dir/NAME.lock the way that no one sees it unlocked:
// an O_TMPFILE, flocked, then linked into place.
func lockedFile(dir, name string) (*os.File, error) {
	path := filepath.Join(dir, name+".lock")
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create lock in %q: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %q: %w", path, err)
	}
	if err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW); err != nil {
		f.Close()
		return nil, fmt.Errorf("create lock %q: %w", path, err)
	}
	return f, nil
}

// NewBox makes a sandbox's directory, lock and name in root and its layer
// directory in layerRoot ("": in the sandbox's directory), and sweeps what
// killed supervisors left in both.
func NewBox(root, layerRoot, name string) (*Box, error) {
	if err := EnsureRoot(root); err != nil {
		return nil, err
	}
	layerRoot, why, err := openLayerRoot(layerRoot)
	if err != nil {
		return nil, err
	}
	// getrandom(2) directly: crypto/rand would bring the FIPS module's
	// package initialisers into every start of the init.
	b := make([]byte, 6)
	if _, err := unix.Getrandom(b, 0); err != nil {
		return nil, fmt.Errorf("random sandbox id: %w", err)
	}
	s := &Box{root: root, ID: hex.EncodeToString(b), LayerNote: why}
	s.Dir = filepath.Join(root, s.ID)
	s.Name = name
	if s.Name == "" {
		s.Name = "rbox-" + s.ID[:8]
	}
	if s.lock, err = lockedFile(root, s.ID); err != nil {
		return nil, err
	}
	if layerRoot != "" {
		if s.layerLock, err = lockedFile(layerRoot, s.ID); err != nil {
			// A file system without O_TMPFILE: the layer stays in Dir.
			s.LayerNote = err.Error()
		} else {
			s.layerRoot = layerRoot
		}
	}
	s.collectStale(root)
	s.collectStaleLayers()
	if err := claimName(root, s.Name, s.ID); err != nil {
		s.dropLayerLock()
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
		s.stale = append(s.stale, staleDir{dir: dir, lock: f, forget: func() { Forget(root, dir, f) }})
	}
}

// collectStaleLayers removes the writable layers whose lock is free: their
// supervisors are gone (a layer outlives no run).
func (s *Box) collectStaleLayers() {
	if s.layerRoot == "" {
		return
	}
	entries, err := os.ReadDir(s.layerRoot)
	if err != nil {
		return
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || id == s.ID {
			continue
		}
		lockPath := filepath.Join(s.layerRoot, e.Name())
		f, err := os.OpenFile(lockPath, os.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			f.Close() // alive
			continue
		}
		dir := filepath.Join(s.layerRoot, id)
		drop := func() { os.Remove(lockPath); f.Close() }
		if RemoveTree(dir) == nil {
			drop()
			continue
		}
		s.stale = append(s.stale, staleDir{dir: dir, lock: f, forget: drop})
	}
}

// dropLayerLock removes the layer's lock once its directory is gone (or
// was never made), and lets go of it.
func (s *Box) dropLayerLock() {
	if s.layerLock == nil {
		return
	}
	if _, err := os.Lstat(s.Layer()); errors.Is(err, fs.ErrNotExist) {
		os.Remove(s.Layer() + ".lock")
	}
	s.layerLock.Close()
	s.layerLock = nil
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
			d.forget()
		} else {
			d.lock.Close()
		}
	}
	if removeLayout(s.Layer(), s.Dir, s.Keep) != nil {
		var gone []string
		if s.layerRoot != "" || s.Keep {
			gone = append(gone, s.Layer())
		}
		if !s.Keep {
			gone = append(gone, s.Dir)
		}
		var left []string
		for _, d := range gone {
			if RemoveTree(d) != nil {
				left = append(left, d)
			}
		}
		if left != nil && reap != nil {
			reap(left)
			for _, d := range left {
				RemoveTree(d)
			}
		}
	}
	s.dropLayerLock()
	if _, err := os.Lstat(s.Dir); !s.Keep && errors.Is(err, fs.ErrNotExist) {
		Forget(s.root, s.Dir, s.lock)
		return
	}
	s.lock.Close()
}

// The entries a run makes, children before parents (a trailing slash
// marks a directory): its layer directory (LAYERS/ID, or ROOT/ID/layer)
// holds the generated files' lower layer gen/, the overlay's upper and
// work directories (work/work is the kernel's, mode 000, and so is the
// work/work/incompat/volatile/dirty a volatile overlay leaves) and the mount
// point merged/; its state directory the socket and meta.json.
var (
	layoutLayer = []string{
		"gen/etc/hostname", "gen/etc/hosts", "gen/etc/resolv.conf", "gen/etc/", "gen/",
		"upper/", "work/work/incompat/volatile/dirty", "work/work/incompat/volatile/", "work/work/incompat/", "work/work/", "work/", "merged/", "tmpfs/",
	}
	// layoutOpen are the kernel's mode-000 directories with entries of
	// their own: made searchable and writable before the removal.
	layoutOpen = []string{"work/work", "work/work/incompat", "work/work/incompat/volatile"}
	layoutDir  = []string{"enter.sock", "meta.json"}
)

// removeLayout removes what a run made by name, without walking it: the
// layer directory, then (unless keep) the state directory dir. An upper
// layer the workload wrote to, or anything else unknown, makes an rmdir
// fail, and RemoveTree takes over.
func removeLayout(layer, dir string, keep bool) error {
	rm := func(base string, names []string) {
		for _, n := range names {
			flags := 0
			if strings.HasSuffix(n, "/") {
				flags = unix.AT_REMOVEDIR
			}
			unix.Unlinkat(unix.AT_FDCWD, filepath.Join(base, n), flags)
		}
	}
	for _, n := range layoutOpen {
		unix.Fchmodat(unix.AT_FDCWD, filepath.Join(layer, n), 0o700, 0)
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
