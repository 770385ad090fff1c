package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"

	"github.com/rbox-sandbox/rbox/image"
)

// importImage stores a directory tree or a tarball (plain, gzip or zstd,
// told by its first bytes) as a one-layer image named name.
func importImage(rbox, src, name string) error {
	r, s, ctx, done, err := beginWrite("NAME", name)
	if err != nil {
		return err
	}
	defer done()
	o := image.PullOptions{Progress: os.Stderr, Executable: rbox}
	var rec image.Record
	if st, err := os.Stat(src); err == nil && st.IsDir() {
		rec, err = s.ImportTree(ctx, r, src, o)
		if err != nil {
			return err
		}
	} else {
		f := os.Stdin
		if src != "-" {
			if f, err = os.Open(src); err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer f.Close()
		}
		tr, err := decompress(f)
		if err != nil {
			return fmt.Errorf("import %q: %w", src, err)
		}
		if rec, err = s.ImportTar(ctx, r, tr, o); err != nil {
			return fmt.Errorf("import %q: %w", src, err)
		}
	}
	fmt.Println(rec.Config)
	return nil
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

func decompress(f io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(f, 1<<16)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return gzip.NewReader(br)
	case bytes.HasPrefix(head, zstdMagic):
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return br, nil
}
