package state

import (
	"os"
	"path/filepath"
	"testing"
)

// The teardown removes exactly the layout a run made, and leaves a
// directory with anything else in it to removeTree.
func TestRemoveLayout(t *testing.T) {
	mk := func(t *testing.T, extra string) string {
		dir := filepath.Join(t.TempDir(), "id")
		for _, d := range []string{"layer/upper", "layer/work/work", "layer/merged", "layer/gen/etc"} {
			os.MkdirAll(filepath.Join(dir, d), 0o700)
		}
		for _, f := range []string{"layer/gen/etc/hostname", "layer/gen/etc/hosts", "meta.json", "enter.sock", extra} {
			if f != "" {
				os.WriteFile(filepath.Join(dir, f), nil, 0o644)
			}
		}
		os.Chmod(filepath.Join(dir, "layer/work/work"), 0)
		return dir
	}
	dir := mk(t, "")
	if err := removeLayout(filepath.Join(dir, "layer"), dir, false); err != nil {
		t.Fatalf("removeLayout: %v", err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there", dir)
	}
	// A volatile overlay's marker, in directories of mode 000 as the
	// kernel makes them.
	dir = mk(t, "")
	marker := filepath.Join(dir, "layer/work/work/incompat/volatile")
	os.Chmod(filepath.Join(dir, "layer/work/work"), 0o700)
	os.MkdirAll(marker, 0o700)
	os.WriteFile(filepath.Join(marker, "dirty"), nil, 0)
	for _, d := range []string{marker, filepath.Dir(marker), filepath.Join(dir, "layer/work/work")} {
		os.Chmod(d, 0)
	}
	if err := removeLayout(filepath.Join(dir, "layer"), dir, false); err != nil {
		t.Fatalf("removeLayout of a volatile layer: %v", err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there", dir)
	}
	dir = mk(t, "layer/upper/written")
	if err := removeLayout(filepath.Join(dir, "layer"), dir, false); err == nil {
		t.Fatal("a written upper layer must leave the rest to removeTree")
	}
	if err := RemoveTree(dir); err != nil {
		t.Fatal(err)
	}
	dir = mk(t, "log")
	if err := removeLayout(filepath.Join(dir, "layer"), dir, true); err != nil {
		t.Fatalf("keep: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "log")); err != nil {
		t.Errorf("keep: the log must stay: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "layer")); !os.IsNotExist(err) {
		t.Errorf("keep: the layer must go")
	}
}
