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

// defaultDeviceRules are the devices a container may always use when
// linux.resources.devices restricts them: runc's and crun's list (null,
// zero, full, random, urandom, tty, console, ptmx, the pty slaves, and
// mknod of any), so that engines that deny all and name no more get a
// working /dev.
var defaultDeviceRules = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Access: "m"}, {Allow: true, Type: "b", Access: "m"},
	dev("c", 1, 3), dev("c", 1, 5), dev("c", 1, 7), dev("c", 1, 8), dev("c", 1, 9),
	dev("c", 5, 0), dev("c", 5, 1), dev("c", 5, 2), {Allow: true, Type: "c", Major: &ptyMajor, Access: "rwm"},
}

// ptyMajor is the pty slaves' major number (any minor).
var ptyMajor int64 = 136

func dev(t string, major, minor int64) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: &major, Minor: &minor, Access: "rwm"}
}

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

// add moves pid, which has forked nothing yet, into the cgroup: for the
// processes the joining step clones, which cannot be born there.
func (c *Cgroup) add(pid int) error {
	if c.v1 != nil {
		return c.v1.Add(pid)
	}
	f := filepath.Join(c.v2, "cgroup.procs")
	if err := os.WriteFile(f, []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("move process %d into cgroup %q: %w", pid, c.v2, err)
	}
	return nil
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
	return cgroupv1.TreeProcs(c.v2)
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
	return cgroupv1.RemoveTree(c.v2)
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
