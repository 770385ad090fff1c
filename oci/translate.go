package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/seccomp"
)

// Translate validates s, the config.json of the bundle in dir, and
// describes it as a Bundle. dir should be absolute (the engines pass an
// absolute --bundle); a relative one is made absolute here.
func Translate(s *specs.Spec, dir string) (*Bundle, error) {
	if err := Validate(s); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle directory %q: %w", dir, err)
	}
	b := &Bundle{
		Dir:         dir,
		OCIVersion:  s.Version,
		Root:        Root{Path: inBundle(dir, s.Root.Path), Readonly: s.Root.Readonly},
		Hostname:    s.Hostname,
		Domainname:  s.Domainname,
		Annotations: s.Annotations,
		Hooks:       hooks(s.Hooks),
	}
	p := s.Process
	b.Process = ProcessOf(p)
	if p.ApparmorProfile != "" {
		b.Ignored = append(b.Ignored, "process.apparmorProfile")
	}
	if p.SelinuxLabel != "" {
		b.Ignored = append(b.Ignored, "process.selinuxLabel")
	}
	for _, m := range s.Mounts {
		mm, err := translateMount(m, dir)
		if err != nil {
			return nil, err // Validate has seen every mount; kept for safety
		}
		b.Mounts = append(b.Mounts, mm)
	}
	if l := s.Linux; l != nil {
		for _, ns := range l.Namespaces {
			b.Namespaces = append(b.Namespaces, Namespace{Type: ns.Type, Path: ns.Path})
		}
		b.UIDMappings, b.GIDMappings = mappings(l.UIDMappings), mappings(l.GIDMappings)
		b.MaskedPaths, b.ReadonlyPaths = l.MaskedPaths, l.ReadonlyPaths
		b.Devices, b.Sysctl = l.Devices, l.Sysctl
		b.RootfsPropagation = l.RootfsPropagation
		b.CgroupsPath, b.Resources = l.CgroupsPath, l.Resources
		b.TimeOffsets = l.TimeOffsets
		if l.MountLabel != "" {
			b.Ignored = append(b.Ignored, "linux.mountLabel")
		}
		if l.Seccomp != nil {
			prof, err := seccompProfile(l.Seccomp)
			if err != nil {
				return nil, err
			}
			f, err := seccomp.Compile(prof, runtime.GOARCH, nil)
			if err != nil {
				return nil, &FieldError{Path: "linux.seccomp", Err: err}
			}
			b.Seccomp = &f
		}
	}
	return b, nil
}

// inBundle makes a path of config.json absolute: relative paths are the
// bundle's (root.path "rootfs", a bind source "./data").
func inBundle(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func mappings(list []specs.LinuxIDMapping) []IDMapping {
	var out []IDMapping
	for _, m := range list {
		out = append(out, IDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
	}
	return out
}

func hooks(h *specs.Hooks) Hooks {
	if h == nil {
		return Hooks{}
	}
	conv := func(list []specs.Hook) []Hook {
		var out []Hook
		for _, k := range list {
			hk := Hook{Path: k.Path, Args: k.Args, Env: k.Env}
			if k.Timeout != nil {
				hk.Timeout = time.Duration(*k.Timeout) * time.Second
			}
			out = append(out, hk)
		}
		return out
	}
	// Prestart is deprecated in the spec, but engines still write it
	// (nvidia's toolkit, older containerd setups), and runc runs it.
	//lint:ignore SA1019 prestart hooks are still in use
	prestart := h.Prestart
	return Hooks{
		Prestart: conv(prestart), CreateRuntime: conv(h.CreateRuntime), CreateContainer: conv(h.CreateContainer),
		StartContainer: conv(h.StartContainer), Poststart: conv(h.Poststart), Poststop: conv(h.Poststop),
	}
}

// seccompProfile turns linux.seccomp into rbox's Profile through its own
// loader, so that a config's filter is checked exactly as a --seccomp
// file is; its errors are placed under linux.seccomp.
func seccompProfile(l *specs.LinuxSeccomp) (*seccomp.Profile, error) {
	for i, f := range l.Flags {
		if f == specs.LinuxSeccompFlagWaitKillableRecv {
			return nil, unsupported(fmt.Sprintf("linux.seccomp.flags[%d]", i), "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is for seccomp agents, which rbox does not have")
		}
	}
	data, err := json.Marshal(l)
	if err != nil {
		return nil, &FieldError{Path: "linux.seccomp", Err: err}
	}
	p, err := seccomp.LoadOCI(bytes.NewReader(data))
	if err != nil {
		// LoadOCI's message is "seccomp profile: PATH: problem".
		msg := strings.TrimPrefix(err.Error(), "seccomp profile: ")
		if where, rest, ok := strings.Cut(msg, ": "); ok && !strings.Contains(where, " ") {
			return nil, &FieldError{Path: "linux.seccomp." + where, Err: &placed{msg: rest, err: err}}
		}
		return nil, &FieldError{Path: "linux.seccomp", Err: err}
	}
	return p, nil
}

// placed is an error whose message has moved into a FieldError's path;
// the original stays reachable for errors.Is and errors.As.
type placed struct {
	msg string
	err error
}

func (e *placed) Error() string { return e.msg }
func (e *placed) Unwrap() error { return e.err }

// ProcessOf is a checked process (config.json's, or exec's --process)
// in the Bundle's terms.
func ProcessOf(p *specs.Process) Process {
	out := Process{
		Args: p.Args, Env: p.Env, Cwd: p.Cwd,
		Terminal: p.Terminal, ConsoleSize: p.ConsoleSize,
		UID: p.User.UID, GID: p.User.GID, AdditionalGids: p.User.AdditionalGids, Umask: p.User.Umask,
		Capabilities:    p.Capabilities,
		NoNewPrivileges: p.NoNewPrivileges,
		OOMScoreAdj:     p.OOMScoreAdj,
	}
	for _, r := range p.Rlimits {
		n, _ := rlimitNumber(r.Type)
		out.Rlimits = append(out.Rlimits, Rlimit{Resource: n, Soft: r.Soft, Hard: r.Hard})
	}
	return out
}
