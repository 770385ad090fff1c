package oci

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/seccomp"
)

// Bundle is what a bundle's config.json asks for, checked and put in the
// terms rbox's plan step works with: paths made absolute, mount options
// split into flags and data, rlimit names made numbers, the seccomp
// profile compiled. It is data only; nothing in it has been done yet.
//
// Nothing is added that the config leaves out: an absent field stays the
// zero value (nil, "", false), and the plan must read that as "the
// config asks for nothing here", not as "use rbox exec's default". A
// config with no seccomp section runs without a filter, one with no
// capabilities section runs with none, one without a "network" namespace
// shares the caller's network.
type Bundle struct {
	// Dir is the bundle directory, absolute.
	Dir string
	// OCIVersion is config.json's ociVersion, for the state JSON.
	OCIVersion string
	// Root is the container's root file system, used as the engine
	// prepared it: rbox adds no writable layer over it.
	Root Root
	// Namespaces are linux.namespaces in order: each one is either made
	// new (Path "") or joined (Path names /proc/PID/ns/TYPE or a bind
	// mount of one). A type not listed is shared with the caller.
	Namespaces []Namespace
	// UIDMappings and GIDMappings are written for a new user namespace:
	// directly when rbox is root in the caller's user namespace (podman's
	// rootless mode), through newuidmap/newgidmap when it is not.
	UIDMappings, GIDMappings []IDMapping
	Hostname, Domainname     string
	// Mounts are config.json's mounts, in order: they are mounted in this
	// order after the root, each over what came before.
	Mounts []Mount
	// Process is what runs once the container is started.
	Process Process
	// Seccomp is the compiled filter for this machine's architecture, nil
	// when the config has no linux.seccomp (no filter at all).
	Seccomp *seccomp.Filter
	// MaskedPaths are hidden (a read-only empty tmpfs over a directory,
	// /dev/null over anything else); ReadonlyPaths are bind-mounted over
	// themselves read-only. Both after Mounts, absent paths skipped.
	MaskedPaths, ReadonlyPaths []string
	// Devices are device nodes to create (or bind from the host where
	// mknod is not allowed, as in a user namespace).
	Devices []specs.LinuxDevice
	// Sysctl are written under /proc/sys inside the namespaces.
	Sysctl map[string]string
	// RootfsPropagation is the propagation of the root mount, "" for the
	// runtime's choice (private).
	RootfsPropagation string
	// Hooks run at the spec's points of the lifecycle.
	Hooks Hooks
	// CgroupsPath is linux.cgroupsPath as given: a path under the cgroup
	// root, or systemd's "slice:prefix:name" with --systemd-cgroup. ""
	// means the runtime chooses; rootless without a delegated cgroup, the
	// container then runs without one (as crun does).
	CgroupsPath string
	// Resources are the cgroup limits, as the spec spells them: the
	// cgroup managers translate them into their files.
	Resources *specs.LinuxResources
	// TimeOffsets are the offsets of a new time namespace.
	TimeOffsets map[string]specs.LinuxTimeOffset
	// Annotations are reported back in the state JSON.
	Annotations map[string]string
	// Ignored lists fields rbox accepts but cannot do on this host
	// (process.apparmorProfile, process.selinuxLabel, linux.mountLabel):
	// the runtime says so in one debug line each.
	Ignored []string
}

// Root is root in config.json, the path made absolute.
type Root struct {
	Path     string // absolute: a relative root.path is the bundle's
	Readonly bool
}

// Namespace is one linux.namespaces entry.
type Namespace struct {
	Type specs.LinuxNamespaceType
	Path string // "" for a new namespace
}

// IDMapping is one line of a uid_map or gid_map.
type IDMapping struct {
	ContainerID, HostID, Size uint32
}

// MountKind says how a mount is made; the plan turns each kind into its
// operation.
type MountKind string

// The kinds of mounts rbox makes.
const (
	MountBind    MountKind = "bind" // a bind or rbind of Source
	MountTmpfs   MountKind = "tmpfs"
	MountProc    MountKind = "proc"
	MountSysfs   MountKind = "sysfs" // an rbind of the host's /sys where a new sysfs is refused
	MountDevpts  MountKind = "devpts"
	MountMqueue  MountKind = "mqueue"
	MountCgroup  MountKind = "cgroup" // cgroup or cgroup2: the container's view of its cgroup
	MountOverlay MountKind = "overlay"
)

// Mount is one entry of mounts, its options split as mount(2) takes
// them.
type Mount struct {
	Kind MountKind
	// Type is the file system type as given ("", "bind", "tmpfs", ...).
	Type string
	// Destination is absolute inside the container; the plan resolves it
	// inside the root without following symlinks out of it.
	Destination string
	// Source: for a bind, the host path, absolute (a relative source is
	// the bundle's); for other kinds the device name as given.
	Source string
	// Flags are the MS_* flags of the options (MS_BIND|MS_REC for rbind);
	// Clear are flags an option turns off ("rw", "suid", ...), for a bind
	// remount that must keep what the source has; Propagation are the
	// MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE flags (with MS_REC),
	// applied by a separate mount(2) after the mount.
	Flags, Clear uintptr
	Propagation  []uintptr
	// Data are the remaining options, comma-joined, for the file system
	// ("mode=755,size=65536k").
	Data string
	// CopyUp is podman's tmpcopyup: a tmpfs gets the files that were at
	// its destination in the image.
	CopyUp bool
}

// Process is config.json's process, checked.
type Process struct {
	Args []string
	Env  []string
	Cwd  string
	// Terminal: a pty is made and its master sent to the console socket.
	Terminal    bool
	ConsoleSize *specs.Box
	UID, GID    uint32
	// AdditionalGids are the supplementary groups, exactly as given
	// (none when the config lists none).
	AdditionalGids []uint32
	Umask          *uint32
	// Capabilities is nil when the config has no capabilities section:
	// then the process has none (it is not given rbox exec's set).
	Capabilities *specs.LinuxCapabilities
	Rlimits      []Rlimit
	// NoNewPrivileges sets PR_SET_NO_NEW_PRIVS before exec.
	NoNewPrivileges bool
	OOMScoreAdj     *int
}

// Rlimit is one process.rlimits entry, its resource as a number.
type Rlimit struct {
	Resource   int // RLIMIT_* of <sys/resource.h>
	Soft, Hard uint64
}

// Hooks are config.json's hooks, by the point of the lifecycle where they
// run (runtime-spec "Lifecycle"): Prestart and CreateRuntime in the
// runtime's namespaces after the container's namespaces exist,
// CreateContainer and StartContainer in the container's mount namespace,
// Poststart after the process started, Poststop after delete.
type Hooks struct {
	Prestart, CreateRuntime, CreateContainer, StartContainer, Poststart, Poststop []Hook
}

// Hook is one program to run; the container's state JSON goes to its
// stdin.
type Hook struct {
	Path    string
	Args    []string
	Env     []string
	Timeout time.Duration // 0: none
}
