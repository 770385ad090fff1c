package oci

import (
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountTypes maps config.json's mount types to the kinds rbox makes.
// Other file systems (nfs, ext4 of a device, fuse.*) cannot be mounted
// by an unprivileged user and are refused.
var mountTypes = map[string]MountKind{
	"bind": MountBind, "rbind": MountBind, "none": MountBind,
	"tmpfs": MountTmpfs, "proc": MountProc, "sysfs": MountSysfs, "devpts": MountDevpts,
	"mqueue": MountMqueue, "cgroup": MountCgroup, "cgroup2": MountCgroup, "overlay": MountOverlay,
}

// classifyMount says which kind a mount is. A bind is named by its
// options ("bind"/"rbind"), whatever its type says (podman writes type
// "bind", containerd "none" or "", older configs no type at all).
func classifyMount(m specs.Mount) (MountKind, error) {
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return MountBind, nil
		}
	}
	k, ok := mountTypes[m.Type]
	if !ok || (k == MountBind && m.Type != "bind" && m.Type != "rbind") {
		if m.Type == "" || m.Type == "none" {
			return "", fmt.Errorf("empty type without a bind or rbind option: say which file system to mount")
		}
		return "", fmt.Errorf("%w: file system %q (rbox mounts bind, tmpfs, proc, sysfs, devpts, mqueue, cgroup, cgroup2, overlay)", ErrUnsupported, m.Type)
	}
	return k, nil
}

// mountFlags are the options of mount(8) that are flags of mount(2);
// set false turns the flag off.
var mountFlags = map[string]struct {
	set  bool
	flag uintptr
}{
	"ro": {true, unix.MS_RDONLY}, "rw": {false, unix.MS_RDONLY},
	"nosuid": {true, unix.MS_NOSUID}, "suid": {false, unix.MS_NOSUID},
	"nodev": {true, unix.MS_NODEV}, "dev": {false, unix.MS_NODEV},
	"noexec": {true, unix.MS_NOEXEC}, "exec": {false, unix.MS_NOEXEC},
	"sync": {true, unix.MS_SYNCHRONOUS}, "async": {false, unix.MS_SYNCHRONOUS},
	"dirsync": {true, unix.MS_DIRSYNC}, "remount": {true, unix.MS_REMOUNT},
	"mand": {true, unix.MS_MANDLOCK}, "nomand": {false, unix.MS_MANDLOCK},
	"atime": {false, unix.MS_NOATIME}, "noatime": {true, unix.MS_NOATIME},
	"diratime": {false, unix.MS_NODIRATIME}, "nodiratime": {true, unix.MS_NODIRATIME},
	"relatime": {true, unix.MS_RELATIME}, "norelatime": {false, unix.MS_RELATIME},
	"strictatime": {true, unix.MS_STRICTATIME}, "nostrictatime": {false, unix.MS_STRICTATIME},
	"bind": {true, unix.MS_BIND}, "rbind": {true, unix.MS_BIND | unix.MS_REC},
	"silent": {true, unix.MS_SILENT}, "loud": {false, unix.MS_SILENT},
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// MountOptions lists the options rbox reads as flags or as its own
// (tmpcopyup); any other option is passed to the file system as data.
func MountOptions() []string {
	var out []string
	for o := range mountFlags {
		out = append(out, o)
	}
	for o := range propagationFlags {
		out = append(out, o)
	}
	return append(out, "tmpcopyup")
}

func translateMount(m specs.Mount, dir string) (Mount, error) {
	kind, err := classifyMount(m)
	if err != nil {
		return Mount{}, err
	}
	out := Mount{Kind: kind, Type: m.Type, Source: m.Source, Destination: filepath.Join("/", m.Destination)}
	if kind == MountBind {
		out.Source = inBundle(dir, m.Source)
	}
	var data []string
	for _, o := range m.Options {
		if f, ok := mountFlags[o]; ok {
			if f.set {
				out.Flags |= f.flag
				out.Clear &^= f.flag
			} else {
				out.Flags &^= f.flag
				out.Clear |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			out.Propagation = append(out.Propagation, p)
			continue
		}
		switch o {
		case "tmpcopyup":
			out.CopyUp = true
		case "notmpcopyup", "":
		default:
			data = append(data, o)
		}
	}
	if kind == MountBind {
		out.Flags |= unix.MS_BIND
	}
	out.Data = strings.Join(data, ",")
	return out, nil
}
