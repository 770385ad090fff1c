package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rbox-sandbox/rbox/caps"
	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/seccomp"
	"github.com/rbox-sandbox/rbox/slirp"
)

// Plan is a Spec resolved against the host, once, before anything
// exists: every later step reads it and parses nothing again. It is data
// (JSON), so that a detached supervisor can be handed it whole.
type Plan struct {
	// Spec is the validated Spec with its host paths absolute and its
	// defaults filled in (StopTimeout, CgroupManager); the caller's is
	// not changed.
	Spec Spec `json:"spec"`
	Root Root `json:"root"`
	// Caps is the workload's capability set; Seccomp its compiled filter,
	// nil when unconfined.
	Caps    caps.Set        `json:"caps"`
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
	Net     slirp.Mode      `json:"net"`
	// IDMap is the sandbox's ID map; Helpers the setuid helpers that
	// write it when it is Full.
	IDMap   idmap.Plan    `json:"idmap"`
	Helpers idmap.Helpers `json:"helpers"`
	// Warnings are for the user before the start: the ID map fell back to
	// the user alone, a profile that denies what most programs call.
	Warnings []*FieldError `json:"-"`
}

// Root is where the sandbox's root comes from: the read-only lower
// layers of an overlay whose writable layer the supervisor prepares.
// Dir is an image directory, or with Layers (an image's layer
// directories from the store, uppermost first) the uppermost of them.
// An OCI bundle's root used as is (no overlay) takes its place here
// beside them, as a field of its own.
type Root struct {
	Dir    string   `json:"dir"`
	Layers []string `json:"layers,omitempty"`
	// LayerLocks are held shared by the supervisor (Spec.LayerLocks).
	LayerLocks []string `json:"layerLocks,omitempty"`
}

// Env is what Plan reads of the host besides the paths the Spec names.
type Env struct {
	UID, GID uint32
	// SubUIDFile and SubGIDFile default to /etc/subuid and /etc/subgid.
	SubUIDFile, SubGIDFile string
}

// HostEnv is the Env of this process.
func HostEnv() Env { return Env{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())} }

// NewPlan validates spec and resolves it against the host: the image
// directory, the --persist directory (by device and inode), the volumes'
// host paths, the capability set, the seccomp filter (loaded, compiled
// and checked once), the network mode and the ID map. Its errors are
// *FieldError, as Validate's.
func NewPlan(spec *Spec, env Env) (*Plan, error) {
	if err := Validate(spec); err != nil {
		return nil, err
	}
	p := &Plan{Spec: *spec}
	s := &p.Spec
	s.Volumes = append([]Volume(nil), spec.Volumes...)
	p.Net, _ = slirp.ParseMode(s.Net) // Validate parsed it
	s.CgroupManager, _ = cgroupv2.ParseKind(string(s.CgroupManager))
	if s.Timeout > 0 && s.StopTimeout == 0 {
		s.StopTimeout = 10 * time.Second
	}
	var err error
	if p.Root, err = planRoot(s); err != nil {
		return nil, err
	}
	if err := planPersist(s); err != nil {
		return nil, err
	}
	if s.Seccomp != "" && s.Seccomp != SeccompDefault && s.Seccomp != SeccompUnconfined {
		abs, err := filepath.Abs(s.Seccomp)
		if err != nil {
			return nil, fieldErr("Seccomp", s.Seccomp, "{Seccomp} %q: %w", s.Seccomp, err)
		}
		s.Seccomp = abs
	}
	if p.Caps, p.Seccomp, err = hardening(s); err != nil {
		return nil, err
	}
	if w := readOnlyWarning(s, p.Caps); w != nil {
		p.Warnings = append(p.Warnings, w)
	}
	if w := seccompWarning(s, p.Seccomp); w != nil {
		p.Warnings = append(p.Warnings, w)
	}
	for i := range s.Volumes {
		if err := planVolume(&s.Volumes[i]); err != nil {
			return nil, err
		}
	}
	if err := checkVolumesAgainstLayer(s); err != nil {
		return nil, err
	}
	var warn *FieldError
	if p.IDMap, p.Helpers, warn, err = planIDMap(s, env); err != nil {
		return nil, err
	}
	if warn != nil {
		p.Warnings = append(p.Warnings, warn)
	}
	if s.User != "" {
		if err := checkNumericUser(s.User, p.IDMap); err != nil {
			return nil, err
		}
	}
	if err := checkRootfsReadable(p.Root.Dir, p.IDMap); err != nil {
		return nil, err
	}
	return p, nil
}

// planRoot finds the image directory.
func planRoot(s *Spec) (Root, error) {
	abs, err := filepath.Abs(s.Rootfs)
	if err != nil {
		return Root{}, fieldErr("Rootfs", s.Rootfs, "rootfs %q: %w", s.Rootfs, err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Root{}, fieldErr("Rootfs", s.Rootfs, "rootfs %q does not exist: point {Rootfs} at an unpacked image directory", s.Rootfs)
	case err != nil:
		return Root{}, fieldErr("Rootfs", s.Rootfs, "rootfs %q: %w", s.Rootfs, err)
	case !st.IsDir():
		return Root{}, fieldErr("Rootfs", s.Rootfs, "rootfs %q is not a directory: point {Rootfs} at an unpacked image directory", s.Rootfs)
	}
	s.Rootfs = abs
	return Root{Dir: abs, Layers: s.Layers, LayerLocks: s.LayerLocks}, nil
}

// planVolume makes a volume's host path absolute and refuses one that is
// missing or out of the user's reach.
func planVolume(v *Volume) error {
	bad := func(format string, a ...any) error {
		return fieldErr("Volumes", v.Source+":"+v.Target, "invalid {Volumes} %s:%s: "+format, append([]any{v.Source, v.Target}, a...)...)
	}
	abs, err := filepath.Abs(v.Source)
	if err != nil {
		return bad("%w", err)
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		return bad("host path %q does not exist; create it first", v.Source)
	} else if errors.Is(err, os.ErrPermission) {
		return bad("host path %q is out of your reach (permission denied on the way to it); make its directories searchable by you (chmod +x) or mount another path", v.Source)
	} else if err != nil {
		return bad("%w", err)
	}
	v.Source = abs
	return nil
}

// String is for --debug.
func (p *Plan) String() string {
	return fmt.Sprintf("root %s, net %s, id map %s, capabilities [%s], seccomp %s", p.Root.Dir, p.Net, mapName(p.IDMap), p.Caps, seccompName(&p.Spec, p.Seccomp))
}
