package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// oneLine asserts a refusal: exit 125, one line starting "rbox: " that
// holds every want, nothing on stdout.
func oneLine(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code != 125 {
		t.Errorf("want exit 125, got\n%s", r)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "rbox: ") {
		t.Errorf("want one line starting with \"rbox: \", got %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("the message should name %q: %q", w, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout should be empty (nothing may start), got %q", r.stdout)
	}
}

// --persist through a symlink into the image is the image: refused, and
// the image is not written.
func TestPersistThroughSymlink(t *testing.T) {
	before := manifest(t, rootfs)
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	os.Symlink(filepath.Join(rootfs, "var"), link)
	os.Symlink(rootfs, filepath.Join(dir, "root"))
	for _, p := range []string{link + "/p", link, dir + "/root/tmp/l", link + "/../x"} {
		t.Run(strings.TrimPrefix(p, dir+"/"), func(t *testing.T) {
			r := sh(t, "echo RAN; echo x > /root/f", "--persist", p)
			if p == link+"/../x" {
				// Cleaned as a path, before any lookup: dir/x, outside.
				ok(t, r)
				if r := rbox(t, "remove-layer", filepath.Join(dir, "x")); r.code != 0 {
					t.Errorf("remove-layer: %s", r)
				}
				return
			}
			oneLine(t, r, "--persist", "overlaps the rootfs")
		})
	}
	assertUnchanged(t, before)
}

// A --persist DIR that others can traverse is refused (never loosened or
// tightened behind the user's back); one rbox creates is 0700.
func TestPersistDirMode(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	oneLine(t, sh(t, "echo RAN", "--persist", open), "--persist", "mode 0755", "chmod 700")
	if entries, _ := os.ReadDir(open); len(entries) != 0 {
		t.Errorf("a refused --persist directory got %v", entries)
	}
	os.Chmod(open, 0o750)
	oneLine(t, sh(t, "echo RAN", "--persist", open), "mode 0750")

	dir := persistDir(t)
	ok(t, sh(t, "cp /bin/busybox /planted && chmod 4755 /planted", "--persist", dir))
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("a --persist directory rbox creates must be 0700: %v %v", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Join(dir, "upper", "planted")); err != nil || st.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("the workload's setuid file should be in the layer (for the other-user probe): %v", err)
	}
	// Loosened between runs: refused again before anything starts.
	os.Chmod(dir, 0o711)
	oneLine(t, sh(t, "echo RAN", "--persist", dir), "mode 0711")
	os.Chmod(dir, 0o700)
	ok(t, sh(t, "test -u /planted", "--persist", dir))
}

// A read-write volume that holds the layer, or lies in it, is refused: the
// workload could chmod the layer's directory through it. Read-only is fine.
func TestPersistVolumeOverlap(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "layer")
	ok(t, sh(t, "true", "--persist", dir))
	t.Cleanup(func() { rbox(t, "remove-layer", dir) })
	oneLine(t, sh(t, "chmod 755 /h/layer; echo RAN", "--persist", dir, "-v", parent+":/h"), "-v "+parent+":/h", "--persist")
	oneLine(t, sh(t, "echo RAN", "--persist", dir, "-v", dir+"/upper:/h"), "--persist")
	ok(t, sh(t, "chmod 755 /h/layer 2>/dev/null; true", "--persist", dir, "-v", parent+":/h:ro"))
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("the layer's mode changed to %v", st.Mode())
	}
}

// Bad input found only by a real run: one line naming the flag, the value
// and the fix, exit 125, the workload never started.
func TestBadInputRun(t *testing.T) {
	tmp := t.TempDir()
	priv := filepath.Join(tmp, "priv")
	os.Mkdir(priv, 0o700)
	os.WriteFile(filepath.Join(priv, "f"), []byte("x"), 0o644)
	os.Chmod(priv, 0)
	t.Cleanup(func() { os.Chmod(priv, 0o700) })

	procLink := filepath.Join(tmp, "proclink")
	if out, err := exec.Command("cp", "-a", rootfs, procLink).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v %s", err, out)
	}
	os.RemoveAll(filepath.Join(procLink, "proc"))
	os.Symlink("/nonexistent/proc", filepath.Join(procLink, "proc"))

	gidWant := "use a gid below"
	if !hasFullMap() {
		gidWant = "only gid 0"
	}
	cases := []struct {
		name  string
		flags []string
		want  []string
	}{
		{"volume-unreachable", []string{"-v", priv + "/f:/f"}, []string{"-v " + priv + "/f:/f", "permission denied", "chmod +x"}},
		{"unmapped-gid", []string{"-u", "0:99999999"}, []string{"-u 0:99999999", "gid 99999999", gidWant}},
		{"env-file-dir", []string{"--env-file", tmp}, []string{"--env-file", tmp, "is a directory"}},
		{"status-json-no-dir", []string{"--status-json", tmp + "/none/s.json"}, []string{"--status-json", "does not exist"}},
		{"proc-symlink", []string{"--rootfs", procLink}, []string{"/proc", "must be a directory"}},
		{"cpus", []string{"--cpus", "-1"}, []string{`--cpus "-1"`, "positive"}},
		{"timeout", []string{"--timeout", "-1s"}, []string{"--timeout -1s", "negative"}},
		{"name", []string{"--name", "-x"}, []string{`--name "-x"`, "letters"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oneLine(t, sh(t, "echo RAN", c.flags...), c.want...)
		})
	}
	if _, err := os.Stat(tmp + "/none"); err == nil {
		t.Error("a refused --status-json created its directory")
	}
}

// An image the sandbox's root cannot read: a root and an /etc of an ID
// the single map leaves out (made with the full map), under each driver.
func TestUnreadableRootfs(t *testing.T) {
	need(t, hasFullMap(), "needs subordinate IDs to make files of an ID the single map leaves out")
	layer := persistDir(t)
	img := filepath.Join(layer, "upper")
	os.MkdirAll(layer, 0o700)
	if out, err := exec.Command("cp", "-a", rootfs, img).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v %s", err, out)
	}
	_, err := exec.LookPath("fuse-overlayfs")
	need(t, err == nil, "fuse-overlayfs not installed")
	for _, what := range []string{"/img/etc", "/img"} {
		ok(t, sh(t, "chown 1000:1000 "+what+" && chmod 700 "+what, "-v", img+":/img"))
		p := strings.TrimSuffix(img+strings.TrimPrefix(what, "/img"), "/")
		for _, driver := range []string{"kernel", "fuse"} {
			r := rbox(t, "exec", "--idmap", "single", "--overlay", driver, "--rootfs", img, "--", "echo", "RAN")
			oneLine(t, r, `--rootfs "`+img+`"`, `"`+p+`"`, "mode 0700", "chmod -R a+rX")
		}
	}
}
