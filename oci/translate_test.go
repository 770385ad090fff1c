package oci

import (
	"slices"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestTranslate(t *testing.T) {
	b, err := Translate(good(t), "/b/c1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Dir != "/b/c1" || b.Root != (Root{Path: "/b/c1/rootfs"}) || b.OCIVersion != "1.0.2-dev" || b.Hostname != "c1" {
		t.Fatalf("bundle %+v", b)
	}
	want := []Mount{
		{Kind: MountProc, Type: "proc", Source: "proc", Destination: "/proc", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV},
		{Kind: MountTmpfs, Type: "tmpfs", Source: "tmpfs", Destination: "/dev", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
		{Kind: MountSysfs, Type: "sysfs", Source: "sysfs", Destination: "/sys", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RDONLY},
		{Kind: MountBind, Type: "bind", Source: "/tmp/hosts", Destination: "/etc/hosts", Flags: unix.MS_BIND, Propagation: []uintptr{unix.MS_PRIVATE | unix.MS_REC}},
		{Kind: MountTmpfs, Type: "tmpfs", Source: "tmpfs", Destination: "/tmp", Flags: unix.MS_NOSUID | unix.MS_NODEV, Clear: unix.MS_RDONLY, Propagation: []uintptr{unix.MS_PRIVATE | unix.MS_REC}, CopyUp: true},
		// A relative bind source is the bundle's; rbind is recursive.
		{Kind: MountBind, Source: "/b/c1/data", Destination: "/data", Flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY},
	}
	if len(b.Mounts) != len(want) {
		t.Fatalf("%d mounts, want %d", len(b.Mounts), len(want))
	}
	for i := range want {
		g, w := b.Mounts[i], want[i]
		if g.Kind != w.Kind || g.Type != w.Type || g.Source != w.Source || g.Destination != w.Destination ||
			g.Flags != w.Flags || g.Clear != w.Clear || !slices.Equal(g.Propagation, w.Propagation) || g.Data != w.Data || g.CopyUp != w.CopyUp {
			t.Errorf("mounts[%d] = %+v\nwant       %+v", i, g, w)
		}
	}
	p := b.Process
	if !slices.Equal(p.Args, []string{"sh", "-c", "echo hi"}) || p.Cwd != "/" || !p.NoNewPrivileges || !slices.Equal(p.AdditionalGids, []uint32{10}) {
		t.Errorf("process %+v", p)
	}
	if len(p.Rlimits) != 1 || p.Rlimits[0] != (Rlimit{Resource: unix.RLIMIT_NOFILE, Soft: 1048576, Hard: 1048576}) {
		t.Errorf("rlimits %+v", p.Rlimits)
	}
	if len(b.Namespaces) != 6 || b.Namespaces[1] != (Namespace{Type: specs.NetworkNamespace, Path: "/proc/1/ns/net"}) || b.Namespaces[0].Path != "" {
		t.Errorf("namespaces %+v", b.Namespaces)
	}
	if len(b.UIDMappings) != 2 || b.UIDMappings[1] != (IDMapping{ContainerID: 1, HostID: 100000, Size: 65536}) {
		t.Errorf("uid mappings %+v", b.UIDMappings)
	}
	if b.Seccomp == nil || len(b.Seccomp.Program) == 0 {
		t.Error("no seccomp program")
	}
	if len(b.Hooks.Poststop) != 1 || b.Hooks.Poststop[0].Timeout != 5*time.Second {
		t.Errorf("hooks %+v", b.Hooks)
	}
	if b.CgroupsPath != "/libpod_parent/c1" {
		t.Errorf("cgroupsPath %q", b.CgroupsPath)
	}
}

// The config is the contract: what it leaves out, the Bundle leaves out,
// with no default of rbox exec in its place.
func TestTranslateAddsNoDefaults(t *testing.T) {
	s, err := Parse([]byte(`{"ociVersion": "1.0.2", "root": {"path": "/r"}, "process": {"args": ["true"], "cwd": "/"}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Translate(s, "/b")
	if err != nil {
		t.Fatal(err)
	}
	if b.Seccomp != nil || b.Process.Capabilities != nil || b.Mounts != nil || b.Namespaces != nil || b.Process.Env != nil ||
		b.MaskedPaths != nil || b.ReadonlyPaths != nil || b.Process.NoNewPrivileges || b.Process.Rlimits != nil || b.Resources != nil || b.Hostname != "" {
		t.Fatalf("defaults added: %+v", b)
	}
}

func TestTranslateIgnored(t *testing.T) {
	s := good(t)
	s.Process.ApparmorProfile = "containers-default-0.50"
	s.Linux.MountLabel = "system_u:object_r:container_file_t:s0"
	b, err := Translate(s, "/b")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Ignored, []string{"process.apparmorProfile", "linux.mountLabel"}) {
		t.Fatalf("ignored %q", b.Ignored)
	}
}
