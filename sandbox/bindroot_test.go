package sandbox

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/caps"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/probe"
	"github.com/rbox-sandbox/rbox/slirp"
	"github.com/rbox-sandbox/rbox/userns"
)

// overlayOf decodes the overlay op's data.
func overlayOf(t *testing.T, ops []userns.Op) overlay.Config {
	t.Helper()
	for _, op := range ops {
		if op.Kind == userns.OpOverlay {
			var c overlay.Config
			if err := json.Unmarshal(op.Data, &c); err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Fatal("no overlay op")
	return overlay.Config{}
}

// TestBindRootPlan: the overlay's way out (a read-only bind of the image)
// is offered only to a --read-only root under the auto driver and a
// workload without SYS_ADMIN; it carries every generated file and the
// mount points the image must have.
func TestBindRootPlan(t *testing.T) {
	etc := []etcFile{{Path: "/etc/hostname", Content: "h\n"}, {Path: "/etc/hosts", Content: "x"}, {Path: "/etc/resolv.conf", Content: "nameserver 10.0.2.3\n"}}
	cases := []struct {
		name string
		spec func(*Spec)
		caps caps.Set
		bind bool
	}{
		{"writable root: no bind", func(s *Spec) {}, 0, false},
		{"read-only", func(s *Spec) { s.ReadOnly = true }, 0, true},
		{"read-only, driver auto", func(s *Spec) { s.ReadOnly = true; s.Overlay = overlay.Auto }, 0, true},
		{"read-only, --overlay kernel", func(s *Spec) { s.ReadOnly = true; s.Overlay = overlay.Kernel }, 0, false},
		{"read-only, --overlay fuse", func(s *Spec) { s.ReadOnly = true; s.Overlay = overlay.Fuse }, 0, false},
		{"read-only, SYS_ADMIN could remount it", func(s *Spec) { s.ReadOnly = true }, caps.Set(1) << unix.CAP_SYS_ADMIN, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Plan{Net: slirp.Mode{Kind: NetNone}, IDMap: idmap.Single(1000, 1000), Caps: c.caps}
			c.spec(&p.Spec)
			p.Spec.Volumes = []Volume{{Source: "/h/v", Target: "/data"}, {Source: "/h/w", Target: "/data/sub"}}
			p.Spec.Tmpfs = []Tmpfs{{Target: "/scratch"}}
			p.Spec.Cwd = "/work"
			// With the generated layer the files are not ops, but the
			// bind still needs them: Etc has them all.
			ops := initOps(p, opInput{Hostname: "h", Merged: "/m", Etc: etc})
			got := overlayOf(t, ops).Bind
			if (got != nil) != c.bind {
				t.Fatalf("bind %+v, want it %v", got, c.bind)
			}
			if got == nil {
				return
			}
			var files []string
			for _, f := range got.Files {
				files = append(files, f.Path)
			}
			if !slices.Equal(files, []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}) {
				t.Errorf("files %q", files)
			}
			want := []string{"/proc", "/dev", "/sys", "/tmp", "/data", "/scratch", "/work"}
			if !slices.Equal(got.MountPoints, want) {
				t.Errorf("mount points\n got %q\nwant %q", got.MountPoints, want)
			}
		})
	}
}

// TestBindRootFiles: files written into the layer by the init (a tmpfs
// layer, --persist) are left alone on a root that is bound read-only
// already, and only where the bind may happen.
func TestBindRootFiles(t *testing.T) {
	files := []etcFile{{Path: "/etc/hostname", Content: "h\n"}}
	for _, ro := range []bool{false, true} {
		p := &Plan{Net: slirp.Mode{Kind: NetNone}, IDMap: idmap.Single(1000, 1000)}
		p.Spec.ReadOnly = ro
		for _, op := range initOps(p, opInput{Hostname: "h", Merged: "/m", Files: files, Etc: files}) {
			if op.Kind == userns.OpFile && op.UnlessReadOnly != ro {
				t.Errorf("read-only %v: file op %+v", ro, op)
			}
		}
	}
}

// TestImageMountPoints: a target needs a mount point in the image unless
// an earlier mount of the list holds it; masks and read-only paths need
// none.
func TestImageMountPoints(t *testing.T) {
	op := func(k userns.OpKind, target string) userns.Op { return userns.Op{Kind: k, Target: target} }
	cases := []struct {
		name string
		ops  []userns.Op
		want []string
	}{
		{"nothing", nil, nil},
		{"/dev's own below its tmpfs", []userns.Op{op(userns.OpTmpfs, "/dev"), op(userns.OpBind, "/dev/null"), op(userns.OpSymlink, "/dev/fd"), op(userns.OpDevpts, "/dev/pts")}, []string{"/dev"}},
		{"the cgroup in the sysfs", []userns.Op{op(userns.OpSysfs, "/sys"), op(userns.OpCgroup2, "/sys/fs/cgroup")}, []string{"/sys"}},
		{"masks need none", []userns.Op{op(userns.OpMask, "/proc/kcore"), op(userns.OpReadOnly, "/proc/sys"), op(userns.OpFile, "/etc/hosts")}, nil},
		{"a directory holds nothing below", []userns.Op{op(userns.OpDir, "/w"), op(userns.OpTmpfs, "/w/t")}, []string{"/w", "/w/t"}},
		{"a volume in a volume", []userns.Op{op(userns.OpRBind, "/a/"), op(userns.OpRBind, "/a/b")}, []string{"/a"}},
		{"a prefix is no parent", []userns.Op{op(userns.OpTmpfs, "/tmp"), op(userns.OpTmpfs, "/tmpx")}, []string{"/tmp", "/tmpx"}},
		{"the root needs none", []userns.Op{op(userns.OpRemount, "/"), op(userns.OpBind, "/")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := imageMountPoints(c.ops); !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestNoOverlayAdvice: a start that neither driver could mount offers
// --read-only, or says why a read-only one could not go without.
func TestNoOverlayAdvice(t *testing.T) {
	both := probe.Wrap(errors.New("no overlay here: kernel overlay: x; fuse-overlayfs: y"), probe.Overlay, probe.Fuse)
	kernelOnly := probe.Wrap(errors.New("kernel overlay: x"), probe.Overlay)
	admin := caps.Set(1) << unix.CAP_SYS_ADMIN
	cases := []struct {
		name     string
		err      error
		readOnly bool
		caps     caps.Set
		want     string // in the message; "" for the error as it was
	}{
		{"writable", both, false, 0, "; ReadOnly needs no overlay"},
		{"read-only with SYS_ADMIN", both, true, admin, "only for a workload without SYS_ADMIN (CapAdd)"},
		{"read-only: the bind's own error", both, true, 0, ""},
		{"--overlay kernel alone", kernelOnly, false, 0, ""},
		{"no error", nil, false, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Plan{Caps: c.caps}
			p.Spec.ReadOnly = c.readOnly
			got := noOverlayAdvice(p, c.err)
			if c.want == "" {
				if got != c.err {
					t.Errorf("got %v, want the error as it was", got)
				}
				return
			}
			if got == nil || !strings.Contains(got.Error(), c.want) || !errors.Is(got, c.err) {
				t.Errorf("got %v, want %q and the cause kept", got, c.want)
			}
			if ps := probe.Of(got); !slices.Equal(ps, []string{probe.Overlay, probe.Fuse}) {
				t.Errorf("probes %q", ps)
			}
		})
	}
}
