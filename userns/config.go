package userns

import (
	"github.com/rbox-sandbox/rbox/caps"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/seccomp"
)

// Config is everything the init needs, sent over the sync channel as JSON.
// The supervisor builds it from the validated Spec; nothing here is read
// from the init's own argv or environment.
type Config struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
	User string   `json:"user,omitempty"` // "", UID[:GID] or NAME[:GROUP], resolved inside
	Tty  bool     `json:"tty,omitempty"`
	Rows uint16   `json:"rows,omitempty"`
	Cols uint16   `json:"cols,omitempty"`
	// Ops build the root, in order (op.go): the plan's list, which the
	// init applies without deciding anything.
	Ops []Op `json:"ops"`
	// Layer is the host directory of the writable layer, named in the
	// hint of an error that a full filesystem explains; empty when the
	// root is not rbox's overlay.
	Layer string `json:"layer,omitempty"`
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

	IDMap idmap.Plan `json:"idmap"`
	// SelfMap: the init writes its single map itself (foreignproc.go).
	SelfMap bool `json:"selfMap,omitempty"`
	// Reap lists stale state directories of earlier, killed sandboxes that
	// the host user could not delete; the init removes them as mapped root
	// (and the reaper, which builds nothing, only them: reaper.go).
	Reap []string `json:"reap,omitempty"`
	// EnterSocket is the host path where the init serves rbox enter.
	EnterSocket string `json:"enterSocket,omitempty"`
	Debug       bool   `json:"debug,omitempty"`
	// Epoch is the supervisor's start on CLOCK_MONOTONIC, in nanoseconds:
	// debug lines of both processes show times since then.
	Epoch int64 `json:"epoch,omitempty"`
}
