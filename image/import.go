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
	"runtime"
	"syscall"
	"time"
)

// ImportTree stores the tree under dir as a one-layer image named r, its
// owners mapped as TreeIDs says (by the owner of dir itself).
func (s *Store) ImportTree(ctx context.Context, r Ref, dir string, o PullOptions) (Record, error) {
	h, err := newHelper(o.Executable)
	if err != nil {
		return Record{}, err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return Record{}, fmt.Errorf("import: %w", err)
	}
	if !st.IsDir() {
		return Record{}, fmt.Errorf("import %q: not a directory", dir)
	}
	ids := TreeIDs{
		Own:  st.Sys().(*syscall.Stat_t).Uid == uint32(os.Getuid()),
		Flat: h.flat, Plan: h.plan, User: h.user,
	}
	pr, pw := io.Pipe()
	treeErr := make(chan error, 1)
	go func() {
		err := WriteTree(pw, dir, ids)
		treeErr <- err
		pw.CloseWithError(err)
	}()
	rec, err := s.importLayer(ctx, h, r, pr, o)
	pr.CloseWithError(io.ErrClosedPipe)
	if terr := <-treeErr; terr != nil && !errors.Is(terr, io.ErrClosedPipe) {
		return Record{}, fmt.Errorf("import %q: %w", dir, terr)
	}
	return rec, err
}

// ImportTar stores an uncompressed tar stream as a one-layer image named
// r; its entries' owners are the image's, as a layer's are.
func (s *Store) ImportTar(ctx context.Context, r Ref, tarStream io.Reader, o PullOptions) (Record, error) {
	h, err := newHelper(o.Executable)
	if err != nil {
		return Record{}, err
	}
	return s.importLayer(ctx, h, r, tarStream, o)
}

// importLayer unpacks the stream into tmp/, hashing it: the digest, known
// only at the end, is its DiffID, under whose lock the layer is renamed
// into place (or dropped, if that layer is stored already). A config and
// a manifest that name it make it an image like a pulled one.
func (s *Store) importLayer(ctx context.Context, h *helper, r Ref, src io.Reader, o PullOptions) (Record, error) {
	tmp, err := s.tempDir(fmt.Sprintf("import-%d", os.Getpid()))
	if err != nil {
		return Record{}, err
	}
	start := time.Now()
	info, n, err := s.unpackStream(ctx, h, src, tmp)
	if err != nil {
		h.remove(tmp)
		return Record{}, err
	}
	diffID := info.DiffID
	if err := s.placeLayer(h, tmp, info); err != nil {
		return Record{}, err
	}
	say(o.Progress, "%s imported: %d files, %s in %.1fs\n", diffID[:19], info.Files, HumanSize(info.Size), time.Since(start).Seconds())
	now := time.Now().UTC()
	cfg, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux", "created": now,
		"config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DigestOf(cfg), "size": len(cfg)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diffID, "size": n}},
	})
	rec := Record{Ref: r.String(), Manifest: DigestOf(man), Config: DigestOf(cfg), Layers: []string{diffID}, Flat: h.flat, Created: now, Pulled: now}
	if err := s.writeBlob(rec.Manifest, man); err != nil {
		return Record{}, fmt.Errorf("store the manifest: %w", err)
	}
	if err := s.writeBlob(rec.Config, cfg); err != nil {
		return Record{}, fmt.Errorf("store the config: %w", err)
	}
	return rec, s.put(rec)
}

// placeLayer renames an unpacked tmp/ directory to its layer's place,
// under the layer's lock; a layer stored already wins and tmp goes.
func (s *Store) placeLayer(h *helper, tmp string, info LayerInfo) error {
	hx, _ := hexOf(info.DiffID)
	lk, err := s.lock(hx, false, false)
	if err != nil {
		h.remove(tmp)
		return err
	}
	defer unlock(lk)
	if s.hasLayer(info.DiffID, h.flat) {
		return h.remove(tmp)
	}
	b, _ := json.Marshal(info)
	if err := os.WriteFile(filepath.Join(tmp, "layer.json"), b, 0o600); err != nil {
		h.remove(tmp)
		return fmt.Errorf("layer %s: %w", info.DiffID[:19], err)
	}
	if err := os.Rename(tmp, s.LayerDir(info.DiffID, h.flat)); err != nil {
		h.remove(tmp)
		return fmt.Errorf("layer %s: store it: %w", info.DiffID[:19], err)
	}
	return nil
}

// unpackStream feeds src to the unpacker in dir and returns what it
// counted and the stream's digest.
func (s *Store) unpackStream(ctx context.Context, h *helper, src io.Reader, dir string) (LayerInfo, int64, error) {
	mode := "mapped"
	if h.flat {
		mode = "flat"
	}
	cmd := h.command("unpack", dir, mode, h.user)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return LayerInfo{}, 0, err
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := h.start(cmd); err != nil {
		return LayerInfo{}, 0, err
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	sum := sha256.New()
	n, cerr := io.Copy(stdin, io.TeeReader(src, sum))
	stdin.Close()
	werr := cmd.Wait()
	// The unpacker's own complaint first: a write to it that failed
	// (EPIPE) says only that it stopped reading.
	if werr != nil && (errb.Len() > 0 || cerr == nil) {
		return LayerInfo{}, 0, fmt.Errorf("unpack: %s", oneLine(errb.String(), werr))
	}
	if cerr != nil {
		return LayerInfo{}, 0, fmt.Errorf("read the tree: %w", cerr)
	}
	var info LayerInfo
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		return LayerInfo{}, 0, fmt.Errorf("the unpacker's answer: %w", err)
	}
	info.DiffID = "sha256:" + hex.EncodeToString(sum.Sum(nil))
	return info, n, nil
}
