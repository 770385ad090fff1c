package sandbox

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rbox-sandbox/rbox/overlay"
)

// ParseLayerSize checks a --layer-size value: the forms tmpfs takes (N,
// Nk, Nm, Ng, N%), and not zero, which tmpfs reads as "unbounded".
func ParseLayerSize(s string) (string, error) {
	if !tmpfsSize(s) || strings.Trim(s, "0kKmMgG%") == "" {
		return "", fmt.Errorf("invalid --layer-size %q: use a size such as 512m, 2g or 25%% (of RAM)", s)
	}
	return s, nil
}

// tmpfsLayer decides where the writable layer goes when the filesystem of
// the state directory cannot be an overlay's upper layer (an rbox or a
// container inside another keeps its state on overlayfs): an ephemeral
// layer moves to a tmpfs in the sandbox's mount namespace, said once on
// stderr unless --layer-size asked for it; a --persist directory there is
// refused, for a tmpfs keeps nothing. It returns nil when the disk will do.
func tmpfsLayer(spec *Spec, stateDir, layerDir string, stderr io.Writer) (*overlay.TmpfsLayer, string, string, error) {
	if spec.Persist != "" {
		if base, err := existingBase(spec.Persist); err == nil {
			if fs := overlay.UnfitForUpper(base); fs != "" {
				return nil, "", "", fmt.Errorf("--persist %q is on %s, which cannot hold an overlay's upper layer: give a directory on a disk filesystem (ext4, xfs, btrfs), or drop --persist for a layer in memory", spec.Persist, fs)
			}
		}
		return nil, "", "", nil
	}
	fs := overlay.UnfitForUpper(stateDir)
	if fs == "" {
		return nil, "", "", nil
	}
	size := spec.LayerSize
	if size == "" {
		size = overlay.DefaultLayerSize
		fmt.Fprintf(stderr, "rbox: notice: the state directory %q is on %s, which cannot hold an overlay's upper layer: the writable layer is a tmpfs of %s in the sandbox (--layer-size sets it)\n", stateDir, fs, size)
	}
	return overlay.PrepareTmpfs(layerDir, size)
}

// ParseDevice parses --device PATH[:DST]: a host character device bound
// at DST (PATH by default) under /dev. A user namespace can use a device
// node it did not make only through a bind mount of the host's node, and
// only where the host's permissions let the user open it.
func ParseDevice(s string) (Volume, error) {
	src, dst, _ := strings.Cut(s, ":")
	if dst == "" {
		dst = src
	}
	if !path.IsAbs(src) || !strings.HasPrefix(path.Clean(dst)+"/", "/dev/") || path.Clean(dst) == "/dev" {
		return Volume{}, fmt.Errorf("invalid --device %q: use an absolute host path and a target under /dev, e.g. --device /dev/net/tun", s)
	}
	st, err := os.Stat(src)
	if err != nil {
		return Volume{}, fmt.Errorf("invalid --device %q: %w", s, unwrapPath(err, src))
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		return Volume{}, fmt.Errorf("invalid --device %q: %q is not a character device; use -v for files and directories", s, src)
	}
	return Volume{Source: path.Clean(src), Target: path.Clean(dst)}, nil
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
