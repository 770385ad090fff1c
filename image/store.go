package image

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Store is the image store of one user. Its methods run on the host.
type Store struct {
	Root string // $XDG_DATA_HOME/rbox/images
}

// Record is one pulled image.
type Record struct {
	Ref      string    `json:"ref"`
	Manifest string    `json:"manifest"` // digest of the manifest
	Config   string    `json:"config"`   // digest of the config: the image ID
	Layers   []string  `json:"layers"`   // DiffIDs, lowest first
	Flat     bool      `json:"flat,omitempty"`
	Created  time.Time `json:"created"`
	Pulled   time.Time `json:"pulled"`
}

// LayerInfo is what the unpacker counted, kept beside the tree.
type LayerInfo struct {
	DiffID         string `json:"diffID"`
	Size           int64  `json:"size"` // bytes of regular files
	Files          int    `json:"files"`
	DevicesSkipped int    `json:"devicesSkipped,omitempty"`
}

// DefaultRoot is where the store lives: on disk, not in $XDG_RUNTIME_DIR
// (a tmpfs capped at 10% of RAM on systemd hosts).
func DefaultRoot() (string, error) {
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" || !filepath.IsAbs(data) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the image store: %w (set XDG_DATA_HOME)", err)
		}
		data = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(data, "rbox", "images"), nil
}

// OpenStore creates or opens the store. rbox's own directories (rbox/ and
// below) must be real directories owned by the user and closed to others:
// anything else is refused rather than repaired, since another user who
// can write there could plant layers that run as the user's subordinate IDs.
func OpenStore(root string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(filepath.Dir(root)), 0o755); err != nil {
		return nil, fmt.Errorf("create the image store: %w", err)
	}
	for _, d := range []string{filepath.Dir(root), root} {
		if err := ownDir(d); err != nil {
			return nil, err
		}
	}
	s := &Store{Root: root}
	for _, d := range []string{"blobs/sha256", "layers", "layers-flat", "locks", "tmp"} {
		p := filepath.Join(root, d)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("create the image store: %w", err)
		}
		if err := ownDir(p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ownDir makes dir if missing and checks it is a directory, no symlink,
// owned by the user, mode 0700.
func ownDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create the image store: %w", err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("open the image store: %w", err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("image store %q is a symlink: refusing it; remove it or set XDG_DATA_HOME", dir)
	case !st.IsDir():
		return fmt.Errorf("image store %q is not a directory: remove it or set XDG_DATA_HOME", dir)
	case sys.Uid != uint32(os.Getuid()):
		return fmt.Errorf("image store %q belongs to uid %d, not you: remove it or set XDG_DATA_HOME", dir, sys.Uid)
	case st.Mode().Perm() != 0o700:
		return fmt.Errorf("image store %q has mode %04o: run chmod 700 %q", dir, st.Mode().Perm(), dir)
	}
	return nil
}

func hexOf(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("digest %q is not sha256:<64 hex digits>", digest)
	}
	return h, nil
}

// LayerDir is the directory of one layer (its tree is root/ inside).
func (s *Store) LayerDir(diffID string, flat bool) string {
	h, _ := hexOf(diffID)
	if flat {
		return filepath.Join(s.Root, "layers-flat", h)
	}
	return filepath.Join(s.Root, "layers", h)
}

// LayerRoot is the tree of a stored layer: what overlay takes as a lower
// directory.
func (s *Store) LayerRoot(diffID string, flat bool) string {
	return filepath.Join(s.LayerDir(diffID, flat), "root")
}

func (s *Store) hasLayer(diffID string, flat bool) bool {
	st, err := os.Lstat(filepath.Join(s.LayerDir(diffID, flat), "layer.json"))
	return err == nil && st.Mode().IsRegular()
}

func (s *Store) layerInfo(diffID string, flat bool) (LayerInfo, error) {
	var li LayerInfo
	b, err := os.ReadFile(filepath.Join(s.LayerDir(diffID, flat), "layer.json"))
	if err != nil {
		return li, err
	}
	return li, json.Unmarshal(b, &li)
}

// lock takes an exclusive flock on locks/NAME.lock (shared if shared),
// waiting for it unless try; release with unlock.
func (s *Store) lock(name string, shared, try bool) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.Root, "locks", name+".lock"), os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the image store: %w", err)
	}
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	if try {
		how |= unix.LOCK_NB
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func unlock(f *os.File) { f.Close() }

// tempDir makes tmp/PREFIX.RANDOM, owned by the user.
func (s *Store) tempDir(prefix string) (string, error) {
	b := make([]byte, 6)
	rand.Read(b)
	d := filepath.Join(s.Root, "tmp", prefix+"."+hex.EncodeToString(b))
	if err := os.Mkdir(d, 0o700); err != nil {
		return "", fmt.Errorf("create a temporary directory in the image store: %w", err)
	}
	return d, nil
}

// leftovers lists tmp entries that start with prefix+".".
func (s *Store) leftovers(prefix string) []string {
	m, _ := filepath.Glob(filepath.Join(s.Root, "tmp", prefix+".*"))
	return m
}

// writeBlob stores a manifest or config by its digest.
func (s *Store) writeBlob(digest string, b []byte) error {
	h, err := hexOf(digest)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.Root, "blobs", "sha256", h), b)
}

// ReadBlob reads a stored manifest or config.
func (s *Store) ReadBlob(digest string) ([]byte, error) {
	h, err := hexOf(digest)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(s.Root, "blobs", "sha256", h))
}

// writeAtomic writes a file by a temporary name in its directory and
// renames it into place: readers see the old or the new content, and
// concurrent pulls writing the same blob do not trip over each other.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Records reads the image records, sorted by reference.
func (s *Store) Records() ([]Record, error) {
	var rs []Record
	b, err := os.ReadFile(filepath.Join(s.Root, "images.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the image records: %w", err)
	}
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("read the image records %q: %w", filepath.Join(s.Root, "images.json"), err)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Ref < rs[j].Ref })
	return rs, nil
}

// Lookup finds the record of a reference in its canonical form.
func (s *Store) Lookup(ref string) (Record, bool, error) {
	rs, err := s.Records()
	if err != nil {
		return Record{}, false, err
	}
	for _, r := range rs {
		if r.Ref == ref {
			return r, true, nil
		}
	}
	return Record{}, false, nil
}

// update changes the records under the records lock.
func (s *Store) update(change func([]Record) []Record) error {
	l, err := s.lock("images", false, false)
	if err != nil {
		return err
	}
	defer unlock(l)
	rs, err := s.Records()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(change(rs), "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(s.Root, "images.json"), append(b, '\n')); err != nil {
		return fmt.Errorf("write the image records: %w", err)
	}
	return nil
}

func (s *Store) put(r Record) error {
	return s.update(func(rs []Record) []Record {
		out := rs[:0]
		for _, o := range rs {
			if o.Ref != r.Ref {
				out = append(out, o)
			}
		}
		return append(out, r)
	})
}
