package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// tarEntry is one file of a test layer.
type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
	major, minor     int64
}

func mkTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, Linkname: e.link,
			Devmajor: e.major, Devminor: e.minor, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rootfsTar is the busybox rootfs as a layer owned by 0:0.
func rootfsTar(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(rootfs, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&(fs.ModeDevice|fs.ModeSocket|fs.ModeNamedPipe) != 0 {
			return nil
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name, h.Uid, h.Gid, h.Uname, h.Gname = rel, 0, 0, "", ""
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return b.Bytes()
}

// specialTar holds what a rootless unpacker gets wrong: setuid, foreign
// owners, a hard link, a device, a FIFO, a read-only directory filled.
func specialTar(t *testing.T) []byte {
	return mkTar(t, []tarEntry{
		{name: "special/", typ: tar.TypeDir, mode: 0o555},
		{name: "special/suid", typ: tar.TypeReg, mode: 0o4755, body: "#!/bin/sh\n"},
		{name: "special/owned", typ: tar.TypeReg, mode: 0o644, uid: 1000, gid: 1000, body: "mine\n"},
		{name: "special/hard", typ: tar.TypeLink, link: "special/owned"},
		{name: "special/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		{name: "special/fifo", typ: tar.TypeFifo, mode: 0o640},
		{name: "etc/gone", typ: tar.TypeReg, mode: 0o644, body: "deleted above\n"},
		{name: "olddir/", typ: tar.TypeDir, mode: 0o755},
		{name: "olddir/old", typ: tar.TypeReg, mode: 0o644, body: "old\n"},
	})
}

// whiteoutTar deletes a file and recreates a directory.
func whiteoutTar(t *testing.T) []byte {
	return mkTar(t, []tarEntry{
		{name: "etc/.wh.gone", typ: tar.TypeReg},
		{name: "olddir/", typ: tar.TypeDir, mode: 0o755},
		{name: "olddir/.wh..wh..opq", typ: tar.TypeReg},
		{name: "olddir/new", typ: tar.TypeReg, mode: 0o644, body: "new\n"},
	})
}

func layerOf(t *testing.T, b []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testImage builds an image from layer tars with a config a user would
// check inside.
func testImage(t *testing.T, tars ...[]byte) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var ls []v1.Layer
	for _, b := range tars {
		ls = append(ls, layerOf(t, b))
	}
	img, err := mutate.AppendLayers(img, ls...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cf.Config = v1.Config{Env: []string{"PATH=/bin:/sbin", "IMG=1"}, WorkingDir: "/special", User: "1000:1000",
		Entrypoint: []string{"/bin/echo"}, Cmd: []string{"from", "cmd"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// writeLayout writes img into an OCI layout at dir, tagged tag.
func writeLayout(t *testing.T, dir, tag string, img v1.Image) {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatal(err)
	}
}

func diffIDs(t *testing.T, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range cf.RootFS.DiffIDs {
		out = append(out, d.String())
	}
	return out
}

// skopeo copies an image between transports, offline.
func skopeo(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("skopeo", append([]string{"--insecure-policy", "copy", "-q"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo %v: %v\n%s", args, err, out)
	}
}

// registry is the distribution registry on 127.0.0.1, run from the test's
// temp dir and stopped when the test ends.
type registry struct {
	addr string
}

func startRegistry(t *testing.T, htpasswd string) *registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	need(t, err == nil, "docker-registry is not installed (apt-get install docker-registry)")
	_, err = exec.LookPath("skopeo")
	need(t, err == nil, "skopeo is not installed (apt-get install skopeo)")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\n", dir, addr)
	if htpasswd != "" {
		os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(htpasswd), 0o600)
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: rbox-test\n    path: %s/htpasswd\n", dir)
	}
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", filepath.Join(dir, "config.yml"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 100 {
			t.Fatalf("registry on %s did not answer: %v\n%s", addr, err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &registry{addr: addr}
}

// store is one user's image store in a temp dir; its cleanup removes the
// images with rbox itself (their files belong to subordinate IDs).
type store struct {
	data string
}

func newStore(t *testing.T) *store {
	t.Helper()
	data, err := os.MkdirTemp("", "rbox-img-data")
	if err != nil {
		t.Fatal(err)
	}
	s := &store{data: data}
	t.Cleanup(func() {
		r := s.rbox(t, "images", "--json")
		for _, ref := range jsonRefs(r.stdout) {
			s.rbox(t, "rmi", ref)
		}
		s.rbox(t, "image", "prune")
		if err := os.RemoveAll(data); err != nil {
			t.Errorf("the store is not removable after rmi and prune: %v", err)
		}
	})
	return s
}

func (s *store) root() string { return filepath.Join(s.data, "rbox", "images") }

func (s *store) rbox(t *testing.T, args ...string) result {
	t.Helper()
	return rboxWith(t, opts{env: []string{"XDG_DATA_HOME=" + s.data}}, args...)
}

func (s *store) layer(diffID string) string {
	dir := "layers"
	if !hasFullMap() {
		dir = "layers-flat"
	}
	return filepath.Join(s.root(), dir, strings.TrimPrefix(diffID, "sha256:"), "root")
}

func (s *store) entries(t *testing.T, sub string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(s.root(), sub))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func jsonRefs(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, `"ref": "`); ok {
			out = append(out, strings.TrimSuffix(v, `",`))
		}
	}
	return out
}
