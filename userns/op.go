package userns

import (
	"encoding/json"
	"io"
)

// The init builds the sandbox's filesystem by applying Config.Ops in order,
// as bubblewrap applies its list of setup operations: the plan (package
// sandbox, or a front end such as an OCI bundle's) decides what, the init
// only how. Every target inside the root is resolved with the root as
// the root (pathrs-lite: openat2 RESOLVE_IN_ROOT), and every mount is made
// detached and attached to a target descriptor (fsopen/fsmount, open_tree,
// move_mount, mount_setattr).
//
// The ops before OpRoot act on host paths (the overlay's mount point) or
// on no path at all (the network's child side); OpRoot opens the directory
// every later target is resolved in; OpPivot makes it the root, and ops
// after it act on the sandbox's own tree.

// OpKind names what an Op does.
type OpKind string

// Kinds of Op.
const (
	// OpNetwork runs the network's child side (Externals.Network) with
	// Data; with Ports set the init then waits for the supervisor's
	// "ports" message, while the host's filesystem is still reachable.
	OpNetwork OpKind = "network"
	// OpOverlay mounts the root's overlay (Externals.Overlay) with Data
	// on the host directory Target.
	OpOverlay OpKind = "overlay"
	// OpRoot opens the host directory Target as the root of every later
	// op. The workload's user is looked up in it at once.
	OpRoot OpKind = "root"
	// OpBind binds the host path Source at Target, without its submounts;
	// OpRBind with them. Attrs are set, Clear cleared (recursively for
	// OpRBind).
	OpBind  OpKind = "bind"
	OpRBind OpKind = "rbind"
	// New file systems at Target, with Options for fsconfig and Attrs on
	// the mount: tmpfs (CopyUp: with a copy of what Target held, as OCI's
	// tmpcopyup), proc, sysfs, devpts, mqueue.
	OpTmpfs  OpKind = "tmpfs"
	OpProc   OpKind = "proc"
	OpSysfs  OpKind = "sysfs"
	OpDevpts OpKind = "devpts"
	OpMqueue OpKind = "mqueue"
	// OpCgroup2 binds the workload's cgroup leaf (Config.CgroupLeaf, the
	// init's descriptor) at Target with Attrs: a cgroup namespace's view.
	OpCgroup2 OpKind = "cgroup2"
	// OpFile replaces Target with a file of Content and Mode: whatever is
	// there (a symlink included) is unlinked first.
	OpFile OpKind = "file"
	// OpSymlink makes Target a symbolic link to Source.
	OpSymlink OpKind = "symlink"
	// OpDir makes the directory Target and its parents (mode 0755).
	OpDir OpKind = "dir"
	// OpMask hides Target: /dev/null over a file, an empty read-only
	// tmpfs over a directory; a missing Target is skipped.
	OpMask OpKind = "mask"
	// OpReadOnly covers Target with a bind of itself with Attrs (read-only
	// at least), recursively; a missing Target is skipped.
	OpReadOnly OpKind = "readonly"
	// OpRemount sets Attrs and Propagation on (and clears Clear from)
	// the mount at Target, not its submounts: the root's read-only
	// remount after the pivot.
	OpRemount OpKind = "remount"
	// OpHostname sets the UTS namespace's host name to Source.
	OpHostname OpKind = "hostname"
	// OpLoopback brings up lo in the sandbox's network namespace.
	OpLoopback OpKind = "loopback"
	// OpPivot makes the root the process's root and detaches the old one.
	OpPivot OpKind = "pivot"
)

// Op is one step of the root's build, sent to the init as JSON.
type Op struct {
	Kind OpKind `json:"kind"`
	// Source: the host path of a bind, a symlink's text, the host name.
	Source string `json:"source,omitempty"`
	// Target: inside the root, but a host path for OpOverlay and OpRoot.
	Target string `json:"target,omitempty"`
	// Options are a new file system's fsconfig parameters, in order; an
	// empty value sets a flag ("newinstance").
	Options [][2]string `json:"options,omitempty"`
	// Attrs and Clear are MOUNT_ATTR_* bits to set and to clear;
	// Propagation is MS_PRIVATE, MS_SLAVE, MS_SHARED or MS_UNBINDABLE,
	// set on the mount once attached.
	Attrs       uint64 `json:"attrs,omitempty"`
	Clear       uint64 `json:"clear,omitempty"`
	Propagation uint64 `json:"propagation,omitempty"`
	// CopyUp fills a new tmpfs with a copy of what its Target held.
	CopyUp bool `json:"copyUp,omitempty"`
	// Content and Mode are an OpFile's.
	Content string `json:"content,omitempty"`
	Mode    uint32 `json:"mode,omitempty"`
	// UnlessReadOnly: an OpFile skipped where the root is mounted
	// read-only already (an image bound for want of an overlay, whose op
	// bound the file over the image's).
	UnlessReadOnly bool `json:"unlessReadOnly,omitempty"`
	// Ports: after OpNetwork, wait for "ports".
	Ports bool `json:"ports,omitempty"`
	// Data are the settings of an op implemented outside userns
	// (OpOverlay, OpNetwork), which only its implementation reads.
	Data json.RawMessage `json:"data,omitempty"`
}

// Externals are the ops whose code lives in other packages: the init
// calls them and never imports those packages, so that the init is the
// same for every front end and the policy stays where it is decided.
// cmd/rbox hands them to Main (overlay.MountOp, slirp.ChildOp,
// slirp.MakeTap).
type Externals struct {
	// Overlay mounts an overlay described by data on the host directory
	// target and says how, for the debug log.
	Overlay func(data json.RawMessage, target string) (string, error)
	// Network configures the sandbox's side of a user-mode network from
	// data (the port forwarder's side logs to log) and says how.
	Network func(data json.RawMessage, log io.Writer) (string, error)
	// Tap makes the named tap device in the init's network namespace,
	// its first step (StartOptions.Tap), before it waits for its ID map:
	// the network's helper attaches to it meanwhile. Not an op: it comes
	// before the Config.
	Tap func(name string) error
}
