package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/image"
	"github.com/rbox-sandbox/rbox/sandbox"
)

type pullCmd struct {
	TLSVerify bool   `name:"tls-verify" default:"true" negatable:"" help:"Require HTTPS with a verified certificate; --tls-verify=false allows plain HTTP and unverified TLS."`
	Ref       string `arg:"" help:"HOST[:PORT]/REPO[:TAG|@DIGEST], docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]." placeholder:"REF"`
}

type imagesCmd struct {
	JSON bool `name:"json" help:"Print a JSON array."`
}

type rmiCmd struct {
	Refs []string `arg:"" help:"Images to remove, as rbox images lists them or as pulled." placeholder:"REF"`
}

type imageCmd struct {
	Prune  imagePruneCmd  `cmd:"" help:"Remove layers and blobs no image uses, and what interrupted pulls left."`
	Import imageImportCmd `cmd:"" help:"Store a directory tree or a tarball as a one-layer image, its ownership mapped."`
}

type imageImportCmd struct {
	Source string `arg:"" help:"A directory, a tarball (plain, gzip or zstd), or - for a tarball on stdin." placeholder:"DIR|TARBALL"`
	Name   string `arg:"" help:"The image's name, as rbox exec --image takes it (NAME[:TAG])." placeholder:"NAME"`
}

// run checks the arguments here and execs rbox-pull, which reads
// compressed tarballs (zstd's tables stay out of rbox).
func (c *imageImportCmd) run() (int, error) {
	r, err := image.ParseRef(c.Name)
	if err != nil {
		return exitFailure, fmt.Errorf("NAME: %w", err)
	}
	if r.Transport != image.Registry {
		return exitFailure, fmt.Errorf("NAME %q: give a name as rbox exec --image takes it (NAME[:TAG]), not a %s: source", c.Name, r.Transport)
	}
	src := c.Source
	if src != "-" {
		if src, err = filepath.Abs(src); err != nil {
			return exitFailure, err
		}
		if _, err := os.Stat(src); err != nil {
			return exitFailure, fmt.Errorf("DIR|TARBALL %q: %w", c.Source, err)
		}
	}
	return execPull("import", src, c.Name)
}

type imagePruneCmd struct{}

func openStore() (*image.Store, error) {
	root, err := image.DefaultRoot()
	if err != nil {
		return nil, err
	}
	return image.OpenStore(root)
}

// parseRefArg parses a REF argument; a bad one is a usage error.
func parseRefArg(s string) (image.Ref, error) {
	r, err := image.ParseRef(s)
	if err != nil {
		return r, fmt.Errorf("REF: %w", err)
	}
	return r, nil
}

// run checks the reference here (a usage error is rbox's) and execs
// rbox-pull, which holds go-containerregistry: linking it into rbox would
// cost every rbox exec its package init.
func (c *pullCmd) run() (int, error) {
	if _, err := parseRefArg(c.Ref); err != nil {
		return exitFailure, err
	}
	tls := "tls-verify"
	if !c.TLSVerify {
		tls = "no-tls-verify"
	}
	return execPull(tls, c.Ref)
}

// execPull replaces rbox with rbox-pull RBOX ARGS...
func execPull(args ...string) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return exitFailure, fmt.Errorf("find the rbox binary: %w", err)
	}
	helper := filepath.Join(filepath.Dir(self), "rbox-pull")
	if _, err := os.Stat(helper); err != nil {
		return exitFailure, fmt.Errorf("rbox pull needs rbox-pull beside rbox (%q): install both (make build puts them in bin/)", helper)
	}
	err = unix.Exec(helper, append([]string{"rbox-pull", self}, args...), os.Environ())
	return exitFailure, fmt.Errorf("run %q: %w", helper, err)
}

func (c *imagesCmd) run() (int, error) {
	s, err := openStore()
	if err != nil {
		return exitFailure, err
	}
	ims, total, err := s.List()
	if err != nil {
		return exitFailure, err
	}
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return 0, enc.Encode(ims)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REF\tIMAGE ID\tSIZE\tCREATED")
	for _, im := range ims {
		id := strings.TrimPrefix(im.Config, "sha256:")[:12]
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", im.Ref, id, image.HumanSize(im.Size), ago(im.Created))
	}
	w.Flush()
	if len(ims) > 1 {
		fmt.Printf("%d images, %s of layers (shared layers counted once)\n", len(ims), image.HumanSize(total))
	}
	return 0, nil
}

func (c *rmiCmd) run() (int, error) {
	s, err := openStore()
	if err != nil {
		return exitFailure, err
	}
	var refs []string
	for _, a := range c.Refs {
		r, err := parseRefArg(a)
		if err != nil {
			return exitFailure, err
		}
		refs = append(refs, r.String())
	}
	c2, err := s.Remove(refs, "")
	var busy *image.InUseError
	if errors.As(err, &busy) {
		return exitFailure, inUseByName(busy)
	}
	if err != nil {
		return exitFailure, err
	}
	for _, r := range refs {
		fmt.Println("removed", r)
	}
	if len(c2.Removed) > 0 {
		fmt.Printf("removed %d layers\n", len(c2.Removed))
	}
	printKept(c2.Kept)
	return 0, nil
}

func (c *imagePruneCmd) run() (int, error) {
	s, err := openStore()
	if err != nil {
		return exitFailure, err
	}
	c2, err := s.Prune("")
	if err != nil {
		return exitFailure, err
	}
	for _, d := range c2.Removed {
		fmt.Println("removed layer", d)
	}
	printKept(c2.Kept)
	return 0, nil
}

// printKept says which unreferenced layers stay because a running
// sandbox uses them: the next prune after it ended removes them.
func printKept(kept []string) {
	for _, d := range kept {
		fmt.Println("kept layer", d, "(in use by a running sandbox; prune again once it has ended)")
	}
}

// inUseByName words a refused rmi with the sandbox that holds the image:
// the lock says that one does, meta.json which.
func inUseByName(e *image.InUseError) error {
	root, err := stateRoot()
	if err != nil {
		return e
	}
	boxes, _ := sandbox.List(root)
	for _, b := range boxes {
		if !b.Running {
			continue
		}
		for _, l := range b.Layers {
			if slices.Contains(e.Layers, l) {
				return fmt.Errorf("rmi %s: the image is in use by sandbox %s: rbox kill %s first, or rbox rmi again once it has ended", e.Ref, b.Name, b.Name)
			}
		}
	}
	return e
}

func ago(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func (pullCmd) Help() string {
	return `Fetches an image into the layer store ($XDG_DATA_HOME/rbox/images, by
default ~/.local/share/rbox/images). Layers are unpacked in a user
namespace with your subordinate IDs, so a file of uid 1000 in the image
belongs to the host uid that rbox exec -u 1000 runs as. Credentials come
from ~/.docker/config.json, $REGISTRY_AUTH_FILE and
$XDG_RUNTIME_DIR/containers/auth.json. Plain HTTP only with
--tls-verify=false, whatever the registry's address.

Examples:
  rbox pull alpine:3.20                          # docker.io/library/alpine:3.20
  rbox pull --tls-verify=false 127.0.0.1:5000/app:dev
  rbox pull oci:./layout:v1                      # an OCI image layout
  rbox pull oci-archive:img.tar                  # a tar of one
  rbox pull docker-archive:saved.tar:app:latest  # docker save / podman save`
}

func (imagesCmd) Help() string {
	return `Examples:
  rbox images
  rbox images --json | jq -r '.[].ref'`
}

func (rmiCmd) Help() string {
	return `Examples:
  rbox rmi alpine:3.20                # as pulled: docker.io/library/alpine:3.20
  rbox rmi oci:./layout:v1`
}

func (imageCmd) Help() string {
	return `Examples:
  rbox image prune      # layers no image uses, what interrupted pulls left`
}

func (imageImportCmd) Help() string {
	return `The tree becomes one layer in the store, unpacked as a pulled layer is,
and then runs at kernel-overlay speed with rbox exec --image NAME. Whose
tree it is decides its IDs: a tree of yours reads your uid as root and
your subordinate IDs as the image IDs they stand for (other owners are
refused); a tree of root's or another user's keeps its numeric IDs
(root is root, uid N is N, placed where rbox exec -u N runs), and an ID
beyond your range is refused with the file and the fix. A tarball's
entries keep their IDs, as a layer's do. Every file must be readable to
you; for a tree that is not, let root make the tarball.

Examples:
  rbox image import /srv/debian-rootfs debian:local
  rbox image import rootfs.tar.zst myimg:v1
  sudo tar -C /srv/tree -cf - . | rbox image import - tree:latest`
}

func (imagePruneCmd) Help() string {
	return `Examples:
  rbox image prune`
}
