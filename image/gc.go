package image

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Image is one record with what `rbox images` prints.
type Image struct {
	Record
	Size int64 `json:"size"` // bytes of its layers' files
}

// List returns the images and the bytes their layers take, shared layers
// counted once.
func (s *Store) List() ([]Image, int64, error) {
	rs, err := s.Records()
	if err != nil {
		return nil, 0, err
	}
	seen := map[string]bool{}
	var total int64
	out := make([]Image, 0, len(rs))
	for _, r := range rs {
		im := Image{Record: r}
		for _, d := range r.Layers {
			li, err := s.layerInfo(d, r.Flat)
			if err != nil {
				continue
			}
			im.Size += li.Size
			key := fmt.Sprint(r.Flat, d)
			if !seen[key] {
				seen[key] = true
				total += li.Size
			}
		}
		out = append(out, im)
	}
	return out, total, nil
}

// Collected is what a removal did: the DiffIDs of the layers removed,
// and of those kept because a running sandbox uses them (a later prune
// removes them once it has ended).
type Collected struct {
	Removed, Kept []string
}

// Remove deletes the records of refs (canonical forms) and then every
// layer and blob no record uses any more. A ref not in the store, or one
// whose removal would delete a layer that a running sandbox uses (an
// *InUseError), fails the whole call before anything is removed.
func (s *Store) Remove(refs []string, exe string) (Collected, error) {
	gc, err := s.lock("gc", false, false)
	if err != nil {
		return Collected{}, err
	}
	defer unlock(gc)
	rs, err := s.Records()
	if err != nil {
		return Collected{}, err
	}
	drop := map[string]bool{}
	for _, r := range refs {
		drop[r] = true
	}
	have := map[string]bool{}
	kept := map[string]bool{} // layers the remaining records use
	for _, r := range rs {
		have[r.Ref] = true
		if !drop[r.Ref] {
			for _, d := range r.Layers {
				kept[layerKey(d, r.Flat)] = true
			}
		}
	}
	for _, ref := range refs {
		if !have[ref] {
			return Collected{}, fmt.Errorf("%s: %w (see rbox images)", ref, errNotFound)
		}
	}
	// The layers this removal deletes are taken exclusively now and held
	// until they are gone, so no sandbox starts on one meanwhile.
	held := map[string]*os.File{}
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	for _, r := range rs {
		if !drop[r.Ref] {
			continue
		}
		var busy []string
		for _, d := range r.Layers {
			k := layerKey(d, r.Flat)
			if kept[k] || held[k] != nil {
				continue
			}
			f := s.tryRemoval(d, r.Flat)
			if f == nil {
				busy = append(busy, s.LayerRoot(d, r.Flat))
				continue
			}
			held[k] = f
		}
		if busy != nil {
			return Collected{}, &InUseError{Ref: r.Ref, Layers: busy}
		}
	}
	if err := s.update(func(rs []Record) []Record {
		out := rs[:0]
		for _, r := range rs {
			if !drop[r.Ref] {
				out = append(out, r)
			}
		}
		return out
	}); err != nil {
		return Collected{}, err
	}
	return s.collect(exe, held)
}

// Prune removes what no record uses: layers, blobs and what killed pulls
// left in tmp/. Layers in use by a running sandbox are kept.
func (s *Store) Prune(exe string) (Collected, error) {
	gc, err := s.lock("gc", false, false)
	if err != nil {
		return Collected{}, err
	}
	defer unlock(gc)
	held := map[string]*os.File{}
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	return s.collect(exe, held)
}

// collect runs with the gc lock held alone: no pull is under way. held
// has the in-use locks the caller took already (flock conflicts between
// two descriptions of one file, even in one process); collect adds the
// ones it takes, and the caller closes them all.
func (s *Store) collect(exe string, held map[string]*os.File) (Collected, error) {
	var c Collected
	rs, err := s.Records()
	if err != nil {
		return c, err
	}
	used := map[string]bool{}
	for _, r := range rs {
		used[r.Manifest], used[r.Config] = true, true
		for _, d := range r.Layers {
			used[layerKey(d, r.Flat)] = true
		}
	}
	var doomed, locks []string
	for _, kind := range []struct{ dir, key string }{{"layers", "mapped/"}, {"layers-flat", "flat/"}} {
		names, _ := readNames(filepath.Join(s.Root, kind.dir))
		for _, n := range names {
			k := kind.key + n
			if used[k] {
				continue
			}
			d, flat := splitKey(k)
			if held[k] == nil {
				f := s.tryRemoval(d, flat)
				if f == nil {
					c.Kept = append(c.Kept, d)
					continue
				}
				held[k] = f
			}
			doomed = append(doomed, filepath.Join(s.Root, kind.dir, n))
			locks = append(locks, s.useLockPath(d, flat))
			c.Removed = append(c.Removed, d)
		}
	}
	tmp, _ := readNames(filepath.Join(s.Root, "tmp"))
	for _, n := range tmp {
		doomed = append(doomed, filepath.Join(s.Root, "tmp", n))
	}
	if len(doomed) > 0 {
		h, err := newHelper(exe)
		if err != nil {
			return c, err
		}
		if err := h.remove(doomed...); err != nil {
			return c, err
		}
	}
	// A sandbox that opened one of these before we took it finds its
	// layer gone once it gets the lock (Use checks after locking), so the
	// files may go with their layers.
	for _, l := range locks {
		os.Remove(l)
	}
	blobs, _ := readNames(filepath.Join(s.Root, "blobs", "sha256"))
	for _, n := range blobs {
		if !used["sha256:"+n] {
			os.Remove(filepath.Join(s.Root, "blobs", "sha256", n))
		}
	}
	return c, nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	out := names[:0]
	for _, n := range names {
		if !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out, err
}
