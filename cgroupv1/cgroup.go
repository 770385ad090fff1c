package cgroupv1

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// controllers are the v1 hierarchies a container's cgroup is made in,
// where mounted: runc's set on this kind of host.
var controllers = map[string]bool{
	"memory": true, "cpu": true, "cpuacct": true, "cpuset": true, "pids": true, "freezer": true,
	"devices": true, "blkio": true, "hugetlb": true, "net_cls": true, "net_prio": true, "perf_event": true,
}

// Cgroup is a container's cgroup: one directory of the same path in every
// mounted v1 hierarchy.
type Cgroup struct {
	// Path is the cgroup's path inside each hierarchy ("/a/b").
	Path string
	// dirs maps a controller to the cgroup's directory in its hierarchy.
	dirs map[string]string
}

// Mounts maps the mounted v1 controllers to their hierarchies' mount
// points, from /proc/self/mountinfo.
func Mounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

// Own maps each v1 controller to this process's cgroup in it.
func Own() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseProcCgroup(f)
}

// New describes the cgroup at path (absolute, inside each hierarchy) in
// the hierarchies mounted here; it makes nothing.
func New(path string) (*Cgroup, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return nil, fmt.Errorf("cgroup path %q: want a clean absolute path", path)
	}
	mounts, err := Mounts()
	if err != nil {
		return nil, err
	}
	if len(mounts) == 0 {
		return nil, errors.New("no cgroup v1 hierarchy is mounted")
	}
	c := &Cgroup{Path: path, dirs: map[string]string{}}
	for ctrl, mnt := range mounts {
		c.dirs[ctrl] = filepath.Join(mnt, path)
	}
	return c, nil
}

// Dir is the cgroup's directory in ctrl's hierarchy, "" when that
// hierarchy is not mounted.
func (c *Cgroup) Dir(ctrl string) string { return c.dirs[ctrl] }

// Create makes the cgroup's directories, and gives each new cpuset the
// CPUs and memory nodes of its parent (a new cpuset has none, and a task
// cannot join it then). It reports whether it made the cgroup itself in
// every hierarchy: one that existed before is not the container's to
// remove.
func (c *Cgroup) Create() (made bool, err error) {
	made = true
	for _, ctrl := range c.controllers() {
		dir := c.dirs[ctrl]
		root := strings.TrimSuffix(dir, c.Path)
		cur := root
		for _, part := range strings.Split(strings.TrimPrefix(c.Path, "/"), "/") {
			if part == "" {
				continue
			}
			parent := cur
			cur = filepath.Join(cur, part)
			err := os.Mkdir(cur, 0o755)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return made, fmt.Errorf("make cgroup %q: %w", cur, err)
			}
			if err != nil && cur == dir {
				made = false
			}
			if ctrl == "cpuset" {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					if err := inherit(parent, cur, f); err != nil {
						return made, err
					}
				}
			}
		}
	}
	return made, nil
}

// inherit copies the parent's value of file into dir when dir's is empty.
func inherit(parent, dir, file string) error {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(b)) != "" {
		return nil
	}
	p, err := os.ReadFile(filepath.Join(parent, file))
	if err != nil {
		return err
	}
	return write(filepath.Join(dir, file), strings.TrimSpace(string(p)))
}

func (c *Cgroup) controllers() []string {
	var cs []string
	for ctrl := range c.dirs {
		cs = append(cs, ctrl)
	}
	slices.Sort(cs)
	return cs
}

// Set writes files (from Files) into the cgroup. A controller that is
// not mounted, or a file the kernel does not have, is an error naming
// the config field, unless the file is optional.
func (c *Cgroup) Set(files []File) error {
	for i := 0; i < len(files); i++ {
		f := files[i]
		dir, ok := c.dirs[f.Controller]
		if !ok {
			return fmt.Errorf("%s: no %s controller is mounted (cgroup v1) on this host", f.Field, f.Controller)
		}
		p := filepath.Join(dir, f.Name)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			if f.Optional {
				continue
			}
			return fmt.Errorf("%s: this kernel has no %s (cgroup v1)", f.Field, f.Name)
		}
		err := write(p, f.Value)
		if err != nil && f.Name == "memory.limit_in_bytes" && i+1 < len(files) && files[i+1].Name == "memory.memsw.limit_in_bytes" {
			// A limit above the old memory+swap total is refused until
			// that total grows: write the total first.
			if werr := write(filepath.Join(dir, files[i+1].Name), files[i+1].Value); werr == nil {
				err = write(p, f.Value)
				i++
			}
		}
		if err != nil {
			return fmt.Errorf("%s: write %q to %q: %w", f.Field, f.Value, p, err)
		}
	}
	return nil
}

func write(path, value string) error {
	return os.WriteFile(path, []byte(value), 0)
}

// Start starts cmd inside the cgroup: this process joins the cgroup in
// every hierarchy, starts cmd (born there, so no child of cmd's can
// escape in between) and goes back to where it was.
func (c *Cgroup) Start(cmd *exec.Cmd) error {
	own, err := Own()
	if err != nil {
		return err
	}
	self := strconv.Itoa(os.Getpid())
	back := func() {
		for ctrl, dir := range c.dirs {
			if p, ok := own[ctrl]; ok {
				write(filepath.Join(strings.TrimSuffix(dir, c.Path), p, "cgroup.procs"), self)
			}
		}
	}
	if err := c.Add(os.Getpid()); err != nil {
		back()
		return err
	}
	err = cmd.Start()
	back()
	return err
}

// Add moves the process pid into the cgroup in every hierarchy.
func (c *Cgroup) Add(pid int) error {
	p := strconv.Itoa(pid)
	for _, ctrl := range c.controllers() {
		if err := write(filepath.Join(c.dirs[ctrl], "cgroup.procs"), p); err != nil {
			return fmt.Errorf("move process %s into cgroup %q: %w", p, c.dirs[ctrl], err)
		}
	}
	return nil
}

// Freeze freezes (on) or thaws the cgroup's processes through the
// freezer hierarchy and waits until the kernel reports it done.
func (c *Cgroup) Freeze(on bool) error {
	dir, ok := c.dirs["freezer"]
	if !ok {
		return errors.New("no freezer controller is mounted (cgroup v1) on this host")
	}
	want := "THAWED"
	if on {
		want = "FROZEN"
	}
	p := filepath.Join(dir, "freezer.state")
	deadline := time.Now().Add(10 * time.Second)
	for {
		// FREEZING means still under way; writing again retries the
		// tasks the kernel could not freeze yet.
		if err := write(p, want); err != nil {
			return fmt.Errorf("write %s to %q: %w", want, p, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%q: still %s after 10s", p, strings.TrimSpace(string(b)))
		}
		time.Sleep(time.Millisecond)
	}
}

// Procs lists the pids in the cgroup and below it, read in the freezer
// hierarchy (or another one: all of them hold the same processes).
func (c *Cgroup) Procs() ([]int, error) {
	dir := ""
	for _, ctrl := range append([]string{"freezer", "pids", "memory"}, c.controllers()...) {
		if d, ok := c.dirs[ctrl]; ok {
			dir = d
			break
		}
	}
	return TreeProcs(dir)
}

// TreeProcs lists the pids in the cgroup directory dir and the cgroups
// below it. cgroup.procs and rmdir work alike in v1 and v2, so
// rbox-runtime's v2 cgroups use this and RemoveTree too.
func TreeProcs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, l := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(l); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	slices.Sort(pids)
	return slices.Compact(pids), err
}

// Destroy removes the cgroup's directories (and any the container made
// below them) in every hierarchy; it fails while processes are left. A
// cgroup already gone is no error.
func (c *Cgroup) Destroy() error {
	var errs []error
	for _, ctrl := range c.controllers() {
		if err := RemoveTree(c.dirs[ctrl]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeTree removes dir and the cgroups below it, the deepest first.
// rmdir can fail with EBUSY for a moment after the last process was
// killed; it is retried for a second.
func RemoveTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := RemoveTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	deadline := time.Now().Add(time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %q: %w", dir, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
