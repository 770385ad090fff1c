package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A running sandbox holds locks/use-HEX.lock shared (LOCK_SH) for each of
// its layers, for as long as its supervisor lives; the lock goes with the
// process, however it ends, as the state root's ID.lock does. Removal
// takes the same lock exclusively and without waiting: rmi refuses a
// removal that would delete a layer in use, and collect keeps such a
// layer for a later prune (deferred). These are not the pull locks
// (locks/HEX.lock, held exclusively while a layer is fetched): a sandbox
// holding those would stall every pull of its image.

// InUseError is an rmi refused because a running sandbox uses a layer it
// would delete. Layers are the layer roots (Store.LayerRoot) in use; the
// caller, which knows the sandboxes, names the one that holds them.
type InUseError struct {
	Ref    string
	Layers []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("rmi %s: the image is in use by a running sandbox: stop it first", e.Ref)
}

// InUse is what Use holds; Release lets go of it (the process's exit does
// the same).
type InUse struct{ files []*os.File }

// Release drops the shared locks.
func (u *InUse) Release() {
	for _, f := range u.files {
		f.Close()
	}
	u.files = nil
}

func (s *Store) useLockPath(diffID string, flat bool) string {
	h, _ := hexOf(diffID)
	kind := "use-"
	if flat {
		kind = "use-flat-"
	}
	return filepath.Join(s.Root, "locks", kind+h+".lock")
}

// Use takes the shared in-use lock of every layer of rec, waiting for a
// removal under way, then checks that the layers are still stored: an
// rmi that got there first leaves nothing to run.
func (s *Store) Use(rec Record) (*InUse, error) {
	u := &InUse{}
	for _, d := range rec.Layers {
		f, err := os.OpenFile(s.useLockPath(d, rec.Flat), os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			u.Release()
			return nil, fmt.Errorf("lock the layers of %s: %w", rec.Ref, err)
		}
		if err := flock(f, unix.LOCK_SH); err != nil {
			f.Close()
			u.Release()
			return nil, fmt.Errorf("lock the layers of %s: %w", rec.Ref, err)
		}
		u.files = append(u.files, f)
		if !s.hasLayer(d, rec.Flat) {
			u.Release()
			return nil, fmt.Errorf("image %s: layer %s was removed meanwhile: pull it again", rec.Ref, d)
		}
	}
	return u, nil
}

// UseLocks are the in-use lock files of rec's layers, for a supervisor
// to hold shared (state.HoldShared) while a sandbox runs on them.
func (s *Store) UseLocks(rec Record) []string {
	var out []string
	for _, d := range rec.Layers {
		out = append(out, s.useLockPath(d, rec.Flat))
	}
	return out
}

// tryRemoval takes a layer's in-use lock exclusively without waiting; nil
// means a running sandbox holds it.
func (s *Store) tryRemoval(diffID string, flat bool) *os.File {
	f, err := os.OpenFile(s.useLockPath(diffID, flat), os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil
	}
	if flock(f, unix.LOCK_EX|unix.LOCK_NB) != nil {
		f.Close()
		return nil
	}
	return f
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// layerKey names a layer in the maps of collect: "mapped/HEX", "flat/HEX".
func layerKey(diffID string, flat bool) string {
	h, _ := hexOf(diffID)
	if flat {
		return "flat/" + h
	}
	return "mapped/" + h
}

// splitKey is layerKey's inverse.
func splitKey(k string) (diffID string, flat bool) {
	kind, h, _ := strings.Cut(k, "/")
	return "sha256:" + h, kind == "flat"
}
