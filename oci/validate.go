package oci

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/caps"
)

// The runtime-spec versions rbox reads: every 1.x up to the version of
// the types it is built with. Engines write what their vendored spec
// says: podman 4.3 "1.0.2-dev", containerd 1.6 "1.0.2-dev", runc spec
// "1.0.2", newer tools "1.1.0" and "1.2.0".
const (
	MinVersion = "1.0.0"
)

// MaxVersion is the newest runtime-spec version rbox knows.
var MaxVersion = fmt.Sprintf("%d.%d.%d", specs.VersionMajor, specs.VersionMinor, specs.VersionPatch)

// FieldError is a problem with one field of config.json, named by its
// JSON path.
type FieldError struct {
	Path string // "process.args", "mounts[3].destination"
	Err  error
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func field(path, format string, args ...any) error {
	return &FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}

// ErrUnsupported marks a field rbox understands but does not do; a
// config that sets one is refused rather than run differently than it
// asks.
var ErrUnsupported = errors.New("not supported by rbox")

func unsupported(path, why string) error {
	return &FieldError{Path: path, Err: fmt.Errorf("%w: %s", ErrUnsupported, why)}
}

// Validate checks a parsed config.json without touching the file system:
// what the runtime spec requires, and what rbox refuses. The first
// problem is returned.
func Validate(s *specs.Spec) error {
	if err := checkVersion(s.Version); err != nil {
		return err
	}
	if s.Root == nil {
		return field("root", "missing: the bundle must name its root file system (root.path)")
	}
	if s.Root.Path == "" {
		return field("root.path", "empty: name the container's root file system")
	}
	if s.Process == nil {
		return field("process", "missing: create needs the process to run")
	}
	if err := checkProcess(s.Process, "process"); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		if err := checkMount(m, fmt.Sprintf("mounts[%d]", i)); err != nil {
			return err
		}
	}
	if err := checkHooks(s.Hooks); err != nil {
		return err
	}
	switch {
	case s.Solaris != nil:
		return unsupported("solaris", "rbox runs Linux containers")
	case s.Windows != nil:
		return unsupported("windows", "rbox runs Linux containers")
	case s.VM != nil:
		return unsupported("vm", "rbox runs containers, not virtual machines")
	case s.ZOS != nil:
		return unsupported("zos", "rbox runs Linux containers")
	case s.FreeBSD != nil:
		return unsupported("freebsd", "rbox runs Linux containers")
	}
	if s.Linux != nil {
		return checkLinux(s.Linux)
	}
	return nil
}

// checkVersion accepts MAJOR.MINOR.PATCH with an optional -pre or +build
// suffix, from MinVersion to MaxVersion's minor (patch releases of a
// known minor change no field).
func checkVersion(v string) error {
	if v == "" {
		return field("ociVersion", "missing: say which runtime-spec version the config follows (rbox reads %s to %s)", MinVersion, MaxVersion)
	}
	core := v
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	var n [3]int
	ok := len(parts) == 3
	for i := 0; ok && i < 3; i++ {
		x, err := strconv.Atoi(parts[i])
		ok = err == nil && x >= 0 && parts[i] != "" && (parts[i] == "0" || parts[i][0] != '0')
		n[i] = x
	}
	if !ok {
		return field("ociVersion", "%q is not a version (MAJOR.MINOR.PATCH)", v)
	}
	if n[0] != specs.VersionMajor || n[1] > specs.VersionMinor {
		return field("ociVersion", "%q is a runtime-spec version rbox does not know (it reads %s to %d.%d.x)", v, MinVersion, specs.VersionMajor, specs.VersionMinor)
	}
	return nil
}

func checkProcess(p *specs.Process, at string) error {
	if len(p.Args) == 0 {
		return field(at+".args", "empty: name the program to run")
	}
	if p.Args[0] == "" {
		return field(at+".args[0]", "empty: name the program to run")
	}
	if p.Cwd == "" {
		return field(at+".cwd", "empty: the runtime spec requires an absolute working directory")
	}
	if !filepath.IsAbs(p.Cwd) {
		return field(at+".cwd", "%q is not an absolute path", p.Cwd)
	}
	for i, e := range p.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return field(fmt.Sprintf("%s.env[%d]", at, i), "%q is not KEY=VALUE", e)
		}
	}
	if c := p.Capabilities; c != nil {
		for _, set := range []struct {
			name string
			list []string
		}{{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable}, {"permitted", c.Permitted}, {"ambient", c.Ambient}} {
			for i, name := range set.list {
				if _, ok := caps.Lookup(name); !ok || !strings.HasPrefix(name, "CAP_") {
					return field(fmt.Sprintf("%s.capabilities.%s[%d]", at, set.name, i), "unknown capability %q (the spec names them CAP_*, see capabilities(7))", name)
				}
			}
		}
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		where := fmt.Sprintf("%s.rlimits[%d]", at, i)
		if _, ok := rlimitNumber(r.Type); !ok {
			return field(where+".type", "unknown resource %q (see getrlimit(2): RLIMIT_NOFILE, RLIMIT_NPROC, ...)", r.Type)
		}
		if seen[r.Type] {
			return field(where+".type", "%s is given twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return field(where, "soft limit %d is above the hard limit %d", r.Soft, r.Hard)
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return field(at+".oomScoreAdj", "%d is out of range -1000 to 1000", *p.OOMScoreAdj)
	}
	if p.ConsoleSize != nil && !p.Terminal {
		return field(at+".consoleSize", "given without process.terminal")
	}
	switch {
	case p.Scheduler != nil:
		return unsupported(at+".scheduler", "rbox does not set scheduling policies")
	case p.IOPriority != nil:
		return unsupported(at+".ioPriority", "rbox does not set I/O priorities")
	case p.ExecCPUAffinity != nil:
		return unsupported(at+".execCPUAffinity", "rbox does not set CPU affinity")
	}
	return nil
}

func checkMount(m specs.Mount, at string) error {
	if m.Destination == "" {
		return field(at+".destination", "empty: say where in the container to mount")
	}
	if strings.ContainsRune(m.Destination, 0) || strings.ContainsRune(m.Source, 0) {
		return field(at, "a path holds a NUL byte")
	}
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return unsupported(at+".uidMappings", "rbox does not make ID-mapped mounts")
	}
	if _, err := classifyMount(m); err != nil {
		return &FieldError{Path: at + ".type", Err: err}
	}
	for j, o := range m.Options {
		if o == "idmap" || o == "ridmap" {
			return unsupported(fmt.Sprintf("%s.options[%d]", at, j), "rbox does not make ID-mapped mounts")
		}
	}
	return nil
}

func checkHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	//lint:ignore SA1019 prestart hooks are still in use (see hooks in translate.go)
	prestart := h.Prestart
	for _, set := range []struct {
		name  string
		hooks []specs.Hook
	}{
		{"prestart", prestart}, {"createRuntime", h.CreateRuntime}, {"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer}, {"poststart", h.Poststart}, {"poststop", h.Poststop},
	} {
		for i, k := range set.hooks {
			where := fmt.Sprintf("hooks.%s[%d]", set.name, i)
			if !filepath.IsAbs(k.Path) {
				return field(where+".path", "%q is not an absolute path", k.Path)
			}
			if k.Timeout != nil && *k.Timeout <= 0 {
				return field(where+".timeout", "%d: a timeout must be at least 1 second", *k.Timeout)
			}
			for j, e := range k.Env {
				if key, _, ok := strings.Cut(e, "="); !ok || key == "" {
					return field(fmt.Sprintf("%s.env[%d]", where, j), "%q is not KEY=VALUE", e)
				}
			}
		}
	}
	return nil
}

// namespaceTypes are the namespace types of the runtime spec, all of
// which rbox makes or joins.
var namespaceTypes = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

func checkLinux(l *specs.Linux) error {
	seen := map[specs.LinuxNamespaceType]bool{}
	newUser := false
	for i, ns := range l.Namespaces {
		where := fmt.Sprintf("linux.namespaces[%d]", i)
		if !namespaceTypes[ns.Type] {
			return field(where+".type", "unknown namespace type %q (pid, network, mount, ipc, uts, user, cgroup, time)", ns.Type)
		}
		if seen[ns.Type] {
			return field(where+".type", "namespace %q is listed twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			return field(where+".path", "%q is not an absolute path", ns.Path)
		}
		if ns.Type == specs.UserNamespace && ns.Path == "" {
			newUser = true
		}
	}
	for _, m := range []struct {
		name string
		list []specs.LinuxIDMapping
	}{{"uidMappings", l.UIDMappings}, {"gidMappings", l.GIDMappings}} {
		if len(m.list) > 0 && !newUser {
			return field("linux."+m.name, "given without a new user namespace (a \"user\" entry without a path in linux.namespaces)")
		}
		if err := checkMappings("linux."+m.name, m.list); err != nil {
			return err
		}
	}
	if newUser && (len(l.UIDMappings) == 0) != (len(l.GIDMappings) == 0) {
		return field("linux.uidMappings", "uidMappings and gidMappings must be given together")
	}
	for _, p := range []struct {
		name string
		list []string
	}{{"maskedPaths", l.MaskedPaths}, {"readonlyPaths", l.ReadonlyPaths}} {
		for i, path := range p.list {
			if !filepath.IsAbs(path) {
				return field(fmt.Sprintf("linux.%s[%d]", p.name, i), "%q is not an absolute path", path)
			}
		}
	}
	for i, d := range l.Devices {
		where := fmt.Sprintf("linux.devices[%d]", i)
		if !filepath.IsAbs(d.Path) {
			return field(where+".path", "%q is not an absolute path", d.Path)
		}
		switch d.Type {
		case "c", "u", "b", "p":
		default:
			return field(where+".type", "%q is not a device type (c, u, b or p)", d.Type)
		}
	}
	switch l.RootfsPropagation {
	case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
	default:
		return field("linux.rootfsPropagation", "%q is not a propagation (shared, slave, private, unbindable, or r* of them)", l.RootfsPropagation)
	}
	if l.Seccomp != nil {
		if _, err := seccompProfile(l.Seccomp); err != nil {
			return err
		}
	}
	switch {
	case l.IntelRdt != nil:
		return unsupported("linux.intelRdt", "rbox does not manage Intel RDT")
	case l.MemoryPolicy != nil:
		return unsupported("linux.memoryPolicy", "rbox does not set NUMA memory policies")
	case len(l.NetDevices) > 0:
		return unsupported("linux.netDevices", "rbox does not move network devices into containers")
	case l.Personality != nil:
		return unsupported("linux.personality", "rbox does not set execution domains")
	case len(l.TimeOffsets) > 0 && !seen[specs.TimeNamespace]:
		return field("linux.timeOffsets", "given without a time namespace")
	}
	return nil
}

// checkMappings refuses empty ranges and ranges that overlap inside the
// container, which the kernel would refuse later with a bare EINVAL.
func checkMappings(at string, list []specs.LinuxIDMapping) error {
	if len(list) > 340 {
		return field(at, "%d ranges: the kernel takes at most 340", len(list))
	}
	for i, m := range list {
		if m.Size == 0 {
			return field(fmt.Sprintf("%s[%d].size", at, i), "0: a range holds at least one ID")
		}
		if uint64(m.ContainerID)+uint64(m.Size) > 1<<32 || uint64(m.HostID)+uint64(m.Size) > 1<<32 {
			return field(fmt.Sprintf("%s[%d]", at, i), "the range runs past ID 4294967295")
		}
		for j := range i {
			o := list[j]
			mlo, mhi := uint64(m.ContainerID), uint64(m.ContainerID)+uint64(m.Size)
			olo, ohi := uint64(o.ContainerID), uint64(o.ContainerID)+uint64(o.Size)
			if mlo < ohi && olo < mhi {
				return field(fmt.Sprintf("%s[%d].containerID", at, i), "%d-%d overlaps %s[%d]", mlo, mhi-1, at, j)
			}
		}
	}
	return nil
}
