package fetch

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/rbox-sandbox/rbox/image"
)

// refNameAnnotation names an image in an OCI layout's index, as skopeo
// writes oci:DIR:TAG.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// platform is the host's, to pick from a multi-arch index.
func platform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Open finds the image a reference names and reads its manifest and
// config. scratch makes a directory for an oci-archive's layout (the
// caller removes it after the pull).
func Open(ctx context.Context, r image.Ref, insecure bool, scratch func() (string, error)) (*image.Fetched, error) {
	img, err := openImage(ctx, r, insecure, scratch)
	if err != nil {
		return nil, err
	}
	return describe(img, r)
}

// reference is r in go-containerregistry's terms. insecure marks the
// registry as one that may be spoken to over plain HTTP; without it, the
// transport refuses http whatever the host (see transport.go).
func reference(r image.Ref, insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(r.Name(), opts...)
}

func openImage(ctx context.Context, r image.Ref, insecure bool, tmp func() (string, error)) (v1.Image, error) {
	switch r.Transport {
	case image.Registry:
		ref, err := reference(r, insecure)
		if err != nil {
			return nil, err
		}
		img, err := remote.Image(ref,
			remote.WithContext(ctx),
			remote.WithAuthFromKeychain(authn.DefaultKeychain),
			remote.WithTransport(newTransport(insecure)),
			remote.WithPlatform(platform()),
			remote.WithUserAgent("rbox"))
		if err != nil {
			return nil, registryError(ref, err)
		}
		return img, nil
	case image.OCILayout:
		return fromLayout(r.Path, r.Tag)
	case image.OCIArchive:
		dir, err := tmp()
		if err != nil {
			return nil, err
		}
		if err := extractArchive(r.Path, dir); err != nil {
			return nil, err
		}
		return fromLayout(dir, r.Tag)
	case image.DockerArchive:
		var tag *name.Tag
		if r.Tag != "" {
			t, err := name.NewTag(r.Tag)
			if err != nil {
				return nil, err
			}
			tag = &t
		}
		img, err := tarball.ImageFromPath(r.Path, tag)
		if err != nil {
			return nil, fmt.Errorf("read docker archive %q: %w", r.Path, err)
		}
		return img, nil
	}
	return nil, fmt.Errorf("unknown transport %q", r.Transport)
}

// registryError makes a registry's answer one line: the status and the
// first message, without the request dump.
func registryError(ref name.Reference, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		msg := ""
		if len(te.Errors) > 0 {
			msg = ": " + strings.ToLower(te.Errors[0].Message)
		}
		hint := ""
		switch te.StatusCode {
		case 401, 403:
			hint = " (log in with podman login or docker login; rbox reads their auth files)"
		case 404:
			hint = " (check the name and tag)"
		}
		return fmt.Errorf("registry %s answered %d for %s%s%s", ref.Context().RegistryStr(), te.StatusCode, ref, msg, hint)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("registry %s speaks plain HTTP: pass --tls-verify=false if you trust the network to it", ref.Context().RegistryStr())
	}
	return fmt.Errorf("pull %s: %w", ref, err)
}

// fromLayout picks an image from an OCI layout: by its ref.name
// annotation, or the only one.
func fromLayout(dir, tag string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %q: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %q: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %q: %w", dir, err)
	}
	var pick []v1.Descriptor
	var names []string
	for _, d := range im.Manifests {
		n := d.Annotations[refNameAnnotation]
		names = append(names, n)
		if tag == "" || n == tag {
			pick = append(pick, d)
		}
	}
	switch {
	case len(pick) == 0 && tag != "":
		return nil, fmt.Errorf("OCI layout %q has no image tagged %q (it has %q)", dir, tag, names)
	case len(pick) == 0:
		return nil, fmt.Errorf("OCI layout %q holds no image", dir)
	case len(pick) > 1:
		return nil, fmt.Errorf("OCI layout %q holds %d images: name one with oci:%s:TAG (tags %q)", dir, len(pick), dir, names)
	}
	d := pick[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("read OCI layout %q: %w", dir, err)
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("read OCI layout %q: %w", dir, err)
		}
		want := platform()
		for _, c := range cm.Manifests {
			if c.Platform != nil && c.Platform.Satisfies(want) && c.MediaType.IsImage() {
				return child.Image(c.Digest)
			}
		}
		return nil, fmt.Errorf("OCI layout %q: no image for %s/%s in the index", dir, want.OS, want.Architecture)
	}
	return idx.Image(d.Digest)
}

// extractArchive unpacks an oci-archive (a tar of a layout) into dir:
// regular files and directories only, names that stay inside dir.
func extractArchive(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open oci-archive: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read oci-archive %q: %w", file, err)
		}
		p, err := image.CleanPath(h.Name)
		if err != nil {
			return fmt.Errorf("read oci-archive %q: entry %q: %w", file, h.Name, err)
		}
		dst := filepath.Join(dir, p)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return err
			}
			out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("read oci-archive %q: %w", file, err)
			}
			_, err = io.Copy(out, tr)
			out.Close()
			if err != nil {
				return fmt.Errorf("read oci-archive %q: %w", file, err)
			}
		default:
			return fmt.Errorf("read oci-archive %q: entry %q: not a file or directory", file, h.Name)
		}
	}
}

// describe reads the manifest and config and checks the config against
// its digest; the layers' DiffIDs come from the verified config.
func describe(img v1.Image, r image.Ref) (*image.Fetched, error) {
	fail := func(err error) (*image.Fetched, error) {
		return nil, fmt.Errorf("read %s: %w", r, err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return fail(err)
	}
	md, err := img.Digest()
	if err != nil {
		return fail(err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fail(err)
	}
	m, err := img.Manifest()
	if err != nil {
		return fail(err)
	}
	if got := image.DigestOf(config); m.Config.Digest.String() != got && r.Transport != image.DockerArchive {
		return fail(fmt.Errorf("config digest mismatch: manifest says %s, content is %s", m.Config.Digest, got))
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fail(err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fail(err)
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return fail(fmt.Errorf("%d layers but %d diff_ids in the config", len(layers), len(cf.RootFS.DiffIDs)))
	}
	f := &image.Fetched{Manifest: manifest, ManifestDigest: md.String(), Config: config, Created: cf.Created.Time}
	for i, l := range layers {
		f.DiffIDs = append(f.DiffIDs, cf.RootFS.DiffIDs[i].String())
		f.Layers = append(f.Layers, l)
	}
	return f, nil
}
