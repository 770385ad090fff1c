package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
)

func TestChooseOverlay(t *testing.T) {
	tree := t.TempDir()
	os.Mkdir(filepath.Join(tree, "etc"), 0o755)
	me := uint32(os.Getuid())
	own := idmap.Single(me, uint32(os.Getgid()))
	// A map that does not show the tree's owner: the tree is foreign.
	other := idmap.Single(me+1, uint32(os.Getgid())+1)
	cases := []struct {
		name     string
		plan     idmap.Plan
		driver   string
		readOnly bool
		// generated: the generated files have their own layer
		generated bool
		fuse      string
		// wantDriver is the driver after the choice; wantLine a part of
		// the line printed, wantErr a part of the error.
		wantDriver, wantLine, wantErr string
		wantSquash                    bool
	}{
		{name: "own tree", plan: own, driver: overlay.Auto, fuse: "/usr/bin/fuse-overlayfs", wantDriver: overlay.Auto},
		{name: "foreign auto", plan: other, driver: overlay.Auto, fuse: "/usr/bin/fuse-overlayfs", wantDriver: overlay.Fuse, wantLine: "notice: ", wantSquash: true},
		{name: "foreign auto no fuse", plan: other, driver: overlay.Auto, wantErr: "install fuse-overlayfs"},
		{name: "foreign read-only", plan: other, driver: overlay.Auto, readOnly: true, generated: true, fuse: "/usr/bin/fuse-overlayfs", wantDriver: overlay.Auto, wantSquash: true},
		{name: "foreign read-only, /etc written", plan: other, driver: overlay.Auto, readOnly: true, fuse: "/usr/bin/fuse-overlayfs", wantDriver: overlay.Fuse, wantLine: "notice: ", wantSquash: true},
		{name: "foreign kernel", plan: other, driver: overlay.Kernel, fuse: "/usr/bin/fuse-overlayfs", wantDriver: overlay.Kernel, wantLine: "--overlay fuse can", wantSquash: true},
		{name: "foreign fuse", plan: other, driver: overlay.Fuse, fuse: "/usr/bin/fuse-overlayfs", wantDriver: overlay.Fuse, wantSquash: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := overlay.Config{Driver: c.driver, FuseOverlayFS: c.fuse}
			if c.generated {
				cfg.Generated = "/state/layer/gen"
			}
			spec := &Spec{Rootfs: tree, Overlay: c.driver, ReadOnly: c.readOnly}
			line, err := chooseOverlay(&cfg, spec, c.plan)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "uid ") {
					t.Fatalf("want an error naming the owner and %q, got %v", c.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Driver != c.wantDriver || cfg.SquashToRoot != c.wantSquash {
				t.Errorf("driver %q squash %v, want %q %v", cfg.Driver, cfg.SquashToRoot, c.wantDriver, c.wantSquash)
			}
			if (c.wantLine == "") != (line == "") || !strings.Contains(line, c.wantLine) || strings.Contains(line, "\n") {
				t.Errorf("line %q, want one containing %q", line, c.wantLine)
			}
		})
	}
}

func TestGeneratedLayer(t *testing.T) {
	files := []etcFile{{Path: "/etc/hostname", Content: "h\n"}, {Path: "/etc/hosts", Content: "127.0.0.1 localhost\n"}}
	cases := []struct {
		name    string
		setup   func(tree string)
		persist bool
		want    bool        // a layer is made
		mode    os.FileMode // of its etc/
	}{
		{"etc dir", func(tree string) { os.Mkdir(filepath.Join(tree, "etc"), 0o751) }, false, true, 0o751},
		{"no etc", func(string) {}, false, true, 0o755},
		{"etc symlinked out", func(tree string) { os.Symlink("/etc", filepath.Join(tree, "etc")) }, false, false, 0},
		{"persist", func(tree string) { os.Mkdir(filepath.Join(tree, "etc"), 0o755) }, true, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree, dir := t.TempDir(), filepath.Join(t.TempDir(), "gen")
			c.setup(tree)
			spec := &Spec{Rootfs: tree}
			if c.persist {
				spec.Persist = t.TempDir()
			}
			old := unix.Umask(0o077)
			got, err := generatedLayer(dir, spec, files)
			unix.Umask(old)
			if err != nil {
				t.Fatal(err)
			}
			if !c.want {
				if got != "" {
					t.Errorf("want no layer, got %q", got)
				}
				if _, err := os.Lstat(dir); !os.IsNotExist(err) {
					t.Errorf("nothing may be made, found %s", dir)
				}
				return
			}
			if got != dir {
				t.Fatalf("want the layer %q, got %q", dir, got)
			}
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(dir, f.Path))
				fi, _ := os.Stat(filepath.Join(dir, f.Path))
				if err != nil || string(b) != f.Content || fi.Mode().Perm() != 0o644 {
					t.Errorf("%s: got %q %v (mode %v), want %q 0644", f.Path, b, err, fi.Mode().Perm(), f.Content)
				}
			}
			if fi, _ := os.Stat(filepath.Join(dir, "etc")); fi.Mode().Perm() != c.mode|0o700 {
				t.Errorf("etc/ mode %v, want %v", fi.Mode().Perm(), c.mode|0o700)
			}
		})
	}
}
