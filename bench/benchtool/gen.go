package main

import (
	"archive/tar"
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The generated data is deterministic so that runs on different days
// measure the same work.
var genEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// writeTar writes files small files (0–4 KiB) in directories of 100, owned
// by 0:0 so that extracting them inside any sandbox needs no ID mapping.
func writeTar(w io.Writer, files int) error {
	if files < 1 {
		return errors.New("need at least one file")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(rng.UintN(256))
	}
	tw := tar.NewWriter(w)
	hdr := func(name string, mode int64, typ byte, size int64) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, Typeflag: typ, Size: size, ModTime: genEpoch,
			Uid: 0, Gid: 0, Uname: "root", Gname: "root", Format: tar.FormatUSTAR}
	}
	if err := tw.WriteHeader(hdr("files/", 0o755, tar.TypeDir, 0)); err != nil {
		return err
	}
	for i := 0; i < files; i++ {
		dir := fmt.Sprintf("files/d%03d/", i/100)
		if i%100 == 0 {
			if err := tw.WriteHeader(hdr(dir, 0o755, tar.TypeDir, 0)); err != nil {
				return err
			}
		}
		size := int64(rng.UintN(4097))
		if err := tw.WriteHeader(hdr(fmt.Sprintf("%sf%05d", dir, i), 0o644, tar.TypeReg, size)); err != nil {
			return err
		}
		if _, err := tw.Write(buf[:size]); err != nil {
			return err
		}
	}
	return tw.Close()
}

// parseSize reads a byte count with an optional K, M or G suffix (powers of
// 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToUpper(strings.TrimSpace(s))
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, strings.TrimSuffix(t, "K")
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, strings.TrimSuffix(t, "M")
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, strings.TrimSuffix(t, "G")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<42)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// treeFileSize and treeDirFiles shape the filler tree: 1 GiB is 16384
// files in 128 directories, enough that anything walking or copying the
// image shows up in start time.
const (
	treeFileSize = 64 << 10
	treeDirFiles = 128
)

// writeTree fills dir with about total bytes of real (not sparse) data.
func writeTree(dir string, total int64) (int, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, treeFileSize)
	for i := range buf {
		buf[i] = byte(rng.UintN(256))
	}
	n := int((total + treeFileSize - 1) / treeFileSize)
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", i/treeDirFiles))
		if i%treeDirFiles == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return i, err
			}
		}
		// Vary the first bytes so files are not identical (no dedup
		// shortcuts anywhere).
		copy(buf, fmt.Sprintf("%08d", i))
		p := filepath.Join(sub, fmt.Sprintf("f%05d", i))
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return i, fmt.Errorf("write %q: %w", p, err)
		}
	}
	return n, nil
}

func cmdGentar(args []string) error {
	fs := flag.NewFlagSet("gentar", flag.ContinueOnError)
	files := fs.Int("files", 5000, "number of small files")
	out := fs.String("out", "", "tarball to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := writeTar(bw, *files); err != nil {
		f.Close()
		return fmt.Errorf("write %q: %w", *out, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %q: %w", *out, err)
	}
	return f.Close()
}

func cmdGentree(args []string) error {
	fs := flag.NewFlagSet("gentree", flag.ContinueOnError)
	size := fs.String("bytes", "1G", "total size (K, M, G suffixes)")
	dir := fs.String("dir", "", "directory to fill")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	total, err := parseSize(*size)
	if err != nil {
		return err
	}
	n, err := writeTree(*dir, total)
	if err != nil {
		return err
	}
	fmt.Printf("%d\n", n)
	return nil
}
