package integration

import (
	"archive/tar"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImageRegistry500: a registry that fails with 500 gets one line
// naming the status, and nothing is stored.
func TestImageRegistry500(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"Storage Backend Down"}]}`))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	s := newStore(t)
	r := s.rbox(t, "pull", "--tls-verify=false", l.Addr().String()+"/test/img:v1")
	if r.code != 125 || !strings.Contains(r.stderr, "answered 500") || !strings.Contains(r.stderr, "storage backend down") ||
		strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("a registry answering 500:\n%s", r)
	}
	if refs := jsonRefs(s.rbox(t, "images", "--json").stdout); len(refs) != 0 {
		t.Errorf("stored after a 500: %v", refs)
	}
}

// archImage is a one-layer image whose /arch says which platform it is.
func archImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	img := testImage(t, rootfsTar(t), mkTar(t, []tarEntry{{name: "arch", typ: tar.TypeReg, mode: 0o644, body: arch + "\n"}}))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = arch
	cf.Config.User, cf.Config.WorkingDir = "", "/"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// multiArch writes an index of images for archs (the host's not first)
// into an OCI layout at dir, tagged tag.
func multiArch(t *testing.T, dir, tag string, archs ...string) {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, a := range archs {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: archImage(t, a),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: a}}})
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatal(err)
	}
}

// TestImageMultiArch: from a multi-arch index, in an OCI layout and in a
// registry, the host's platform is pulled and runs; an index without it
// fails in one line naming the platform.
func TestImageMultiArch(t *testing.T) {
	other := "arm64"
	if goruntime.GOARCH == "arm64" {
		other = "amd64"
	}
	dir := filepath.Join(t.TempDir(), "layout")
	multiArch(t, dir, "multi", other, "s390x", goruntime.GOARCH)
	multiArch(t, dir, "foreign", other, "s390x")
	s := newStore(t)
	ref := "oci:" + dir + ":multi"
	ok2(t, s.rbox(t, "pull", ref))
	if out := ok(t, s.rbox(t, "exec", "--net", "none", "--pull=never", "--image", ref, "--entrypoint", "cat", "--", "/arch")); out != goruntime.GOARCH+"\n" {
		t.Errorf("oci layout: the image of %q ran, want %s", out, goruntime.GOARCH)
	}
	r := s.rbox(t, "pull", "oci:"+dir+":foreign")
	if r.code != 125 || !strings.Contains(r.stderr, "no image for linux/"+goruntime.GOARCH) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("an index without the host's platform:\n%s", r)
	}

	reg := startRegistry(t, "")
	skopeo(t, "--all", "--dest-tls-verify=false", "oci:"+dir+":multi", "docker://"+reg.addr+"/test/multi:v1")
	rref := reg.addr + "/test/multi:v1"
	ok2(t, s.rbox(t, "pull", "--tls-verify=false", rref))
	if out := ok(t, s.rbox(t, "exec", "--net", "none", "--pull=never", "--image", rref, "--entrypoint", "cat", "--", "/arch")); out != goruntime.GOARCH+"\n" {
		t.Errorf("registry: the image of %q ran, want %s", out, goruntime.GOARCH)
	}
}

// TestImageDiskFull: a pull into a store on a full file system (a 1 MiB
// tmpfs that integration.sh mounts as root in a private mount namespace,
// RBOX_SMALL_DATA) fails in one line and leaves nothing half-stored.
func TestImageDiskFull(t *testing.T) {
	small := os.Getenv("RBOX_SMALL_DATA")
	need(t, small != "", "RBOX_SMALL_DATA (a 1 MiB tmpfs of yours, mounted by scripts/integration.sh as root) is not set")
	// 4 MiB that gzip cannot shrink below the tmpfs.
	body := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{7}).Read(body)
	img := testImage(t, rootfsTar(t), mkTar(t, []tarEntry{{name: "big", typ: tar.TypeReg, mode: 0o644, body: string(body)}}))
	dir := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, dir, "v1", img)
	env := opts{env: []string{"XDG_DATA_HOME=" + small}}
	r := rboxWith(t, env, "pull", "oci:"+dir+":v1")
	if r.code != 125 || !strings.Contains(r.stderr, "no space left on device") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("a pull onto a full disk:\n%s", r)
	}
	root := filepath.Join(small, "rbox", "images")
	for _, sub := range []string{"layers", "tmp"} {
		if e, _ := os.ReadDir(filepath.Join(root, sub)); len(e) > 1 {
			t.Errorf("%s/ after the failed pull: %d entries", sub, len(e))
		}
	}
	// The base layer may be stored whole (it fits); the big one never.
	ids := diffIDs(t, img)
	if _, err := os.Stat(filepath.Join(root, "layers", strings.TrimPrefix(ids[1], "sha256:"))); !os.IsNotExist(err) {
		t.Errorf("the layer that did not fit is stored: %v", err)
	}
	if e, _ := os.ReadDir(filepath.Join(root, "tmp")); len(e) != 0 {
		t.Errorf("tmp/ after the failed pull: %v", e)
	}
	if refs := jsonRefs(rboxWith(t, env, "images", "--json").stdout); len(refs) != 0 {
		t.Errorf("recorded after the failed pull: %v", refs)
	}
	ok(t, rboxWith(t, env, "image", "prune"))
	if e, _ := os.ReadDir(filepath.Join(root, "layers")); len(e) != 0 {
		t.Errorf("layers/ after prune: %d entries", len(e))
	}
}
