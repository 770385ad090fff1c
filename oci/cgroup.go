package oci

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
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/cgroupv1"
)

// cgroupRoot is where the hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// CgroupOptions are the runtime's global cgroup flags and who it runs as.
type CgroupOptions struct {
	// ID names the cgroup when config.json gives no cgroupsPath.
	ID string
	// Systemd is --systemd-cgroup: cgroupsPath is "slice:prefix:name".
	Systemd bool
	// Disabled is --cgroup-manager disabled: no cgroup at all.
	Disabled bool
	// Rootless: not root of the host's user namespace. A cgroup that
	// cannot be made is then a warning and the container runs without.
	Rootless bool
	// Debugf and Warnf get the one line saying what was not done.
	Debugf func(format string, a ...any)
	Warnf  func(msg string)
}

// Cgroup is a container's cgroup: a cgroup v2 directory, or the same
// path in every cgroup v1 hierarchy.
type Cgroup struct {
	v2 string           // the v2 directory
	v1 *cgroupv1.Cgroup // or the v1 cgroup
	// made: create made it. A cgroup that existed before (another
	// container's, a slice of the host's) is joined, but delete neither
	// kills what else is in it nor removes it, and ps and kill --all
	// find the container's processes as without a cgroup.
	made bool
}

// NewCgroup makes the container's cgroup from linux.cgroupsPath and
// writes linux.resources into it. It returns nil, and no error, where the
// container runs without one: --cgroup-manager disabled, rootless on
// cgroup v1, or rootless where the cgroup cannot be made (one line says
// so, as crun does: a warning when config.json named the path, a debug
// line otherwise).
func NewCgroup(b *Bundle, o CgroupOptions) (*Cgroup, error) {
	debugf := o.Debugf
	if debugf == nil {
		debugf = func(string, ...any) {}
	}
	if o.Disabled {
		if b.CgroupsPath != "" || b.Resources != nil {
			debugf("--cgroup-manager disabled: linux.cgroupsPath %q and linux.resources ignored, the container runs without a cgroup", b.CgroupsPath)
		}
		return nil, nil
	}
	v2 := isCgroup2(cgroupRoot)
	if o.Rootless && !v2 {
		if b.CgroupsPath != "" || b.Resources != nil {
			debugf("rootless on cgroup v1: no cgroup can be delegated, linux.cgroupsPath %q and linux.resources ignored (as crun does)", b.CgroupsPath)
		}
		return nil, nil
	}
	path, err := cgroupPath(b.CgroupsPath, o.ID, o.Systemd, v2)
	if err != nil {
		return nil, err
	}
	if o.Systemd && o.Rootless && v2 {
		// A rootless engine names the slices of the user's own manager
		// (podman's user.slice:libpod:ID), whose tree is delegated to
		// the user: user@UID.service in the runtime's own cgroup.
		if own, err := ownCgroup(true); err == nil {
			path = filepath.Join(userManager(own), path)
		}
	}
	if o.Systemd {
		if _, err := os.Stat("/run/systemd/system"); err != nil {
			debugf("--systemd-cgroup: no systemd on this host: linux.cgroupsPath %q made as %q directly", b.CgroupsPath, path)
		} else {
			debugf("--systemd-cgroup: linux.cgroupsPath %q made as %q directly, not as a systemd unit", b.CgroupsPath, path)
		}
	}
	var c *Cgroup
	if v2 {
		c, err = newCgroup2(path, b)
		if err == nil && b.Resources != nil && len(b.Resources.Devices) > 0 {
			// v2 controls devices only through a BPF program, which rbox
			// does not load: /dev holds only linux.devices and the
			// defaults, and mknod needs CAP_MKNOD.
			debugf("linux.resources.devices: not enforced on cgroup v2 (rbox loads no BPF device filter)")
		}
	} else {
		c, err = newCgroup1(path, b)
	}
	if err != nil {
		if o.Rootless && !isConfigError(err) {
			// Without a cgroupsPath nobody asked for one: a debug line;
			// a path the engine gave and cannot have is worth a warning.
			msg := fmt.Sprintf("rootless: the container runs without a cgroup: %v", err)
			switch {
			case b.CgroupsPath == "":
				debugf("%s", msg)
			case o.Warnf != nil:
				o.Warnf(msg)
			}
			return nil, nil
		}
		return nil, err
	}
	return c, nil
}

// configError marks an error of config.json itself, which fails create
// rootless too.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

func isConfigError(err error) bool {
	var ce configError
	return errors.As(err, &ce)
}

// isCgroup2 reports whether dir is a cgroup2 mount: a unified host. A
// hybrid host (v1 hierarchies, a cgroup2 at unified/) is v1 for
// containers, as runc sees it.
func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

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

// defaultDeviceRules are the devices a container may always use when
// linux.resources.devices restricts them: runc's and crun's list (null,
// zero, full, random, urandom, tty, console, ptmx, the pty slaves, and
// mknod of any), so that engines that deny all and name no more get a
// working /dev.
var defaultDeviceRules = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Access: "m"}, {Allow: true, Type: "b", Access: "m"},
	dev("c", 1, 3), dev("c", 1, 5), dev("c", 1, 7), dev("c", 1, 8), dev("c", 1, 9),
	dev("c", 5, 0), dev("c", 5, 1), dev("c", 5, 2), {Allow: true, Type: "c", Major: ptr(int64(136)), Access: "rwm"},
}

func dev(t string, major, minor int64) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: &major, Minor: &minor, Access: "rwm"}
}

func ptr[T any](v T) *T { return &v }

// deviceRules are the devices cgroup rules of the container: the
// config's, then the defaults and the devices config.json creates, as
// runc adds them.
func deviceRules(b *Bundle) []specs.LinuxDeviceCgroup {
	if b.Resources == nil || len(b.Resources.Devices) == 0 {
		return nil
	}
	rules := append(append([]specs.LinuxDeviceCgroup(nil), b.Resources.Devices...), defaultDeviceRules...)
	for _, d := range b.Devices {
		if d.Type == "p" {
			continue // a fifo needs no rule
		}
		t := d.Type
		if t == "u" {
			t = "c"
		}
		rules = append(rules, dev(t, d.Major, d.Minor))
	}
	return rules
}

func newCgroup1(path string, b *Bundle) (*Cgroup, error) {
	res := b.Resources
	if rules := deviceRules(b); rules != nil {
		r := *res
		r.Devices = rules
		res = &r
	}
	files, err := cgroupv1.Files(res)
	if err != nil {
		return nil, configError{err}
	}
	cg, err := cgroupv1.New(path)
	if err != nil {
		return nil, err
	}
	made, err := cg.Create()
	if err == nil {
		err = cg.Set(files)
	}
	if err != nil {
		if made {
			cg.Destroy()
		}
		return nil, err
	}
	return &Cgroup{v1: cg, made: made}, nil
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
			removeCgroupTree(top)
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
				removeCgroupTree(made)
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

// Record sets r's cgroup fields to c (nil: none).
func (c *Cgroup) Record(r *Record) {
	r.Cgroup, r.CgroupV1, r.CgroupMade = "", false, false
	switch {
	case c == nil:
		return
	case c.v1 != nil:
		r.Cgroup, r.CgroupV1 = c.v1.Path, true
	default:
		r.Cgroup = c.v2
	}
	r.CgroupMade = c.made
}

// OpenCgroup is the recorded container's cgroup, nil when it has none.
func (r *Record) OpenCgroup() (*Cgroup, error) {
	switch {
	case r.Cgroup == "":
		return nil, nil
	case r.CgroupV1:
		cg, err := cgroupv1.New(r.Cgroup)
		if err != nil {
			return nil, err
		}
		return &Cgroup{v1: cg, made: r.CgroupMade}, nil
	default:
		return &Cgroup{v2: r.Cgroup, made: r.CgroupMade}, nil
	}
}

// Update writes new limits (update --resources). Device rules are left
// as create made them, as runc's update leaves them.
func (c *Cgroup) Update(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	r := *res
	r.Devices = nil
	if c.v1 != nil {
		files, err := cgroupv1.Files(&r)
		if err != nil {
			return err
		}
		return c.v1.Set(files)
	}
	files, err := v2Files(&r)
	if err != nil {
		return err
	}
	return c.set2(files)
}

// start starts cmd inside the cgroup, so that it and its children are
// never outside it: on v2 cloned into it (CLONE_INTO_CGROUP), on v1
// through this process's own short stay there.
func (c *Cgroup) start(cmd *exec.Cmd) error {
	if c.v1 != nil {
		return c.v1.Start(cmd)
	}
	fd, err := unix.Open(c.v2, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %q: %w", c.v2, err)
	}
	defer unix.Close(fd)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	return cmd.Start()
}

// startIn starts cmd in cg when there is one.
func startIn(cg *Cgroup, cmd *exec.Cmd) error {
	if cg == nil {
		return cmd.Start()
	}
	return cg.start(cmd)
}

// Freeze freezes (on) or thaws the cgroup, and returns once the kernel
// reports it done: v2's cgroup.freeze (frozen in cgroup.events), v1's
// freezer.state.
func (c *Cgroup) Freeze(on bool) error {
	if c.v1 != nil {
		return c.v1.Freeze(on)
	}
	v, want := "0", "frozen 0"
	if on {
		v, want = "1", "frozen 1"
	}
	if err := os.WriteFile(filepath.Join(c.v2, "cgroup.freeze"), []byte(v), 0); err != nil {
		return fmt.Errorf("write %s to %q: %w", v, filepath.Join(c.v2, "cgroup.freeze"), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(c.v2, "cgroup.events"))
		if err != nil {
			return err
		}
		if slices.Contains(strings.Split(string(b), "\n"), want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %q: not %q after 10s", c.v2, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// Procs lists the pids in the cgroup and the cgroups below it.
func (c *Cgroup) Procs() ([]int, error) {
	if c.v1 != nil {
		return c.v1.Procs()
	}
	var pids []int
	err := filepath.WalkDir(c.v2, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != c.v2 && errors.Is(err, fs.ErrNotExist) {
				return nil
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

// Destroy kills what is left in the cgroup (the container's process has
// ended or been killed; a daemon it left may remain), thaws it so that
// the kill lands, waits until it is empty and removes it; a cgroup create
// did not make is left alone.
func (c *Cgroup) Destroy(timeout time.Duration) error {
	if !c.made {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		pids, err := c.Procs()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			c.kill(pid)
		}
		c.Freeze(false)
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup of the container still holds processes %v after %s", pids, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if c.v1 != nil {
		return c.v1.Destroy()
	}
	return removeCgroupTree(c.v2)
}

// kill sends SIGKILL to pid if it is still in the cgroup: the process is
// pinned by a pidfd first, so a pid reused since cgroup.procs was read
// is not signalled.
func (c *Cgroup) kill(pid int) {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // ended since
	}
	defer unix.Close(pfd)
	path := strings.TrimPrefix(c.v2, cgroupRoot)
	if c.v1 != nil {
		path = c.v1.Path
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && (parts[2] == path || strings.HasPrefix(parts[2], path+"/")) {
			unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0)
			return
		}
	}
}

// removeCgroupTree removes a v2 cgroup and the ones below it, the deepest
// first; rmdir may fail with EBUSY for a moment after the last process
// was killed, so it is retried for a second.
func removeCgroupTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroupTree(filepath.Join(dir, e.Name())); err != nil {
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
