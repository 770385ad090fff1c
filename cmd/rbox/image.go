package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/image"
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
	Prune imagePruneCmd `cmd:"" help:"Remove layers and blobs no image uses, and what interrupted pulls left."`
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
	self, err := os.Executable()
	if err != nil {
		return exitFailure, fmt.Errorf("find the rbox binary: %w", err)
	}
	helper := filepath.Join(filepath.Dir(self), "rbox-pull")
	if _, err := os.Stat(helper); err != nil {
		return exitFailure, fmt.Errorf("rbox pull needs rbox-pull beside rbox (%q): install both (make build puts them in bin/)", helper)
	}
	tls := "tls-verify"
	if !c.TLSVerify {
		tls = "no-tls-verify"
	}
	err = unix.Exec(helper, []string{"rbox-pull", self, tls, c.Ref}, os.Environ())
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
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", im.Ref, id, humanBytes(im.Size), ago(im.Created))
	}
	w.Flush()
	if len(ims) > 1 {
		fmt.Printf("%d images, %s of layers (shared layers counted once)\n", len(ims), humanBytes(total))
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
	removed, err := s.Remove(refs, "")
	if err != nil {
		return exitFailure, err
	}
	for _, r := range refs {
		fmt.Println("removed", r)
	}
	if len(removed) > 0 {
		fmt.Printf("removed %d layers\n", len(removed))
	}
	return 0, nil
}

func (c *imagePruneCmd) run() (int, error) {
	s, err := openStore()
	if err != nil {
		return exitFailure, err
	}
	removed, err := s.Prune("")
	if err != nil {
		return exitFailure, err
	}
	for _, d := range removed {
		fmt.Println("removed layer", d)
	}
	return 0, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
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

func (imagePruneCmd) Help() string {
	return `Examples:
  rbox image prune`
}
