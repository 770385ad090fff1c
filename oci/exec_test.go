package oci

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMapsZero(t *testing.T) {
	for _, c := range []struct {
		name, uidMap string
		want         bool
	}{
		{"root mapped", "         0       1000          1\n", true},
		{"keep-id", "         0     462144       1009\n      1009       1009          1\n", true},
		{"zero mapped last", "      1000       1000          1\n         0     100000       1000\n", true},
		{"no zero", "      1000       1000          1\n", false},
		{"empty map", "", false},
		{"garbage", "x y z\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "uid_map")
			if err := os.WriteFile(p, []byte(c.uidMap), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := mapsZero(p); got != c.want {
				t.Fatalf("mapsZero(%q) = %v, want %v", c.uidMap, got, c.want)
			}
		})
	}
	if mapsZero(filepath.Join(t.TempDir(), "missing")) {
		t.Fatal("a missing map maps 0")
	}
}
