package userns

import (
	"github.com/rbox-sandbox/rbox/caps"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/seccomp"
	"github.com/rbox-sandbox/rbox/slirp"
)

// Config is everything the init needs, sent over the sync channel as JSON.
// The supervisor builds it from the validated Spec; nothing here is read
// from the init's own argv or environment.
type Config struct {
	Args     []string `json:"args"`
	Env      []string `json:"env"`
	Cwd      string   `json:"cwd"`
	User     string   `json:"user,omitempty"` // "", UID[:GID] or NAME[:GROUP], resolved inside
	Tty      bool     `json:"tty,omitempty"`
	Rows     uint16   `json:"rows,omitempty"`
	Cols     uint16   `json:"cols,omitempty"`
	Hostname string   `json:"hostname"`
	// OwnNetwork is true when the sandbox has its own network namespace.
	OwnNetwork bool `json:"ownNetwork"`
	// Network is the sandbox's side of a user-mode network (slirp, pasta);
	// nil for none and host.
	Network *slirp.ChildConfig `json:"network,omitempty"`

	Rootfs   overlay.Config `json:"rootfs"`
	ReadOnly bool           `json:"readOnly,omitempty"`
	// Merged is the host directory the overlay is mounted on before the
	// init pivots into it.
	Merged string `json:"merged"`
	// AllowNewPrivs leaves no_new_privs unset, for workloads that need
	// setuid binaries.
	AllowNewPrivs bool `json:"allowNewPrivs,omitempty"`
	// Caps is the workload's capability set as root of the sandbox (its
	// bounding set whatever its uid); a non-root workload holds none.
	Caps caps.Set `json:"caps"`
	// Seccomp is the compiled filter for the workload; nil runs it
	// unconfined.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`

	// Cgroup says the init is in a cgroup of the sandbox's: after the
	// workload ends it waits for the supervisor to hang up, which reads
	// the workload's leaf first (systemd removes it once the init is gone).
	Cgroup bool `json:"cgroup,omitempty"`
	// CgroupLeaf is the host path of the workload's leaf cgroup: every
	// workload process starts there, in a cgroup namespace rooted there,
	// which is bound read-only at /sys/fs/cgroup (cgroup.go).
	CgroupLeaf string `json:"cgroupLeaf,omitempty"`

	Mounts []Mount    `json:"mounts,omitempty"`
	Files  []File     `json:"files,omitempty"`
	IDMap  idmap.Plan `json:"idmap"`
	// SelfMap: the init writes its single map itself (foreignproc.go).
	SelfMap bool `json:"selfMap,omitempty"`
	// Reap lists stale state directories of earlier, killed sandboxes that
	// the host user could not delete; the init removes them as mapped root.
	Reap []string `json:"reap,omitempty"`
	// ReapOnly asks the init to remove Reap and exit, building nothing.
	ReapOnly bool `json:"reapOnly,omitempty"`
	// EnterSocket is the host path where the init serves rbox enter.
	EnterSocket string `json:"enterSocket,omitempty"`
	Debug       bool   `json:"debug,omitempty"`
	// Epoch is the supervisor's start on CLOCK_MONOTONIC, in nanoseconds:
	// debug lines of both processes show times since then.
	Epoch int64 `json:"epoch,omitempty"`
}

// Mount is a mount from the host (bind) or a fresh tmpfs.
type Mount struct {
	Kind     string `json:"kind"` // "bind" or "tmpfs"
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	// Size and Mode are tmpfs options, passed to the kernel as given.
	Size string `json:"size,omitempty"`
	Mode string `json:"mode,omitempty"`
}

// File is written into the sandbox's writable layer before the pivot. The
// supervisor puts the generated /etc files in a lower layer of their own
// (overlay.Config.Generated) instead; only a --persist layer, or an image
// whose /etc is not a directory, gets them this way.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	Mode    uint32 `json:"mode"`
}

// Kinds of Mount.
const (
	Bind  = "bind"
	Tmpfs = "tmpfs"
)
