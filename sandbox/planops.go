package sandbox

import (
	"encoding/json"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/slirp"
	"github.com/rbox-sandbox/rbox/userns"
)

// The init's list of operations (userns.Op): the plan says what the root
// is made of and in which order, the init only applies it. A front end
// whose description lists its own mounts (an OCI bundle) builds its own
// list from the same kinds.

// opInput is what the op list needs besides the Plan: the facts of this
// run, known once the state directory, the layer and the network exist.
type opInput struct {
	Hostname string
	// Merged is the overlay's mount point on the host, Overlay the
	// overlay itself.
	Merged  string
	Overlay overlay.Config
	// Files are written into the writable layer; nil when the generated
	// layer (Overlay.Generated) holds them.
	Files []etcFile
	// Etc are all the generated files, wherever they go: a read-only
	// bind of the image, the overlay's way out, binds them itself.
	Etc []etcFile
	// Network is the sandbox's side of a user-mode network; nil for none
	// and host.
	Network *slirp.ChildConfig
	// Cgroup: the workload's cgroup leaf is bound at /sys/fs/cgroup.
	Cgroup bool
}

// etcFile is a file rbox generates for the sandbox's /etc.
type etcFile struct {
	Path, Content string
}

// Mount attributes of the system file systems.
const (
	attrHardened = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	attrTmpfs    = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
)

// hostDevices are bound from the host: character devices cannot be created
// in a user namespace, and these are safe to share.
var hostDevices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// devLinks are /dev's symlinks, link → text.
var devLinks = [][2]string{
	{"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
}

// maskedPaths hide kernel state a sandbox has no business reading: files
// get /dev/null bound over them, directories an empty read-only tmpfs. The
// list follows runc's default spec. The workload cannot unmount a mask or
// mount a fresh procfs or sysfs over it: both need CAP_SYS_ADMIN, outside
// the default set; from a nested user namespace the kernel refuses a new
// instance outright, because there the masks are locked mounts
// (mount_too_revealing). A workload given CAP_SYS_ADMIN (--cap-add) can
// undo them: the masks were made in its own user namespace, so they are
// not locked for it (as in rootless podman; see SECURITY.md).
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// readOnlyPaths stay visible but cannot be written, even by root of the
// sandbox: writes there reach the kernel, not the sandbox.
var readOnlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// initOps is the init's op list for a run of p: the network's child side
// and the ports (before the pivot: the port driver's socket is a host
// path), the overlay and the root, the generated files, /proc, /dev,
// /sys (and the cgroup), the masks, the user's mounts parents first, the
// working directory, the host name, lo, the pivot, the read-only root.
func initOps(p *Plan, in opInput) []userns.Op {
	spec := &p.Spec
	var ops []userns.Op
	add := func(o ...userns.Op) { ops = append(ops, o...) }
	if in.Network != nil {
		add(userns.Op{Kind: userns.OpNetwork, Data: mustJSON(in.Network), Ports: in.Network.PortSocket != ""})
	}
	overlayAt := len(ops)
	add(userns.Op{Kind: userns.OpOverlay, Target: in.Merged},
		userns.Op{Kind: userns.OpRoot, Target: in.Merged})
	bind := bindRoot(p, in)
	for _, f := range in.Files {
		// Under a bound image the overlay op has bound the file: the
		// root is read-only already.
		add(userns.Op{Kind: userns.OpFile, Target: f.Path, Content: f.Content, Mode: 0o644, UnlessReadOnly: bind != nil})
	}
	add(userns.Op{Kind: userns.OpProc, Target: "/proc", Attrs: attrHardened})
	add(devOps(p.IDMap)...)
	ownNet := p.Net.Kind != NetHost
	if ownNet {
		// sysfs shows the network namespace it was mounted in; the kernel
		// only lets us mount one for a namespace we own.
		add(userns.Op{Kind: userns.OpSysfs, Target: "/sys", Attrs: attrHardened | unix.MOUNT_ATTR_RDONLY})
	} else {
		add(userns.Op{Kind: userns.OpRBind, Source: "/sys", Target: "/sys", Attrs: unix.MOUNT_ATTR_RDONLY})
	}
	if in.Cgroup {
		add(userns.Op{Kind: userns.OpCgroup2, Target: "/sys/fs/cgroup", Attrs: attrHardened | unix.MOUNT_ATTR_RDONLY})
	}
	for _, m := range maskedPaths {
		add(userns.Op{Kind: userns.OpMask, Target: m})
	}
	for _, r := range readOnlyPaths {
		add(userns.Op{Kind: userns.OpReadOnly, Target: r, Attrs: attrHardened | unix.MOUNT_ATTR_RDONLY})
	}
	if spec.ReadOnly {
		add(userns.Op{Kind: userns.OpTmpfs, Target: "/tmp", Options: [][2]string{{"mode", "1777"}}, Attrs: attrTmpfs})
	}
	add(userOps(spec)...)
	if spec.Cwd != "" && spec.Cwd != "/" {
		add(userns.Op{Kind: userns.OpDir, Target: spec.Cwd})
	}
	add(userns.Op{Kind: userns.OpHostname, Source: in.Hostname})
	if ownNet {
		add(userns.Op{Kind: userns.OpLoopback})
	}
	add(userns.Op{Kind: userns.OpPivot})
	if spec.ReadOnly {
		// After every mount point is in place: none can be made in a
		// read-only root.
		add(userns.Op{Kind: userns.OpRemount, Target: "/", Attrs: unix.MOUNT_ATTR_RDONLY})
	}
	c := in.Overlay
	if bind != nil {
		bind.MountPoints = imageMountPoints(ops[overlayAt+2:])
		c.Bind = bind
	}
	ops[overlayAt].Data = mustJSON(c)
	return ops
}

// bindRoot is the overlay's way out where no driver mounts (the image
// bound read-only, overlay.BindRoot), or nil where the sandbox may not take
// it: it needs --read-only (no writable layer), the auto driver, and a
// workload without CAP_SYS_ADMIN, which could remount the bind read-write
// and write the image itself (with an overlay, such writes reach the
// throwaway layer).
func bindRoot(p *Plan, in opInput) *overlay.BindRoot {
	spec := &p.Spec
	if !spec.ReadOnly || (spec.Overlay != "" && spec.Overlay != overlay.Auto) || p.Caps.Has(unix.CAP_SYS_ADMIN) {
		return nil
	}
	b := &overlay.BindRoot{}
	for _, f := range in.Etc {
		b.Files = append(b.Files, overlay.File{Path: f.Path, Content: f.Content})
	}
	return b
}

// imageMountPoints are the targets of the ops (those after the root) that
// must exist in the image itself, because a read-only tree cannot get a
// new mount point: the mounts' and directories' targets that no earlier
// mount of the list holds (/dev/pts is in the /dev tmpfs). The masks and
// read-only paths skip a missing target and need none.
func imageMountPoints(ops []userns.Op) []string {
	var mounted, need []string
	under := func(t string) bool {
		for _, m := range mounted {
			if t == m || strings.HasPrefix(t, m+"/") {
				return true
			}
		}
		return false
	}
	for _, op := range ops {
		switch op.Kind {
		case userns.OpBind, userns.OpRBind, userns.OpTmpfs, userns.OpProc, userns.OpSysfs,
			userns.OpDevpts, userns.OpMqueue, userns.OpCgroup2, userns.OpDir, userns.OpSymlink:
		default:
			continue
		}
		t := path.Clean(op.Target)
		if t == "/" || under(t) {
			continue
		}
		need = append(need, t)
		if op.Kind != userns.OpDir && op.Kind != userns.OpSymlink {
			mounted = append(mounted, t)
		}
	}
	return need
}

// devOps build /dev on a tmpfs of its own: the host's harmless devices
// bound over files, a new devpts instance, shm and mqueue, the links.
func devOps(ids idmap.Plan) []userns.Op {
	ops := []userns.Op{{Kind: userns.OpTmpfs, Target: "/dev", Options: [][2]string{{"mode", "755"}, {"size", "65536k"}}, Attrs: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC}}
	for _, d := range hostDevices {
		ops = append(ops, userns.Op{Kind: userns.OpBind, Source: "/dev/" + d, Target: "/dev/" + d})
	}
	pts := [][2]string{{"newinstance", ""}, {"ptmxmode", "0666"}, {"mode", "0620"}}
	// The tty group exists only where it is mapped; naming an unmapped gid
	// makes the kernel refuse the mount.
	if idmap.Contains(ids.GID, 5) {
		pts = append(pts, [2]string{"gid", "5"})
	}
	ops = append(ops,
		userns.Op{Kind: userns.OpDevpts, Target: "/dev/pts", Options: pts, Attrs: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC},
		userns.Op{Kind: userns.OpTmpfs, Target: "/dev/shm", Options: [][2]string{{"mode", "1777"}, {"size", "65536k"}}, Attrs: attrHardened},
		userns.Op{Kind: userns.OpMqueue, Target: "/dev/mqueue", Attrs: attrHardened},
	)
	for _, l := range devLinks {
		ops = append(ops, userns.Op{Kind: userns.OpSymlink, Target: "/dev/" + l[0], Source: l[1]})
	}
	return ops
}

// userOps are the volumes (with what is mounted below their sources) and
// tmpfs mounts, parents before children.
func userOps(spec *Spec) []userns.Op {
	var ops []userns.Op
	for _, v := range spec.Volumes {
		op := userns.Op{Kind: userns.OpRBind, Source: v.Source, Target: v.Target}
		if v.ReadOnly {
			op.Attrs = unix.MOUNT_ATTR_RDONLY
		}
		ops = append(ops, op)
	}
	for _, t := range spec.Tmpfs {
		mode := t.Mode
		if mode == "" {
			mode = "1777"
		}
		opts := [][2]string{{"mode", mode}}
		if t.Size != "" {
			opts = append(opts, [2]string{"size", t.Size})
		}
		ops = append(ops, userns.Op{Kind: userns.OpTmpfs, Target: t.Target, Options: opts, Attrs: attrTmpfs})
	}
	sort.SliceStable(ops, func(i, j int) bool {
		return strings.Count(path.Clean(ops[i].Target), "/") < strings.Count(path.Clean(ops[j].Target), "/")
	})
	return ops
}

// mustJSON encodes an op's data: plain structs, which always encode.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
