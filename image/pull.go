package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// PullOptions are the choices of one pull.
type PullOptions struct {
	// Insecure allows plain HTTP and unverified TLS (--tls-verify=false).
	Insecure bool
	// Progress receives one line per layer (nil: none).
	Progress io.Writer
	// Terminal: Progress is a terminal, where a layer being read shows
	// its bytes as they come, on one line rewritten in place.
	Terminal bool
	// Executable is the rbox binary for the unpacker ("" for this one).
	Executable string
}

// Layer is one layer of an image being pulled.
type Layer interface {
	// Uncompressed opens the layer's tar stream; reading it to the end
	// verifies the compressed blob's digest where the source has one.
	Uncompressed() (io.ReadCloser, error)
}

// Fetched is an image found at its source, not yet stored: the manifest
// and the config read and checked against their digests, the layers
// still to read.
type Fetched struct {
	Manifest, Config []byte
	ManifestDigest   string
	DiffIDs          []string // from the verified config
	Layers           []Layer
	Created          time.Time
}

// Pull stores a fetched image and records it under r's canonical form.
// Each layer is fetched and unpacked under its own lock, into a temporary
// directory renamed into place only once the uncompressed stream's digest
// matched the config's diff_ids.
func (s *Store) Pull(ctx context.Context, r Ref, f *Fetched, o PullOptions) (Record, error) {
	h, err := newHelper(o.Executable)
	if err != nil {
		return Record{}, err
	}
	if len(f.Layers) != len(f.DiffIDs) {
		return Record{}, fmt.Errorf("read %s: %d layers but %d diff_ids in the config", r, len(f.Layers), len(f.DiffIDs))
	}
	rec := Record{Ref: r.String(), Manifest: f.ManifestDigest, Config: DigestOf(f.Config), Created: f.Created.UTC(), Flat: h.flat}
	for _, d := range append([]string{rec.Manifest}, f.DiffIDs...) {
		if _, err := hexOf(d); err != nil {
			return Record{}, fmt.Errorf("read %s: %w", r, err)
		}
	}
	rec.Layers = f.DiffIDs
	if h.flat && o.Progress != nil {
		fmt.Fprintf(o.Progress, "note: %s: layers are stored with their ownership flattened to you (setuid and setgid dropped)\n", h.flatWhy)
	}
	for i, l := range f.Layers {
		if err := s.fetchLayer(ctx, h, l, rec.Layers[i], o); err != nil {
			return Record{}, err
		}
	}
	if err := s.writeBlob(rec.Manifest, f.Manifest); err != nil {
		return Record{}, fmt.Errorf("store the manifest: %w", err)
	}
	if err := s.writeBlob(rec.Config, f.Config); err != nil {
		return Record{}, fmt.Errorf("store the config: %w", err)
	}
	rec.Pulled = time.Now().UTC()
	if err := s.put(rec); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// Begin takes the pull side of the gc lock: rmi and prune take it alone,
// so they never remove a layer a pull has stored but not yet recorded.
// Hold it from before the source is opened until Pull returned.
func (s *Store) Begin() (release func(), err error) {
	gc, err := s.lock("gc", true, false)
	if err != nil {
		return nil, err
	}
	return func() { unlock(gc) }, nil
}

// Scratch makes a temporary directory in the store for a source (an
// oci-archive's layout); prune removes what a killed pull left.
func (s *Store) Scratch() (string, error) {
	return s.tempDir(fmt.Sprintf("archive-%d", os.Getpid()))
}

// DigestOf is the sha256 digest of b, as OCI spells it.
func DigestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// fetchLayer stores one layer unless it is there. Under the layer's lock,
// what a killed pull of it left in tmp/ is removed first.
func (s *Store) fetchLayer(ctx context.Context, h *helper, l Layer, diffID string, o PullOptions) error {
	progress := o.Progress
	hx, _ := hexOf(diffID)
	lk, err := s.lock(hx, false, false)
	if err != nil {
		return err
	}
	defer unlock(lk)
	short := diffID[:19]
	if s.hasLayer(diffID, h.flat) {
		say(progress, "%s already stored\n", short)
		return nil
	}
	if stale := s.leftovers(hx); len(stale) > 0 {
		if err := h.remove(stale...); err != nil {
			return err
		}
	}
	tmp, err := s.tempDir(hx)
	if err != nil {
		return err
	}
	start := time.Now()
	var live *meter
	if o.Terminal && progress != nil {
		live = startMeter(progress, short)
	}
	info, err := s.unpackLayer(ctx, h, l, diffID, tmp, live)
	live.stop()
	if err != nil {
		if rerr := h.remove(tmp); rerr != nil {
			return fmt.Errorf("%w (and %v)", err, rerr)
		}
		return err
	}
	b, _ := json.Marshal(info)
	if err := os.WriteFile(filepath.Join(tmp, "layer.json"), b, 0o600); err != nil {
		h.remove(tmp)
		return fmt.Errorf("layer %s: %w", short, err)
	}
	if err := os.Rename(tmp, s.LayerDir(diffID, h.flat)); err != nil {
		h.remove(tmp)
		return fmt.Errorf("layer %s: store it: %w", short, err)
	}
	extra := ""
	if info.DevicesSkipped > 0 {
		extra = fmt.Sprintf(", %d device nodes skipped", info.DevicesSkipped)
	}
	say(progress, "%s unpacked: %d files, %s in %.1fs%s\n", short, info.Files, HumanSize(info.Size), time.Since(start).Seconds(), extra)
	return nil
}

// unpackLayer streams the uncompressed layer to the unpacker, hashing it
// on the way; the layer counts only if the digest matched.
func (s *Store) unpackLayer(ctx context.Context, h *helper, l Layer, diffID, dir string, live *meter) (LayerInfo, error) {
	short := diffID[:19]
	rc, err := l.Uncompressed()
	if err != nil {
		return LayerInfo{}, fmt.Errorf("layer %s: %w", short, err)
	}
	defer rc.Close()
	mode := "mapped"
	if h.flat {
		mode = "flat"
	}
	cmd := h.command("unpack", dir, mode, h.user)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return LayerInfo{}, err
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := h.start(cmd); err != nil {
		return LayerInfo{}, err
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	sum := sha256.New()
	var src io.Reader = io.TeeReader(rc, sum)
	if live != nil {
		src = io.TeeReader(src, live)
	}
	_, cerr := io.Copy(stdin, src)
	stdin.Close()
	werr := cmd.Wait()
	if werr != nil {
		return LayerInfo{}, fmt.Errorf("layer %s: %s", short, oneLine(errb.String(), werr))
	}
	if cerr != nil {
		return LayerInfo{}, fmt.Errorf("layer %s: read: %w", short, cerr)
	}
	if got := "sha256:" + hex.EncodeToString(sum.Sum(nil)); got != diffID {
		return LayerInfo{}, fmt.Errorf("layer %s: digest mismatch: the config says %s, the content is %s: the source is corrupt, nothing stored", short, diffID, got)
	}
	var info LayerInfo
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		return LayerInfo{}, fmt.Errorf("layer %s: the unpacker's answer: %w", short, err)
	}
	info.DiffID = diffID
	return info, nil
}

func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// HumanSize prints a byte count as rbox pull and rbox images show it.
func HumanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

var errNotFound = errors.New("no such image in the store")

// meter shows the bytes of the layer being read on a terminal line.
type meter struct {
	n    atomic.Int64
	done chan struct{}
	wg   sync.WaitGroup
}

func startMeter(w io.Writer, name string) *meter {
	m := &meter{done: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s %s", name, HumanSize(m.n.Load()))
			}
		}
	}()
	return m
}

func (m *meter) Write(b []byte) (int, error) {
	m.n.Add(int64(len(b)))
	return len(b), nil
}

func (m *meter) stop() {
	if m == nil {
		return
	}
	close(m.done)
	m.wg.Wait()
}
