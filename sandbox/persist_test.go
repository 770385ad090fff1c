package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// overlap follows what the kernel follows: symlinks anywhere on the way,
// and a missing tail stands for the directory mkdir would make.
func TestOverlap(t *testing.T) {
	base := t.TempDir()
	img := filepath.Join(base, "img")
	os.MkdirAll(filepath.Join(img, "var"), 0o755)
	os.MkdirAll(filepath.Join(base, "out"), 0o755)
	os.Symlink(filepath.Join(img, "var"), filepath.Join(base, "tovar"))
	os.Symlink(img, filepath.Join(base, "toimg"))
	os.Symlink(base, filepath.Join(base, "out", "up"))
	cases := []struct {
		a    string
		want bool
	}{
		{"out", false},
		{"out/new/layer", false},
		{"img", true},
		{"img/var/p", true},
		{"tovar", true},
		{"tovar/p/q", true},
		{"toimg/tmp", true},
		{"out/up/img/var", true},
		{".", true}, // holds the image
		{"out/up", true},
	}
	for _, c := range cases {
		got, err := overlap(filepath.Join(base, c.a), img)
		if err != nil || got != c.want {
			t.Errorf("overlap(%s, img) = %v, %v; want %v", c.a, got, err, c.want)
		}
	}
	os.Symlink(filepath.Join(img, "missing"), filepath.Join(base, "dangling"))
	if _, err := overlap(filepath.Join(base, "dangling"), img); err == nil || !strings.Contains(err.Error(), "symlink to a missing path") {
		t.Errorf("a dangling symlink: want refused, got %v", err)
	}
}

func TestLayerMode(t *testing.T) {
	for _, c := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o700, true}, {0o744, true}, {0o750, false}, {0o701, false}, {0o755, false}, {0o711, false}} {
		dir := filepath.Join(t.TempDir(), "l")
		os.Mkdir(dir, 0o700)
		os.Chmod(dir, c.mode)
		st, _ := os.Stat(dir)
		err := checkLayerMode(st, dir)
		if (err == nil) != c.ok || err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("mode %04o: got %v", c.mode, err)
		}
		_, lerr := lockPersist(dir)
		if (lerr == nil) != c.ok {
			t.Errorf("lockPersist, mode %04o: got %v", c.mode, lerr)
		}
	}
	dir := filepath.Join(t.TempDir(), "new", "l")
	unlock, err := lockPersist(dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("a new layer directory: mode %v, want 0700", st.Mode())
	}
	os.Chmod(dir, 0o755)
	if err := closeLayer(dir); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("closeLayer: mode %v, want 0700", st.Mode())
	}
}
