package integration

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageInUse: while a detached sandbox runs an image, rmi of it is
// refused in one line naming the sandbox and removes nothing, and prune
// keeps the layers it uses even once no image refers to them; after the
// sandbox ended both go through.
func TestImageInUse(t *testing.T) {
	s := newStore(t)
	dir := filepath.Join(t.TempDir(), "layout")
	own := mkTar(t, []tarEntry{{name: "own", typ: tar.TypeReg, mode: 0o644, body: "only in v1\n"}})
	img := testImage(t, rootfsTar(t), own)
	writeLayout(t, dir, "v1", img)
	ids := diffIDs(t, img)
	ref := "oci:" + dir + ":v1"
	ok(t, s.rbox(t, "pull", ref))

	r := s.rbox(t, "exec", "-d", "--name", "imguse", "--net", "none", "--image", ref, "--entrypoint", "sleep", "--", "300")
	ok(t, r)
	t.Cleanup(func() {
		s.rbox(t, "kill", "-s", "KILL", "imguse")
		s.rbox(t, "wait", "imguse")
		s.rbox(t, "rm", "imguse")
	})

	r = s.rbox(t, "rmi", ref)
	if r.code != 125 || !strings.Contains(r.stderr, "in use by sandbox imguse") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("rmi of an image in use:\n%s", r)
	}
	if refs := jsonRefs(s.rbox(t, "images", "--json").stdout); len(refs) != 1 {
		t.Errorf("the refused rmi removed the record: %v", refs)
	}
	for _, id := range ids {
		if _, err := os.Stat(s.layer(id)); err != nil {
			t.Errorf("the refused rmi removed layer %s: %v", id, err)
		}
	}

	// The same tag pulled again as another image: v1's own layer is
	// referenced by nothing now, but the sandbox still runs on it.
	other := mkTar(t, []tarEntry{{name: "other", typ: tar.TypeReg, mode: 0o644, body: "v2\n"}})
	img2 := testImage(t, rootfsTar(t), other)
	dir2 := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, dir2, "v1", img2)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir2, dir); err != nil {
		t.Fatal(err)
	}
	ok(t, s.rbox(t, "pull", ref))
	r = ok2(t, s.rbox(t, "image", "prune"))
	if !strings.Contains(r.stdout, "kept layer "+ids[1]) || strings.Contains(r.stdout, "removed layer") {
		t.Errorf("prune while the layer is in use:\n%s", r)
	}
	if _, err := os.Stat(s.layer(ids[1])); err != nil {
		t.Errorf("prune removed a layer in use: %v", err)
	}
	if out := ok(t, s.rbox(t, "enter", "imguse", "--", "cat", "/own")); out != "only in v1\n" {
		t.Errorf("the running sandbox's layer: %q", out)
	}

	ok(t, s.rbox(t, "kill", "-s", "KILL", "imguse"))
	s.rbox(t, "wait", "imguse")
	ok(t, s.rbox(t, "rm", "imguse"))
	r = ok2(t, s.rbox(t, "image", "prune"))
	if strings.TrimSpace(r.stdout) != "removed layer "+ids[1] {
		t.Errorf("prune after the sandbox ended:\n%s", r)
	}
	ok(t, s.rbox(t, "rmi", ref))
}
