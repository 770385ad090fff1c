package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rbox-sandbox/rbox/oci"
)

// rootDir is where the runtime keeps its containers. Every command
// derives it the same way from --root, the effective uid and
// XDG_RUNTIME_DIR alone: podman calls state and delete with nothing but
// XDG_RUNTIME_DIR in the environment (no HOME, no PATH), so nothing else
// may enter into it.
//
//   - --root DIR: DIR.
//   - root of the initial user namespace: /run/rbox-runtime, whatever
//     XDG_RUNTIME_DIR says (podman as root passes it empty or not at all).
//   - anyone else, rootless podman's uid 0 inside its user namespace
//     included: $XDG_RUNTIME_DIR/rbox-runtime.
func rootDir(g *global, getenv func(string) string, euid int, initialNS bool) (string, error) {
	if g.root != "" {
		if !filepath.IsAbs(g.root) {
			abs, err := filepath.Abs(g.root)
			if err != nil {
				return "", fmt.Errorf("--root %q: %w", g.root, err)
			}
			return abs, nil
		}
		return filepath.Clean(g.root), nil
	}
	if euid == 0 && initialNS {
		return "/run/rbox-runtime", nil
	}
	xdg := getenv("XDG_RUNTIME_DIR")
	if xdg == "" {
		return "", errors.New("no state root: XDG_RUNTIME_DIR is not set; set it, or pass --root DIR")
	}
	if !filepath.IsAbs(xdg) {
		return "", fmt.Errorf("no state root: XDG_RUNTIME_DIR %q is not an absolute path; fix it, or pass --root DIR", xdg)
	}
	return filepath.Join(xdg, "rbox-runtime"), nil
}

// initialUserNS reports whether this process is in the host's user
// namespace: there uid_map maps all of 0-4294967294 onto itself.
func initialUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true
	}
	f := bytes.Fields(b)
	return len(f) == 3 && string(f[0]) == "0" && string(f[1]) == "0" && string(f[2]) == "4294967295"
}

// store opens the state root; create makes it when missing (only create
// writes a container).
func (e *env) store(create bool) (*oci.Store, error) {
	dir, err := rootDir(e.global, e.getenv, os.Geteuid(), initialUserNS())
	if err != nil {
		return nil, err
	}
	return oci.OpenStore(dir, os.Geteuid(), create)
}

// load opens the existing store and reads container id's record.
func (e *env) load(id string) (*oci.Store, *oci.Record, error) {
	st, err := e.store(false)
	if err != nil {
		return nil, nil, err
	}
	r, err := st.Load(id)
	if err != nil {
		return nil, nil, err
	}
	return st, r, nil
}

// loadLocked is load with the container's lock held until unlock is
// called: for commands that change the container.
func (e *env) loadLocked(id string) (st *oci.Store, r *oci.Record, unlock func(), err error) {
	if st, err = e.store(false); err != nil {
		return nil, nil, nil, err
	}
	if unlock, err = st.Lock(id); err != nil {
		return nil, nil, nil, err
	}
	if r, err = st.Load(id); err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return st, r, unlock, nil
}
