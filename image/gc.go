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

// Remove deletes the records of refs (canonical forms) and then every
// layer and blob no record uses any more. A ref not in the store fails
// the whole call before anything is removed.
func (s *Store) Remove(refs []string, exe string) ([]string, error) {
	gc, err := s.lock("gc", false, false)
	if err != nil {
		return nil, err
	}
	defer unlock(gc)
	rs, err := s.Records()
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, r := range rs {
		have[r.Ref] = true
	}
	for _, ref := range refs {
		if !have[ref] {
			return nil, fmt.Errorf("%s: %w (see rbox images)", ref, errNotFound)
		}
	}
	drop := map[string]bool{}
	for _, r := range refs {
		drop[r] = true
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
		return nil, err
	}
	return s.collect(exe)
}

// Prune removes what no record uses: layers, blobs and what killed pulls
// left in tmp/. It returns the DiffIDs of the layers removed.
func (s *Store) Prune(exe string) ([]string, error) {
	gc, err := s.lock("gc", false, false)
	if err != nil {
		return nil, err
	}
	defer unlock(gc)
	return s.collect(exe)
}

// collect runs with the gc lock held alone: no pull is under way.
func (s *Store) collect(exe string) ([]string, error) {
	rs, err := s.Records()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, r := range rs {
		used[r.Manifest], used[r.Config] = true, true
		for _, d := range r.Layers {
			h, _ := hexOf(d)
			if r.Flat {
				used["flat/"+h] = true
			} else {
				used["mapped/"+h] = true
			}
		}
	}
	var doomed, removed []string
	for _, kind := range []struct{ dir, key string }{{"layers", "mapped/"}, {"layers-flat", "flat/"}} {
		names, _ := readNames(filepath.Join(s.Root, kind.dir))
		for _, n := range names {
			if !used[kind.key+n] {
				doomed = append(doomed, filepath.Join(s.Root, kind.dir, n))
				removed = append(removed, "sha256:"+n)
			}
		}
	}
	tmp, _ := readNames(filepath.Join(s.Root, "tmp"))
	for _, n := range tmp {
		doomed = append(doomed, filepath.Join(s.Root, "tmp", n))
	}
	if len(doomed) > 0 {
		h, err := newHelper(exe)
		if err != nil {
			return nil, err
		}
		if err := h.remove(doomed...); err != nil {
			return nil, err
		}
	}
	blobs, _ := readNames(filepath.Join(s.Root, "blobs", "sha256"))
	for _, n := range blobs {
		if !used["sha256:"+n] {
			os.Remove(filepath.Join(s.Root, "blobs", "sha256", n))
		}
	}
	return removed, nil
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
