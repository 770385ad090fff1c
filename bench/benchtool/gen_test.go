package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteTarDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := writeTar(&a, 250); err != nil {
		t.Fatal(err)
	}
	if err := writeTar(&b, 250); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(a.Bytes()) != sha256.Sum256(b.Bytes()) {
		t.Fatal("two tarballs of the same size differ")
	}
	tr := tar.NewReader(&a)
	files, dirs := 0, 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Size > 4096 {
			t.Errorf("%s: uid %d gid %d size %d", h.Name, h.Uid, h.Gid, h.Size)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			files++
		case tar.TypeDir:
			dirs++
		}
	}
	if files != 250 || dirs != 4 {
		t.Errorf("got %d files in %d dirs, want 250 in 4", files, dirs)
	}
	if err := writeTar(io.Discard, 0); err == nil {
		t.Error("want an error for zero files")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1G", 1 << 30, false}, {"16M", 16 << 20, false}, {"4k", 4 << 10, false}, {"100", 100, false},
		{"-1M", 0, true}, {"lots", 0, true}, {"99999999999G", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestWriteTree(t *testing.T) {
	dir := t.TempDir()
	n, err := writeTree(dir, 3*treeFileSize-1)
	if err != nil || n != 3 {
		t.Fatalf("writeTree = %d, %v; want 3 files", n, err)
	}
	st, err := os.Stat(filepath.Join(dir, "d0000", "f00002"))
	if err != nil || st.Size() != treeFileSize {
		t.Fatalf("third file: %v, %v", st, err)
	}
}
