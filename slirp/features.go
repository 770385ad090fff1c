package slirp

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/state"
)

// features is what one slirp4netns binary offers, as its --help lists it.
type features struct {
	DisableHostLoopback bool // --disable-host-loopback, v0.3.0
	EnableSandbox       bool // --enable-sandbox, v0.4.0
	EnableSeccomp       bool // --enable-seccomp, v0.4.0
}

// featuresCache is the file in the state root that remembers the
// features of the slirp4netns last probed; featuresVersion its format.
const (
	featuresCache   = "slirp4netns.features"
	featuresVersion = "rbox-slirp4netns-features-1"
)

// probeFeatures gives bin's features: from the cache in the state root
// dir when it names the same file (path, size, mtime, device, inode),
// else from one `bin --help` run, which it then caches. A run costs a
// process start on every sandbox start (about 2 ms here), the cache a
// stat and a small read. dir "" disables the cache.
func probeFeatures(bin, dir string) (features, error) {
	var st unix.Stat_t
	if err := unix.Stat(bin, &st); err != nil {
		return features{}, fmt.Errorf("stat %q: %w", bin, err)
	}
	key := cacheKey(bin, &st)
	if dir != "" {
		if b, err := state.ReadCache(dir, featuresCache); err == nil {
			if f, ok := decodeFeatures(b, key); ok {
				return f, nil
			}
		}
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		return features{}, fmt.Errorf("%s --help failed (slirp4netns v0.4.0 or later is needed): %w", bin, err)
	}
	f, err := parseHelp(string(out))
	if err != nil {
		return features{}, fmt.Errorf("%s: %w", bin, err)
	}
	if dir != "" {
		// A cache that cannot be written costs the next start a probe,
		// nothing else.
		_ = state.WriteCache(dir, featuresCache, encodeFeatures(f, key))
	}
	return f, nil
}

// cacheKey names one version of a file: its path and what changes when
// it is replaced or rewritten.
func cacheKey(path string, st *unix.Stat_t) string {
	return strings.Join([]string{path, strconv.FormatInt(st.Size, 10), strconv.FormatInt(st.Mtim.Nano(), 10),
		strconv.FormatUint(st.Dev, 10), strconv.FormatUint(st.Ino, 10)}, "\t")
}

// parseHelp reads slirp4netns --help. --netns-type and --ready-fd, which
// rbox relies on, came with v0.4.0.
func parseHelp(help string) (features, error) {
	if !strings.Contains(help, "--netns-type") || !strings.Contains(help, "--ready-fd") {
		return features{}, errors.New("slirp4netns is older than v0.4.0 (its --help lists no --netns-type or --ready-fd): upgrade it, or use --net pasta")
	}
	return features{
		DisableHostLoopback: strings.Contains(help, "--disable-host-loopback"),
		EnableSandbox:       strings.Contains(help, "--enable-sandbox"),
		EnableSeccomp:       strings.Contains(help, "--enable-seccomp"),
	}, nil
}

// The cache is three lines: the format, the key, the features.
func encodeFeatures(f features, key string) []byte {
	var fs []string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.DisableHostLoopback, "disable-host-loopback"}, {f.EnableSandbox, "enable-sandbox"}, {f.EnableSeccomp, "enable-seccomp"}} {
		if x.on {
			fs = append(fs, x.name)
		}
	}
	return []byte(featuresVersion + "\n" + key + "\n" + strings.Join(fs, " ") + "\n")
}

// decodeFeatures reads a cache; ok only when it is whole, of this format
// and for the file key names.
func decodeFeatures(b []byte, key string) (f features, ok bool) {
	lines := strings.Split(string(b), "\n")
	if len(lines) != 4 || lines[0] != featuresVersion || lines[1] != key || lines[3] != "" {
		return features{}, false
	}
	for _, name := range strings.Fields(lines[2]) {
		switch name {
		case "disable-host-loopback":
			f.DisableHostLoopback = true
		case "enable-sandbox":
			f.EnableSandbox = true
		case "enable-seccomp":
			f.EnableSeccomp = true
		default:
			return features{}, false
		}
	}
	return f, true
}
