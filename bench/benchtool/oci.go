package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// words make the generated files compress about as a distribution's
// tree does (3 to 4 times with gzip), so that a pull pays for
// decompression as it would for a real image.
var words = strings.Fields(`the of and to in is for on that with as by this be are from or at an it
not which have you all can will one has more other was its their may use file system data package
libc debian usr share lib bin etc config value error return struct const func static void int char`)

// writeLayer writes a tar of about total bytes in files of 1 B-32 KiB
// (mean 8 KiB: 100 MiB is some 12800 files) in directories of 200, with a
// symlink per directory, owned by 0:0; seed varies the content.
func writeLayer(w io.Writer, total int64, seed uint64) (int, error) {
	rng := rand.New(rand.NewPCG(seed, 5))
	tw := tar.NewWriter(w)
	hdr := func(name string, mode int64, typ byte, size int64) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, Typeflag: typ, Size: size, ModTime: genEpoch, Format: tar.FormatPAX}
	}
	var buf []byte
	var n int
	for written := int64(0); written < total; n++ {
		dir := fmt.Sprintf("data/d%04d/", n/200)
		if n%200 == 0 {
			if n == 0 {
				if err := tw.WriteHeader(hdr("data/", 0o755, tar.TypeDir, 0)); err != nil {
					return n, err
				}
			}
			if err := tw.WriteHeader(hdr(dir, 0o755, tar.TypeDir, 0)); err != nil {
				return n, err
			}
			l := hdr(dir+"link", 0o777, tar.TypeSymlink, 0)
			l.Linkname = "f00000"
			if err := tw.WriteHeader(l); err != nil {
				return n, err
			}
		}
		size := int64(1 + rng.UintN(16<<10) + rng.UintN(16<<10))
		buf = buf[:0]
		for int64(len(buf)) < size {
			buf = append(buf, words[rng.UintN(uint(len(words)))]...)
			buf = append(buf, ' ')
			if rng.UintN(12) == 0 {
				buf = append(buf, fmt.Sprintf("%x\n", rng.Uint64())...)
			}
		}
		if err := tw.WriteHeader(hdr(fmt.Sprintf("%sf%05d", dir, n%200), 0o644, tar.TypeReg, size)); err != nil {
			return n, err
		}
		if _, err := tw.Write(buf[:size]); err != nil {
			return n, err
		}
		written += size
	}
	return n, tw.Close()
}

func cmdGenlayer(args []string) error {
	fs := flag.NewFlagSet("genlayer", flag.ContinueOnError)
	size := fs.String("bytes", "100M", "total size of the files (K, M, G suffixes)")
	seed := fs.Uint64("seed", 1, "content seed")
	out := fs.String("out", "", "tarball to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	total, err := parseSize(*size)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	n, err := writeLayer(bw, total, *seed)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q: %w", *out, err)
	}
	fmt.Println(n)
	return nil
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Annot     any    `json:"annotations,omitempty"`
}

// writeBlob stores b (or a stream) in the layout's blobs by its digest.
func writeBlob(dir string, write func(io.Writer) error) (string, int64, error) {
	tmp, err := os.CreateTemp(dir, ".blob-")
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	err = write(cw)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", 0, err
	}
	d := hex.EncodeToString(h.Sum(nil))
	return "sha256:" + d, cw.n, os.Rename(tmp.Name(), filepath.Join(dir, d))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// cmdOCI writes an OCI image layout at -out whose image -tag has the
// given tar files as its layers (lowest first), gzip-compressed, and an
// image config with -cmd as its Cmd. An existing layout gains the tag
// (taken from the image that had it).
func cmdOCI(args []string) error {
	fs := flag.NewFlagSet("oci", flag.ContinueOnError)
	out := fs.String("out", "", "layout directory")
	tag := fs.String("tag", "latest", "tag (org.opencontainers.image.ref.name)")
	cmd := fs.String("cmd", "/bin/sh", "the config's Cmd")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("-out and at least one layer tar are required")
	}
	blobs := filepath.Join(*out, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	var layers []descriptor
	var diffIDs []string
	for _, tarPath := range fs.Args() {
		in, err := os.Open(tarPath)
		if err != nil {
			return err
		}
		var diff hash.Hash = sha256.New()
		d, n, err := writeBlob(blobs, func(w io.Writer) error {
			zw, _ := gzip.NewWriterLevel(w, gzip.DefaultCompression)
			if _, err := io.Copy(io.MultiWriter(zw, diff), in); err != nil {
				return err
			}
			return zw.Close()
		})
		in.Close()
		if err != nil {
			return fmt.Errorf("layer %q: %w", tarPath, err)
		}
		layers = append(layers, descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: d, Size: n})
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(diff.Sum(nil)))
	}
	js := func(v any) func(io.Writer) error {
		return func(w io.Writer) error { return json.NewEncoder(w).Encode(v) }
	}
	cd, cn, err := writeBlob(blobs, js(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux", "created": genEpoch,
		"config": map[string]any{"Cmd": []string{*cmd}, "Env": []string{"PATH=/bin:/sbin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	}))
	if err != nil {
		return err
	}
	md, mn, err := writeBlob(blobs, js(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: cd, Size: cn},
		"layers": layers,
	}))
	if err != nil {
		return err
	}
	var index struct {
		SchemaVersion int          `json:"schemaVersion"`
		Manifests     []descriptor `json:"manifests"`
	}
	if b, err := os.ReadFile(filepath.Join(*out, "index.json")); err == nil {
		json.Unmarshal(b, &index)
	}
	index.SchemaVersion = 2
	// The tag moves to the new image, as podman's and skopeo's do.
	kept := index.Manifests[:0]
	for _, m := range index.Manifests {
		if a, _ := m.Annot.(map[string]any); a["org.opencontainers.image.ref.name"] != *tag {
			kept = append(kept, m)
		}
	}
	index.Manifests = append(kept, descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: md, Size: mn,
		Annot: map[string]string{"org.opencontainers.image.ref.name": *tag}})
	b, _ := json.Marshal(index)
	if err := os.WriteFile(filepath.Join(*out, "index.json"), b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*out, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}
