package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayerOnDisk: the writable layer of a running sandbox is in
// $XDG_DATA_HOME/rbox/sandboxes/ID, on disk, with its lock beside it; the
// state root keeps only meta, sockets and locks. Nothing is left in
// either place once a detached sandbox has ended and been removed.
func TestLayerOnDisk(t *testing.T) {
	ok(t, rbox(t, "exec", "-d", "--name", "ondisk", "--net", "none", "--rootfs", rootfs, "--",
		"sh", "-c", "echo data > /written; exec sleep 300"))
	t.Cleanup(func() { rbox(t, "kill", "-s", "KILL", "ondisk"); rbox(t, "wait", "ondisk"); rbox(t, "rm", "ondisk") })
	id, err := os.Readlink(filepath.Join(stateRoot(), "names", "ondisk"))
	if err != nil {
		t.Fatal(err)
	}
	layer := filepath.Join(layerRoot(dataDir()), id)
	waitFor(t, func() bool {
		_, err := os.Stat(filepath.Join(layer, "upper", "written"))
		return err == nil
	})
	if _, err := os.Stat(layer + ".lock"); err != nil {
		t.Errorf("the layer's lock: %v", err)
	}
	if st, err := os.Stat(layer); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("the layer directory: %v, mode %v", err, st.Mode())
	}
	if _, err := os.Lstat(filepath.Join(stateRoot(), id, "layer")); !os.IsNotExist(err) {
		t.Errorf("a layer in the state root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(stateRoot(), id, "meta.json")); err != nil {
		t.Errorf("meta.json not in the state root: %v", err)
	}
	ok(t, rbox(t, "kill", "ondisk"))
	rbox(t, "wait", "ondisk")
	if e := layerEntries(dataDir()); len(e) != 0 {
		t.Errorf("the ended sandbox's layer is kept: %v", e)
	}
	ok(t, rbox(t, "rm", "ondisk"))
	if e := stateEntries(); len(e) != 0 {
		t.Errorf("state after rm: %v", e)
	}
	// Without a home to put it in, the layer stays in the state root.
	r := rboxWith(t, opts{env: []string{"XDG_DATA_HOME=", "HOME=/nonexistent"}}, "exec", "--debug", "--net", "none", "--rootfs", rootfs, "--", "true")
	if r.code != 0 || !strings.Contains(r.stderr, "writable layer in the state directory") {
		t.Errorf("no home for the layers:\n%s", r)
	}
}
