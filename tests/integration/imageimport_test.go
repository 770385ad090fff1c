package integration

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageImport: a root-owned tree (made by integration.sh as root)
// goes into the store as one layer, host root as image root and a system
// uid as itself, and runs with exec --image on the kernel overlay, writes
// to root's files included; a file of an ID beyond the range is refused
// in one line naming the ID, the file and the fix; the user's own tree
// and a gzip tarball on stdin import too.
func TestImageImport(t *testing.T) {
	owned := os.Getenv("RBOX_ROOTOWNED")
	need(t, owned != "", "RBOX_ROOTOWNED (a root-owned rootfs made by scripts/integration.sh as root) is not set")
	s := newStore(t)
	tree := filepath.Join(owned, "rootfs")
	r := ok2(t, s.rbox(t, "image", "import", tree, "rootowned:v1"))
	if !strings.Contains(r.stderr, "imported") || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Errorf("import of a root-owned tree:\n%s", r)
	}
	script := `stat -c '%u:%g' /bin/busybox /etc/sys100; echo changed > /etc/passwd && head -1 /etc/passwd; id -u`
	want := "0:0\n100:100\nchanged\n0\n"
	if !hasFullMap() {
		want = "0:0\n0:0\nchanged\n0\n"
	}
	r = s.rbox(t, "exec", "--net", "none", "--overlay", "kernel", "--pull=never", "--image", "rootowned:v1", "--", "sh", "-c", script)
	if out := ok(t, r); out != want {
		t.Errorf("inside the imported tree:\n%s\nwant:\n%s", out, want)
	}
	if hasFullMap() {
		if out := ok(t, s.rbox(t, "exec", "--net", "none", "-u", "100", "--pull=never", "--image", "rootowned:v1", "--", "sh", "-c", "cat /etc/sys100 && echo ok >> /etc/sys100 && tail -1 /etc/sys100")); out != "sys\nok\n" {
			t.Errorf("uid 100 writing its file: %q", out)
		}
		r = s.rbox(t, "image", "import", filepath.Join(owned, "bad"), "bad:v1")
		if r.code != 125 || !strings.Contains(r.stderr, "uid 4000000") || !strings.Contains(r.stderr, filepath.Join(owned, "bad", "far")) ||
			!strings.Contains(r.stderr, "/etc/subuid") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("a file beyond the map:\n%s", r)
		}
		if tmp := s.entries(t, "tmp"); len(tmp) != 0 {
			t.Errorf("tmp/ after a refused import: %v", tmp)
		}
	}

	// The user's own tree: their files are root's in the image.
	ok2(t, s.rbox(t, "image", "import", rootfs, "mine"))
	if out := ok(t, s.rbox(t, "exec", "--net", "none", "--pull=never", "--image", "mine", "--", "stat", "-c", "%u", "/bin/busybox")); out != "0\n" {
		t.Errorf("own tree: busybox of uid %q", out)
	}
	// A gzip tarball on stdin: its entries keep their IDs.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rootfsTar(t))
	zw.Close()
	r = rboxWith(t, opts{stdin: gz.String(), env: []string{"XDG_DATA_HOME=" + s.data}}, "image", "import", "-", "fromtar:v1")
	ok(t, r)
	if out := ok(t, s.rbox(t, "exec", "--net", "none", "--pull=never", "--image", "fromtar:v1", "--", "echo", "tar ran")); out != "tar ran\n" {
		t.Errorf("tarball image: %q", out)
	}
	if refs := jsonRefs(s.rbox(t, "images", "--json").stdout); len(refs) != 3 {
		t.Errorf("images after three imports: %v", refs)
	}
	r = s.rbox(t, "image", "import", rootfs, "oci:/x")
	if r.code != 125 || !strings.Contains(r.stderr, "NAME") {
		t.Errorf("import to an oci: name:\n%s", r)
	}
}
