package sandbox

import (
	"fmt"
	"path"
	"strings"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/slirp"
)

// validHostname accepts letters, digits, '-' and '.', at most 64
// characters, starting and ending with a letter or digit. (No regexp: its
// package-level compile would run in every start of the init too.)
func validHostname(h string) bool {
	if h == "" || len(h) > 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		edge := i == 0 || i == len(h)-1
		if !alnum && (edge || c != '-' && c != '.') {
			return false
		}
	}
	return true
}

// Validate checks a Spec on its own: no file system, no host, no
// compile, and the Spec is not changed (Plan resolves it against the
// host). Every error is a *FieldError of one line that names the field,
// the value and what to do.
func Validate(s *Spec) error {
	if s.Rootfs == "" {
		return fieldErr("Rootfs", "", "no rootfs: use {Rootfs} DIR (make testdata builds a busybox one)")
	}
	if len(s.Args) == 0 || s.Args[0] == "" {
		return fieldErr("Args", "", "no command: use rbox exec {Rootfs} DIR -- CMD [ARGS...]")
	}
	mode, err := slirp.ParseMode(s.Net)
	if err != nil {
		return fieldErr("Net", s.Net, "invalid {Net} %q: %v", s.Net, err)
	}
	if err := slirp.CheckMTU(s.MTU); err != nil {
		return fieldErr("MTU", fmt.Sprint(s.MTU), "invalid {MTU} %d: %v", s.MTU, err)
	}
	if s.MTU != 0 && !mode.UserMode() {
		return fieldErr("MTU", fmt.Sprint(s.MTU), "{MTU} %d needs {Net} slirp or {Net} pasta, not {Net} %s", s.MTU, s.Net)
	}
	if len(s.Ports) > 0 && !mode.UserMode() {
		return fieldErr("Ports", s.Ports[0].String(), "{Ports} %s needs {Net} slirp or {Net} pasta, not {Net} %s: under host the sandbox's ports are the host's already, under none nothing can reach it", s.Ports[0], s.Net)
	}
	if i, j, found := slirp.Conflict(s.Ports); found {
		a, b := s.Ports[i], s.Ports[j]
		return fieldErr("Ports", a.String(), "invalid {Ports} %s: host port %d/%s is already published by {Ports} %s; give each a different host port", a, a.HostPort, a.Proto, b)
	}
	if err := overlay.CheckDriver(s.Overlay); err != nil {
		return fieldErr("Overlay", s.Overlay, "invalid {Overlay} %q: %v", s.Overlay, err)
	}
	switch s.IDMap {
	case IDMapAuto, IDMapFull, IDMapSingle:
	default:
		return fieldErr("IDMap", s.IDMap, "invalid {IDMap} %q: use auto, full or single", s.IDMap)
	}
	if err := validateMappings(s); err != nil {
		return err
	}
	if s.Cwd != "" && !path.IsAbs(s.Cwd) {
		return fieldErr("Cwd", s.Cwd, "invalid {Cwd} %q: the working directory must be an absolute path", s.Cwd)
	}
	if s.Hostname != "" && !validHostname(s.Hostname) {
		return fieldErr("Hostname", s.Hostname, "invalid {Hostname} %q: use letters, digits, '-' and '.', at most 64 characters", s.Hostname)
	}
	if s.Name != "" && !validName(s.Name) {
		return fieldErr("Name", s.Name, "invalid {Name} %q: use letters, digits, '_', '.' and '-', starting with a letter or digit, at most 64 characters", s.Name)
	}
	if s.User != "" && !validUser(s.User) {
		return fieldErr("User", s.User, "invalid {User} %q: use UID[:GID] or NAME[:GROUP]", s.User)
	}
	if s.Timeout < 0 {
		return fieldErr("Timeout", s.Timeout.String(), "invalid {Timeout} %s: a duration must not be negative; give one such as 90s or 5m, or leave it out", s.Timeout)
	}
	if s.StopTimeout < 0 {
		return fieldErr("StopTimeout", s.StopTimeout.String(), "invalid {StopTimeout} %s: a duration must not be negative; give one such as 10s", s.StopTimeout)
	}
	if s.Persist != "" && s.ReadOnly {
		return fieldErr("Persist", s.Persist, "{Persist} and {ReadOnly} conflict: a read-only root keeps no changes; drop one")
	}
	if err := validateCgroup(s); err != nil {
		return err
	}
	for _, v := range s.Volumes {
		if v.Target == "/" {
			return fieldErr("Volumes", v.Source+":"+v.Target, "invalid {Volumes} %s:%s: cannot mount over the sandbox's root; use {Rootfs}", v.Source, v.Target)
		}
	}
	for _, t := range s.Tmpfs {
		if t.Target == "/" {
			return fieldErr("Tmpfs", t.Target, "invalid {Tmpfs} /: cannot mount over the sandbox's root")
		}
	}
	return nil
}

// validateMappings checks explicit ID mappings (an OCI bundle's
// uidMappings and gidMappings): both or neither, each line non-empty and
// within the 32-bit ID space, container root mapped.
func validateMappings(s *Spec) error {
	if len(s.UIDMappings) == 0 && len(s.GIDMappings) == 0 {
		return nil
	}
	for _, f := range []struct {
		field string
		ms    []idmap.Mapping
	}{{"UIDMappings", s.UIDMappings}, {"GIDMappings", s.GIDMappings}} {
		if len(f.ms) == 0 {
			return fieldErr(f.field, "", "{UIDMappings} and {GIDMappings} go together: give both, or neither")
		}
		if len(f.ms) > idmap.MaxLines {
			return fieldErr(f.field, fmt.Sprint(len(f.ms)), "{%s} has %d lines: the kernel takes at most %d", f.field, len(f.ms), idmap.MaxLines)
		}
		for _, m := range f.ms {
			if m.Count == 0 || uint64(m.Inside)+uint64(m.Count) > 1<<32 || uint64(m.Outside)+uint64(m.Count) > 1<<32 {
				return fieldErr(f.field, fmt.Sprint(m), "invalid {%s} line %d %d %d: give a count of at least 1 within the 32-bit ID space", f.field, m.Inside, m.Outside, m.Count)
			}
		}
		if !idmap.Contains(f.ms, 0) {
			return fieldErr(f.field, "", "{%s} maps no container root (inside ID 0): the sandbox's init runs as root", f.field)
		}
	}
	return nil
}

func validateCgroup(s *Spec) error {
	if _, err := cgroupv2.ParseKind(string(s.CgroupManager)); err != nil {
		return fieldErr("CgroupManager", string(s.CgroupManager), "%v", err)
	}
	switch s.Stats {
	case "", StatsText, StatsJSON:
	default:
		return fieldErr("Stats", s.Stats, "invalid {Stats} %q: use {Stats} (text) or {Stats}=json", s.Stats)
	}
	// cgroupv2 still words these with the flags' names (its own issue).
	if err := s.Limits.Validate(); err != nil {
		return fieldErr("Limits", "", "%v", err)
	}
	return nil
}

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return false
		}
	}
	return true
}

// validUser accepts the forms of a user: UID, UID:GID, NAME or
// NAME:GROUP. Names are resolved inside the sandbox, against the image's
// /etc/passwd.
func validUser(s string) bool {
	u, g, hasGroup := strings.Cut(s, ":")
	if u == "" || (hasGroup && g == "") {
		return false
	}
	for _, part := range []string{u, g} {
		if strings.ContainsAny(part, ":/\x00 \t\n") {
			return false
		}
	}
	return true
}
