package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/cgroupv1"
)

// isCgroup2 reports whether dir is a cgroup2 mount: a unified host. A
// hybrid host (v1 hierarchies, a cgroup2 at unified/) is v1 for
// containers, as runc sees it.
func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

func newCgroup2(path string, b *Bundle) (*Cgroup, error) {
	files, err := v2Files(b.Resources)
	if err != nil {
		return nil, configError{err}
	}
	dir := filepath.Join(cgroupRoot, path)
	top, err := makeCgroup2(dir)
	if err != nil {
		return nil, err
	}
	c := &Cgroup{v2: dir, made: top != ""}
	if err := c.set2(files); err != nil {
		if top != "" {
			cgroupv1.RemoveTree(top)
		}
		return nil, err
	}
	return c, nil
}

// makeCgroup2 makes dir and the cgroups above it that are missing, and
// gives each level every controller its parent has (which this process
// may: rootless, only inside a delegated subtree). It returns the top
// directory it made, for cleanup.
func makeCgroup2(dir string) (string, error) {
	rel := strings.TrimPrefix(dir, cgroupRoot)
	cur, made := cgroupRoot, ""
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		enableControllers(cur)
		cur = filepath.Join(cur, part)
		err := os.Mkdir(cur, 0o755)
		switch {
		case err == nil && made == "":
			made = cur
		case err != nil && !errors.Is(err, fs.ErrExist):
			if made != "" {
				cgroupv1.RemoveTree(made)
			}
			return "", fmt.Errorf("make cgroup %q: %w", cur, err)
		}
	}
	return made, nil
}

// enableControllers writes +C to dir's cgroup.subtree_control for every
// controller dir has, one at a time: one that cannot be enabled (no
// permission above a delegated subtree, a threaded cgroup) leaves the
// others on, and set2 names what a limit then lacks.
func enableControllers(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return
	}
	on, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	have := strings.Fields(string(on))
	for _, c := range strings.Fields(string(b)) {
		if !slices.Contains(have, c) {
			os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0)
		}
	}
}

func (c *Cgroup) set2(files []v2File) error {
	for _, f := range files {
		p := filepath.Join(c.v2, f.Name)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) && f.Alt != "" {
			p = filepath.Join(c.v2, f.Alt)
		}
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			ctrl, _, _ := strings.Cut(f.Name, ".")
			return fmt.Errorf("%s: cgroup %q has no %s (the %s controller is not enabled there, or the kernel lacks the file)", f.Field, c.v2, f.Name, ctrl)
		}
		if err := os.WriteFile(p, []byte(f.Value), 0); err != nil {
			return fmt.Errorf("%s: write %q to %q: %w", f.Field, f.Value, p, err)
		}
	}
	return nil
}
