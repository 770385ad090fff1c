package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// cgroupPath is the cgroup's path inside the hierarchy. Absolute paths
// are taken as given; relative ones (and the ID when none is given) are
// placed under the runtime's own cgroup on v1 and under its parent on v2
// (the runtime's own cgroup holds processes, so it cannot give
// controllers to children), as runc places them. With --systemd-cgroup,
// "slice:prefix:name" is the scope prefix-name.scope in the slice.
func cgroupPath(given, id string, systemd, v2 bool) (string, error) {
	if systemd {
		if given == "" {
			given = "system.slice:rbox-runtime:" + id
		}
		p, err := systemdPath(given)
		if err != nil {
			return "", configError{err}
		}
		return p, nil
	}
	if given == "" {
		given = id
	}
	if strings.Contains(given, "\x00") {
		return "", configError{fmt.Errorf("linux.cgroupsPath %q: holds a NUL byte", given)}
	}
	if filepath.IsAbs(given) {
		return cleanCgroupPath(given)
	}
	own, err := ownCgroup(v2)
	if err != nil {
		return "", err
	}
	if v2 {
		own = filepath.Dir(own)
	}
	return cleanCgroupPath(filepath.Join(own, given))
}

// cleanCgroupPath refuses a path that leaves the hierarchy ("/../x" is
// cleaned to "/x" by Join, but a literal ".." is a mistake worth naming).
func cleanCgroupPath(p string) (string, error) {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", configError{fmt.Errorf("linux.cgroupsPath %q: holds \"..\": give a path inside the cgroup hierarchy", p)}
		}
	}
	c := filepath.Clean("/" + p)
	if c == "/" {
		return "", configError{fmt.Errorf("linux.cgroupsPath %q: is the root cgroup: give a cgroup of the container's own", p)}
	}
	return c, nil
}

// ownCgroup is this process's cgroup: the v2 line of /proc/self/cgroup,
// or on v1 the memory hierarchy's (all of them agree on a plain host).
func ownCgroup(v2 bool) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	want := "0::"
	for _, l := range strings.Split(string(b), "\n") {
		if v2 {
			if p, ok := strings.CutPrefix(l, want); ok {
				return p, nil
			}
			continue
		}
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), "memory") {
			return parts[2], nil
		}
	}
	if v2 {
		return "", errors.New("/proc/self/cgroup: no cgroup v2 line")
	}
	return "/", nil
}

// userManager is the cgroup of the user's systemd manager above own
// (".../user@1000.service"), "/" when own is not under one.
func userManager(own string) string {
	parts := strings.Split(own, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "user@") && strings.HasSuffix(p, ".service") {
			return strings.Join(parts[:i+1], "/")
		}
	}
	return "/"
}

// systemdPath expands systemd's "slice:prefix:name" the way systemd
// names the cgroups: slice a-b.slice lives in a.slice/a-b.slice, the
// unit is prefix-name.scope (name alone when it ends in .slice).
func systemdPath(s string) (string, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return "", fmt.Errorf("linux.cgroupsPath %q: with --systemd-cgroup, want slice:prefix:name (system.slice:docker:ID)", s)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	if strings.ContainsAny(s, "/\x00") || name == "" {
		return "", fmt.Errorf("linux.cgroupsPath %q: with --systemd-cgroup, want slice:prefix:name, without '/'", s)
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", fmt.Errorf("linux.cgroupsPath %q: %w", s, err)
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		if prefix != "" {
			unit = prefix + "-" + name
		}
		unit += ".scope"
	}
	return filepath.Join(dir, unit), nil
}

// expandSlice is the cgroup directory of a slice: "a-b-c.slice" is
// /a.slice/a-b.slice/a-b-c.slice, "-.slice" the root.
func expandSlice(slice string) (string, error) {
	base, ok := strings.CutSuffix(slice, ".slice")
	if !ok {
		return "", fmt.Errorf("slice %q: want a name ending in .slice", slice)
	}
	if base == "-" {
		return "/", nil
	}
	if base == "" || strings.HasPrefix(base, "-") || strings.HasSuffix(base, "-") || strings.Contains(base, "--") {
		return "", fmt.Errorf("slice %q: not a valid slice name", slice)
	}
	path, prefix := "/", ""
	for _, part := range strings.Split(base, "-") {
		prefix += part
		path = filepath.Join(path, prefix+".slice")
		prefix += "-"
	}
	return path, nil
}
