package cgroupv2

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The sandbox's cgroup has two leaves, because cgroup v2 lets processes
// live only in cgroups without children that control resources (the "no
// internal processes" rule):
//
//	SANDBOX            memory.max, memory.swap.max, cpu.max: init and workload together
//	├── init           rbox's init, all its threads
//	└── workload       pids.max (the user's number, for the workload alone),
//	                   and the other limits again, for the workload to read
//
// The init puts the workload in its leaf as it forks it (clone3
// CLONE_INTO_CGROUP) and the workload's cgroup namespace is rooted there,
// so the kernel's nsdelegate refuses the workload writes to the leaf's
// limits; the sandbox's cgroup above it it cannot see at all.
const (
	InitLeaf     = "init"
	WorkloadLeaf = "workload"
)

// makeLeaves builds the two leaves under dir, which holds pid (the init)
// or is empty: it creates them, moves pid into the init's, enables the
// controllers for them (possible only now that dir holds no process), and
// writes the limits on the workload's. have is dir's cgroup.controllers.
func makeLeaves(dir string, l Limits, pid int, have []string) error {
	for _, leaf := range []string{InitLeaf, WorkloadLeaf} {
		if err := os.Mkdir(filepath.Join(dir, leaf), 0o755); err != nil {
			return fmt.Errorf("create cgroup %q: %w", filepath.Join(dir, leaf), err)
		}
	}
	if err := writeFile(filepath.Join(dir, InitLeaf, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("move pid %d into its cgroup: %w", pid, err)
	}
	var enable []string
	for _, c := range append(l.Controllers(), statsControllers...) {
		if slices.Contains(have, c) && !slices.Contains(enable, c) {
			enable = append(enable, c)
		}
	}
	if len(enable) > 0 {
		if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+strings.Join(enable, " +")); err != nil {
			return fmt.Errorf("enable controllers for the sandbox's leaves: %w", err)
		}
	}
	return writeLimits(filepath.Join(dir, WorkloadLeaf), l, l.Files())
}

// writeLimits writes the planned files of l in dir.
func writeLimits(dir string, l Limits, files []File) error {
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if f.Name == "memory.swap.max" && l.MemorySwap == 0 {
			// Only docker's default, not asked for: skip it on a kernel
			// without swap accounting.
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		if err := writeFile(p, f.Value); err != nil {
			return fmt.Errorf("set limit: %w", err)
		}
	}
	return nil
}

// removeTree removes dir's child cgroups, deepest first (the workload may
// have made its own below its leaf), then dir. All of them must be empty.
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read cgroup %q: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove cgroup %q: %w", dir, err)
	}
	return nil
}
