package sandbox

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/rbox-sandbox/rbox/overlay"
)

// tmpfsLayer decides where the writable layer goes when the filesystem of
// the layer's directory cannot be an overlay's upper layer (an rbox or a
// container inside another keeps its state on overlayfs): an ephemeral
// layer moves to a tmpfs in the sandbox's mount namespace, said once on
// stderr unless LayerSize asked for it; a Persist directory there is
// refused, for a tmpfs keeps nothing. It returns nil when the disk will do.
func tmpfsLayer(spec *Spec, layerDir string, stderr io.Writer, words func(string) string) (*overlay.TmpfsLayer, string, string, error) {
	if spec.Persist != "" {
		if base, err := existingBase(spec.Persist); err == nil {
			if fs := overlay.UnfitForUpper(base); fs != "" {
				return nil, "", "", fieldErr("Persist", spec.Persist, "{Persist} %q is on %s, which cannot hold an overlay's upper layer: give a directory on a disk filesystem (ext4, xfs, btrfs), or drop {Persist} for a layer in memory", spec.Persist, fs)
			}
		}
		return nil, "", "", nil
	}
	fs := overlay.UnfitForUpper(layerDir)
	if fs == "" {
		return nil, "", "", nil
	}
	size := spec.LayerSize
	// A read-only root writes nothing there: no notice (and where no
	// overlay mounts, the init binds the image and drops the layer).
	if size == "" && spec.ReadOnly {
		size = overlay.DefaultLayerSize
	} else if size == "" {
		size = overlay.DefaultLayerSize
		if words == nil {
			words = func(f string) string { return f }
		}
		n := fieldErr("LayerSize", "", "the writable layer's directory %q is on %s, which cannot hold an overlay's upper layer: the writable layer is a tmpfs of %s in the sandbox ({LayerSize} sets it)", layerDir, fs, size)
		fmt.Fprintf(stderr, "rbox: notice: %s\n", n.Render(words))
	}
	return overlay.PrepareTmpfs(layerDir, size)
}

// retryLayer is the tmpfs layer of an ephemeral layer whose directory
// the kernel refuses as an upper (EINVAL) on a filesystem UnfitForUpper
// does not know: the init moves the layer to a tmpfs and prints notice.
func retryLayer(spec *Spec, layerDir string, words func(string) string) *overlay.RetryLayer {
	size := spec.LayerSize
	if size == "" {
		size = overlay.DefaultLayerSize
	}
	if words == nil {
		words = func(f string) string { return f }
	}
	n := fieldErr("LayerSize", size, "the kernel refuses the writable layer's directory %q as an overlay's upper layer: the writable layer is a tmpfs of %s in the sandbox ({LayerSize} sets it)", layerDir, size)
	return &overlay.RetryLayer{Size: size, Notice: n.Render(words)}
}

// genDir is where the generated /etc files go as a lower layer of their
// own, or "" to write them into the writable layer: with a layer on a
// tmpfs, the state directory is an overlayfs, and a lower there would
// stack one overlay more, past the kernel's depth of two, three deep.
func genDir(layerDir string, tl *overlay.TmpfsLayer) string {
	if tl != nil {
		return ""
	}
	return filepath.Join(layerDir, "gen")
}
