package sandbox

import (
	"time"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/slirp"
)

// Spec describes one sandbox run, as a front end gives it: pure data. The
// CLI fills it from flags; Validate checks it alone, Plan against the host.
type Spec struct {
	// Name names the sandbox for rbox ps, enter, kill, wait, logs and rm;
	// empty for a generated one (rbox-<id>).
	Name   string   `json:"name,omitempty"`
	Rootfs string   `json:"rootfs"`
	Args   []string `json:"args"`
	// Env is the complete environment of the workload, KEY=VALUE, without
	// the defaults (PATH, HOSTNAME, HOME, TERM), which the supervisor adds
	// where Env does not set them.
	Env      []string `json:"env,omitempty"`
	Cwd      string   `json:"cwd,omitempty"`
	User     string   `json:"user,omitempty"`
	Tty      bool     `json:"tty,omitempty"`
	Term     string   `json:"term,omitempty"` // TERM for a tty workload
	Hostname string   `json:"hostname,omitempty"`
	// Net is the --net value: none, host, slirp or pasta, the last two
	// with an optional ":allow-host-loopback" (slirp.ParseMode).
	Net string `json:"net"`
	// MTU of the sandbox's device under slirp or pasta; 0 for the default.
	MTU int `json:"mtu,omitempty"`
	// Ports are the published ports (-p), for slirp and pasta.
	Ports    []slirp.Port `json:"ports,omitempty"`
	Overlay  string       `json:"overlay"`
	ReadOnly bool         `json:"readOnly,omitempty"`
	// Persist keeps the writable layer in this directory (upper/ and work/
	// below it) across runs; empty for a throwaway layer.
	Persist string `json:"persist,omitempty"`
	// LayerSize bounds a writable layer that has to live on a tmpfs
	// (overlay.TmpfsLayer); empty for the default.
	LayerSize string   `json:"layerSize,omitempty"`
	Volumes   []Volume `json:"volumes,omitempty"`
	Tmpfs     []Tmpfs  `json:"tmpfs,omitempty"`
	// IDMap is auto, full or single: how Plan builds the ID map from
	// /etc/subuid and /etc/subgid. UIDMappings and GIDMappings, when
	// given (an OCI bundle's), are the map itself instead.
	IDMap       string          `json:"idmap"`
	UIDMappings []idmap.Mapping `json:"uidMappings,omitempty"`
	GIDMappings []idmap.Mapping `json:"gidMappings,omitempty"`
	// Timeout ends the workload with SIGTERM after this long, and with
	// SIGKILL StopTimeout later; zero means no limit.
	Timeout     time.Duration `json:"timeout,omitempty"`
	StopTimeout time.Duration `json:"stopTimeout,omitempty"`
	// AllowNewPrivs lets setuid binaries and file capabilities raise the
	// workload's privileges (no_new_privs is set otherwise).
	AllowNewPrivs bool `json:"allowNewPrivs,omitempty"`
	// CapAdd and CapDrop change the default capability set (podman's) as
	// --cap-add and --cap-drop do; "ALL" is accepted in either.
	CapAdd  []string `json:"capAdd,omitempty"`
	CapDrop []string `json:"capDrop,omitempty"`
	// Seccomp is "default" (or empty), "unconfined", or the path of an OCI
	// seccomp profile (JSON).
	Seccomp string `json:"seccomp,omitempty"`
	// Limits are the cgroup v2 resource limits (--memory, --memory-swap,
	// --cpus, --pids-limit); the zero value asks for none, and then rbox
	// does no cgroup work at all.
	Limits cgroupv2.Limits `json:"limits"`
	// CgroupManager is auto, systemd or cgroupfs (--cgroup-manager).
	CgroupManager cgroupv2.Kind `json:"cgroupManager,omitempty"`
	// Stats prints what the sandbox used at exit: "" (no), StatsText or
	// StatsJSON. It needs a cgroup, as limits do.
	Stats string `json:"stats,omitempty"`
	Debug bool   `json:"debug,omitempty"`
	// Layers, uppermost first, are an image's layer directories, the
	// overlay's lower directories; Rootfs is then the uppermost.
	Layers []string `json:"layers,omitempty"`
	// LayerLocks are the layers' in-use locks in the image store: the
	// supervisor holds each shared for the run, so that rmi and prune
	// leave the layers alone (see package image).
	LayerLocks []string `json:"layerLocks,omitempty"`
}

// NeedsCgroup reports whether the run needs a cgroup of its own: limits or
// statistics were asked for.
func (s *Spec) NeedsCgroup() bool { return !s.Limits.IsZero() || s.Stats != "" }

// Values of Spec.Stats.
const (
	StatsText = "text"
	StatsJSON = "json"
)

// Volume binds a host path into the sandbox.
type Volume struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Tmpfs mounts a fresh tmpfs in the sandbox.
type Tmpfs struct {
	Target string `json:"target"`
	Size   string `json:"size,omitempty"`
	Mode   string `json:"mode,omitempty"`
}

// Network modes (see package slirp for all of them).
const (
	NetNone = slirp.None
	NetHost = slirp.Host
)

// ID map modes.
const (
	IDMapAuto   = "auto"
	IDMapFull   = "full"
	IDMapSingle = "single"
)

// Seccomp modes; anything else is a profile's path.
const (
	SeccompDefault    = "default"
	SeccompUnconfined = "unconfined"
)

// DefaultPath is the workload's PATH unless the user sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
