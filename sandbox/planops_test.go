package sandbox

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/slirp"
	"github.com/rbox-sandbox/rbox/userns"
)

// steps renders ops as "kind target" (or "kind source" without a target),
// leaving out the fixed runs of /dev, the masks and the read-only paths,
// which TestInitOpsSystem pins once.
func steps(ops []userns.Op) []string {
	var out []string
	for _, op := range ops {
		if strings.HasPrefix(op.Target, "/dev/") || op.Kind == userns.OpMask || op.Kind == userns.OpReadOnly {
			continue
		}
		s := string(op.Kind)
		switch {
		case op.Target != "":
			s += " " + op.Target
		case op.Source != "":
			s += " " + op.Source
		}
		out = append(out, s)
	}
	return out
}

func TestInitOps(t *testing.T) {
	single := idmap.Single(1000, 1000)
	child := &slirp.ChildConfig{Dev: "tap0", IP: "10.0.2.100", Netmask: 24, Gateway: "10.0.2.2", MTU: 65520}
	withPorts := *child
	withPorts.PortSocket = "/s/ports.sock"
	base := func(s *Spec) {}
	cases := []struct {
		name string
		spec func(*Spec)
		net  slirp.Mode
		in   func(*opInput)
		want []string
	}{
		{"default", base, slirp.Mode{Kind: NetNone}, nil, []string{
			"overlay /m", "root /m", "proc /proc", "tmpfs /dev", "sysfs /sys",
			"hostname h", "loopback", "pivot",
		}},
		{"net host binds the host's /sys, no lo", base, slirp.Mode{Kind: NetHost}, nil, []string{
			"overlay /m", "root /m", "proc /proc", "tmpfs /dev", "rbind /sys",
			"hostname h", "pivot",
		}},
		{"read-only: /tmp, then the root last", func(s *Spec) { s.ReadOnly = true }, slirp.Mode{Kind: NetNone}, nil, []string{
			"overlay /m", "root /m", "proc /proc", "tmpfs /dev", "sysfs /sys", "tmpfs /tmp",
			"hostname h", "loopback", "pivot", "remount /",
		}},
		{"user mounts parents first, after the system", func(s *Spec) {
			s.Volumes = []Volume{{Source: "/h/b", Target: "/a/b"}, {Source: "/h/a", Target: "/a"}}
			s.Tmpfs = []Tmpfs{{Target: "/a/b/c"}, {Target: "/t"}}
			s.Cwd = "/w"
		}, slirp.Mode{Kind: NetNone}, nil, []string{
			"overlay /m", "root /m", "proc /proc", "tmpfs /dev", "sysfs /sys",
			"rbind /a", "tmpfs /t", "rbind /a/b", "tmpfs /a/b/c", "dir /w",
			"hostname h", "loopback", "pivot",
		}},
		{"cgroup leaf over the sysfs", base, slirp.Mode{Kind: NetNone}, func(in *opInput) { in.Cgroup = true }, []string{
			"overlay /m", "root /m", "proc /proc", "tmpfs /dev", "sysfs /sys", "cgroup2 /sys/fs/cgroup",
			"hostname h", "loopback", "pivot",
		}},
		{"files into the layer after the root", base, slirp.Mode{Kind: NetNone}, func(in *opInput) {
			in.Files = []etcFile{{Path: "/etc/hostname", Content: "h\n"}, {Path: "/etc/hosts", Content: "x"}}
		}, []string{
			"overlay /m", "root /m", "file /etc/hostname", "file /etc/hosts", "proc /proc", "tmpfs /dev", "sysfs /sys",
			"hostname h", "loopback", "pivot",
		}},
		{"network first", base, slirp.Mode{Kind: "slirp"}, func(in *opInput) { in.Network = child }, []string{
			"network", "overlay /m", "root /m", "proc /proc", "tmpfs /dev", "sysfs /sys",
			"hostname h", "loopback", "pivot",
		}},
		{"network with ports", base, slirp.Mode{Kind: "slirp"}, func(in *opInput) { in.Network = &withPorts }, []string{
			"network", "overlay /m", "root /m", "proc /proc", "tmpfs /dev", "sysfs /sys",
			"hostname h", "loopback", "pivot",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Plan{Net: c.net, IDMap: single}
			c.spec(&p.Spec)
			in := opInput{Hostname: "h", Merged: "/m", Overlay: overlay.Config{Lower: "/img", Upper: "/l/upper", Work: "/l/work"}}
			if c.in != nil {
				c.in(&in)
			}
			ops := initOps(p, in)
			if got := steps(ops); !slices.Equal(got, c.want) {
				t.Errorf("ops\n got %q\nwant %q", got, c.want)
			}
			// What the init cannot decide travels in the ops.
			for _, op := range ops {
				switch op.Kind {
				case userns.OpNetwork:
					var got slirp.ChildConfig
					if err := json.Unmarshal(op.Data, &got); err != nil || got.IP != "10.0.2.100" || op.Ports != (got.PortSocket != "") {
						t.Errorf("network op %+v: %+v, %v", op, got, err)
					}
				case userns.OpOverlay:
					var got overlay.Config
					if err := json.Unmarshal(op.Data, &got); err != nil || got.Lower != "/img" || got.Upper != "/l/upper" {
						t.Errorf("overlay op %s: %+v, %v", op.Data, got, err)
					}
				case userns.OpFile:
					if op.Mode != 0o644 || op.Content == "" {
						t.Errorf("file op %+v", op)
					}
				case userns.OpRemount:
					if op.Attrs != unix.MOUNT_ATTR_RDONLY {
						t.Errorf("remount op %+v", op)
					}
				}
			}
		})
	}
}

// TestInitOpsMounts pins what each user mount carries: a volume is a
// recursive bind, read-only when asked; a tmpfs has mode 1777 unless
// given, its size, nosuid and nodev.
func TestInitOpsMounts(t *testing.T) {
	p := &Plan{Net: slirp.Mode{Kind: NetNone}, IDMap: idmap.Single(1000, 1000)}
	p.Spec.Volumes = []Volume{{Source: "/h/ro", Target: "/ro", ReadOnly: true}, {Source: "/h/rw", Target: "/rw"}}
	p.Spec.Tmpfs = []Tmpfs{{Target: "/t1"}, {Target: "/t2", Size: "1m", Mode: "700"}}
	want := map[string]userns.Op{
		"/ro": {Kind: userns.OpRBind, Source: "/h/ro", Target: "/ro", Attrs: unix.MOUNT_ATTR_RDONLY},
		"/rw": {Kind: userns.OpRBind, Source: "/h/rw", Target: "/rw"},
		"/t1": {Kind: userns.OpTmpfs, Target: "/t1", Options: [][2]string{{"mode", "1777"}}, Attrs: attrTmpfs},
		"/t2": {Kind: userns.OpTmpfs, Target: "/t2", Options: [][2]string{{"mode", "700"}, {"size", "1m"}}, Attrs: attrTmpfs},
	}
	for _, op := range initOps(p, opInput{Hostname: "h", Merged: "/m"}) {
		if w, ok := want[op.Target]; ok {
			got, _ := json.Marshal(op)
			exp, _ := json.Marshal(w)
			if string(got) != string(exp) {
				t.Errorf("op for %s:\n got %s\nwant %s", op.Target, got, exp)
			}
			delete(want, op.Target)
		}
	}
	if len(want) != 0 {
		t.Errorf("no ops for %v", want)
	}
}

// TestInitOpsSystem pins /dev, the masks and the read-only paths, and
// that the tty group is named only where the map has it.
func TestInitOpsSystem(t *testing.T) {
	for _, c := range []struct {
		name  string
		ids   idmap.Plan
		ttyID bool
	}{
		{"single map", idmap.Single(1000, 1000), false},
		{"full map", idmap.Plan{Full: true, UID: []idmap.Mapping{{Inside: 0, Outside: 1000, Count: 65537}}, GID: []idmap.Mapping{{Inside: 0, Outside: 1000, Count: 65537}}}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &Plan{Net: slirp.Mode{Kind: NetNone}, IDMap: c.ids}
			var dev, masks, ro []string
			for _, op := range initOps(p, opInput{Hostname: "h", Merged: "/m"}) {
				switch {
				case op.Kind == userns.OpMask:
					masks = append(masks, op.Target)
				case op.Kind == userns.OpReadOnly:
					ro = append(ro, op.Target)
					if op.Attrs&unix.MOUNT_ATTR_RDONLY == 0 || op.Attrs&unix.MOUNT_ATTR_NOEXEC == 0 {
						t.Errorf("read-only op %+v", op)
					}
				case strings.HasPrefix(op.Target, "/dev/"):
					dev = append(dev, string(op.Kind)+" "+op.Target)
					if op.Kind == userns.OpDevpts && slices.Contains(op.Options, [2]string{"gid", "5"}) != c.ttyID {
						t.Errorf("devpts options %q with %s", op.Options, c.name)
					}
					if op.Kind == userns.OpBind && op.Source != op.Target {
						t.Errorf("device bind %+v", op)
					}
				}
			}
			wantDev := []string{
				"bind /dev/null", "bind /dev/zero", "bind /dev/full", "bind /dev/random", "bind /dev/urandom", "bind /dev/tty",
				"devpts /dev/pts", "tmpfs /dev/shm", "mqueue /dev/mqueue",
				"symlink /dev/ptmx", "symlink /dev/fd", "symlink /dev/stdin", "symlink /dev/stdout", "symlink /dev/stderr",
			}
			if !slices.Equal(dev, wantDev) {
				t.Errorf("/dev ops\n got %q\nwant %q", dev, wantDev)
			}
			if !slices.Equal(masks, maskedPaths) || !slices.Equal(ro, readOnlyPaths) {
				t.Errorf("masks %q, read-only %q", masks, ro)
			}
		})
	}
}
