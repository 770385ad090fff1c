package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/rbox-sandbox/rbox/sandbox"
)

// parseLayerSize checks a --layer-size value: the forms tmpfs takes (N,
// Nk, Nm, Ng, N%), and not zero, which tmpfs reads as "unbounded".
func parseLayerSize(s string) (string, error) {
	if !tmpfsSize(s) || strings.Trim(s, "0kKmMgG%") == "" {
		return "", fmt.Errorf("invalid --layer-size %q: use a size such as 512m, 2g or 25%% (of RAM)", s)
	}
	return s, nil
}

// parseDevice parses --device PATH[:DST]: a host character device bound
// at DST (PATH by default) under /dev. A user namespace can use a device
// node it did not make only through a bind mount of the host's node, and
// only where the host's permissions let the user open it.
func parseDevice(s string) (sandbox.Volume, error) {
	src, dst, _ := strings.Cut(s, ":")
	if dst == "" {
		dst = src
	}
	if !path.IsAbs(src) || !strings.HasPrefix(path.Clean(dst)+"/", "/dev/") || path.Clean(dst) == "/dev" {
		return sandbox.Volume{}, fmt.Errorf("invalid --device %q: use an absolute host path and a target under /dev, e.g. --device /dev/net/tun", s)
	}
	st, err := os.Stat(src)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return sandbox.Volume{}, fmt.Errorf("invalid --device %q: %w", s, err)
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		return sandbox.Volume{}, fmt.Errorf("invalid --device %q: %q is not a character device; use -v for files and directories", s, src)
	}
	return sandbox.Volume{Source: path.Clean(src), Target: path.Clean(dst)}, nil
}
