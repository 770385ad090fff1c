package sandbox

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rbox-sandbox/rbox/caps"
	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/probe"
	"github.com/rbox-sandbox/rbox/slirp"
)

// good is a valid Spec; each case breaks one field.
func good(t *testing.T) *Spec {
	root := t.TempDir()
	return &Spec{Rootfs: root, Args: []string{"true"}, Net: NetNone, Overlay: "auto", IDMap: IDMapAuto}
}

// testEnv is this user with no subordinate ranges.
func testEnv(t *testing.T) Env {
	empty := filepath.Join(t.TempDir(), "subid")
	os.WriteFile(empty, nil, 0o644)
	e := HostEnv()
	e.SubUIDFile, e.SubGIDFile = empty, empty
	return e
}

func port(t *testing.T, s string) slirp.Port {
	p, err := slirp.ParsePort(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkFieldError fails unless err is one line, a *FieldError of field
// whose message has want.
func checkFieldError(t *testing.T, err error, field, want string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want a *FieldError of %s, got %v", field, err)
	}
	if fe.Field != field || !strings.Contains(err.Error(), want) {
		t.Fatalf("want a *FieldError of %s with %q, got %s: %v", field, want, fe.Field, err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error must be one line: %q", err)
	}
}

// TestValidate breaks one field of a valid Spec per case. Validate reads
// no file: a rootfs that does not exist is valid here (Plan refuses it).
func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(s *Spec)
		field  string // "" for valid
		want   string
	}{
		{"ok", func(s *Spec) {}, "", ""},
		{"rootfs-missing-is-plans", func(s *Spec) { s.Rootfs = "/nonexistent/x" }, "", ""},
		{"no-rootfs", func(s *Spec) { s.Rootfs = "" }, "Rootfs", "no rootfs: use Rootfs DIR"},
		{"no-args", func(s *Spec) { s.Args = nil }, "Args", "no command"},
		{"empty-command", func(s *Spec) { s.Args = []string{""} }, "Args", "no command"},
		{"net", func(s *Spec) { s.Net = "x" }, "Net", `invalid Net "x": use slirp`},
		{"net-option", func(s *Spec) { s.Net = "none:x" }, "Net", "takes no options"},
		{"mtu", func(s *Spec) { s.Net, s.MTU = "slirp", 10 }, "MTU", "invalid MTU 10"},
		{"mtu-without-user-net", func(s *Spec) { s.MTU = 1500 }, "MTU", "needs Net slirp or Net pasta, not Net none"},
		{"ports-without-user-net", func(s *Spec) { s.Ports = []slirp.Port{port(t, "8080:80")} }, "Ports", "needs Net slirp"},
		{"ports-conflict", func(s *Spec) { s.Net, s.Ports = "slirp", []slirp.Port{port(t, "8080:80"), port(t, "8080:81")} }, "Ports", "already published by Ports"},
		{"overlay", func(s *Spec) { s.Overlay = "x" }, "Overlay", `invalid Overlay "x": use auto, kernel or fuse`},
		{"idmap", func(s *Spec) { s.IDMap = "x" }, "IDMap", `IDMap "x"`},
		{"mappings-half", func(s *Spec) { s.UIDMappings = []idmap.Mapping{{Count: 1}} }, "GIDMappings", "go together"},
		{"mappings-empty-line", func(s *Spec) {
			s.UIDMappings, s.GIDMappings = []idmap.Mapping{{Count: 1}}, []idmap.Mapping{{Count: 0}}
		}, "GIDMappings", "count of at least 1"},
		{"mappings-no-root", func(s *Spec) {
			s.UIDMappings, s.GIDMappings = []idmap.Mapping{{Inside: 1, Count: 1}}, []idmap.Mapping{{Count: 1}}
		}, "UIDMappings", "no container root"},
		{"mappings-overflow", func(s *Spec) {
			s.UIDMappings, s.GIDMappings = []idmap.Mapping{{Outside: 1 << 31, Count: 1<<31 + 1}}, []idmap.Mapping{{Count: 1}}
		}, "UIDMappings", "32-bit"},
		{"cwd", func(s *Spec) { s.Cwd = "rel" }, "Cwd", `Cwd "rel"`},
		{"hostname", func(s *Spec) { s.Hostname = "-bad" }, "Hostname", `"-bad"`},
		{"name", func(s *Spec) { s.Name = "a/b" }, "Name", `"a/b"`},
		{"user", func(s *Spec) { s.User = ":" }, "User", `User ":"`},
		{"persist-read-only", func(s *Spec) { s.Persist = "/tmp/x"; s.ReadOnly = true }, "Persist", "Persist and ReadOnly conflict"},
		{"timeout", func(s *Spec) { s.Timeout = -time.Second }, "Timeout", "Timeout -1s"},
		{"stop-timeout", func(s *Spec) { s.StopTimeout = -time.Second }, "StopTimeout", "StopTimeout -1s"},
		{"limits-ok", func(s *Spec) { s.Limits = cgroupv2.Limits{Memory: 64 << 20, Pids: 20}; s.Stats = StatsJSON }, "", ""},
		{"cgroup-manager", func(s *Spec) { s.CgroupManager = "cgmanager" }, "CgroupManager", `"cgmanager"`},
		{"stats", func(s *Spec) { s.Stats = "yaml" }, "Stats", `Stats "yaml"`},
		{"memory-too-small", func(s *Spec) { s.Limits.Memory = 1 << 20 }, "Limits", "1m is too small"},
		{"swap-without-memory", func(s *Spec) { s.Limits.MemorySwap = 1 << 30 }, "Limits", "needs"},
		{"cpus-beyond-host", func(s *Spec) { s.Limits.CPU = cgroupv2.CPUMax{Quota: 1 << 40, Period: cgroupv2.CPUPeriod} }, "Limits", "CPUs available"},
		{"volume-root", func(s *Spec) { s.Volumes = []Volume{{Source: "/", Target: "/"}} }, "Volumes", "root"},
		{"tmpfs-root", func(s *Spec) { s.Tmpfs = []Tmpfs{{Target: "/"}} }, "Tmpfs", "Tmpfs /"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good(t)
			c.mutate(s)
			before, _ := json.Marshal(s)
			err := Validate(s)
			if after, _ := json.Marshal(s); string(after) != string(before) {
				t.Errorf("Validate changed the Spec:\n%s\n%s", before, after)
			}
			if c.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			checkFieldError(t, err, c.field, c.want)
		})
	}
}

// TestPlanRefuses breaks, per case, what Plan checks against the host.
func TestPlanRefuses(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	cases := []struct {
		name   string
		mutate func(s *Spec)
		field  string // "" for valid
		want   string
	}{
		{"ok", func(s *Spec) {}, "", ""},
		{"rootfs-missing", func(s *Spec) { s.Rootfs = "/nonexistent/x" }, "Rootfs", "does not exist: point Rootfs at"},
		{"rootfs-file", func(s *Spec) { s.Rootfs = file }, "Rootfs", "not a directory"},
		{"persist-file", func(s *Spec) { s.Persist = file }, "Persist", "not a directory"},
		{"persist-in-rootfs", func(s *Spec) { s.Persist = filepath.Join(s.Rootfs, "x") }, "Persist", "overlaps"},
		{"rootfs-in-persist", func(s *Spec) { s.Persist = filepath.Dir(s.Rootfs) }, "Persist", "overlaps"},
		{"persist-via-symlink", func(s *Spec) {
			link := filepath.Join(t.TempDir(), "link")
			os.Symlink(s.Rootfs, link)
			s.Persist = filepath.Join(link, "var", "p")
		}, "Persist", "overlaps"},
		{"persist-open", func(s *Spec) {
			s.Persist = t.TempDir()
			os.Chmod(s.Persist, 0o755)
		}, "Persist", "mode 0755"},
		{"persist-new", func(s *Spec) { s.Persist = filepath.Join(t.TempDir(), "new") }, "", ""},
		{"volume-holds-persist", func(s *Spec) {
			d := t.TempDir()
			s.Persist = filepath.Join(d, "layer")
			s.Volumes = []Volume{{Source: d, Target: "/h"}}
		}, "Volumes", "overlaps the Persist directory"},
		{"volume-ro-holds-persist", func(s *Spec) {
			d := t.TempDir()
			s.Persist = filepath.Join(d, "layer")
			s.Volumes = []Volume{{Source: d, Target: "/h", ReadOnly: true}}
		}, "", ""},
		{"volume-in-persist", func(s *Spec) {
			s.Persist = t.TempDir()
			os.Chmod(s.Persist, 0o700)
			os.WriteFile(filepath.Join(s.Persist, "f"), nil, 0o644)
			s.Volumes = []Volume{{Source: filepath.Join(s.Persist, "f"), Target: "/f"}}
		}, "Volumes", "overlaps the Persist directory"},
		{"volume-missing", func(s *Spec) { s.Volumes = []Volume{{Source: "/nonexistent", Target: "/x"}} }, "Volumes", `"/nonexistent" does not exist`},
		{"seccomp-missing", func(s *Spec) { s.Seccomp = "/nonexistent.json" }, "Seccomp", "nonexistent.json"},
		{"idmap-full-without-range", func(s *Spec) { s.IDMap = IDMapFull }, "IDMap", "IDMap full: no range for user"},
		{"user-unmapped", func(s *Spec) { s.IDMap, s.User = IDMapSingle, "1000" }, "User", "uid 1000 is not mapped"},
		{"invalid-first", func(s *Spec) { s.Net = "x" }, "Net", "invalid Net"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good(t)
			c.mutate(s)
			before, _ := json.Marshal(s)
			p, err := NewPlan(s, testEnv(t))
			if after, _ := json.Marshal(s); string(after) != string(before) {
				t.Errorf("NewPlan changed the Spec:\n%s\n%s", before, after)
			}
			if c.field == "" {
				if err != nil || p == nil {
					t.Fatalf("want a plan, got %v", err)
				}
				return
			}
			checkFieldError(t, err, c.field, c.want)
		})
	}
}

// TestPlan resolves typical Specs.
func TestPlan(t *testing.T) {
	root := t.TempDir()
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, root)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	cases := []struct {
		name  string
		spec  Spec
		check func(t *testing.T, p *Plan)
	}{
		{"defaults", Spec{Rootfs: root, Args: []string{"true"}, Net: NetNone, Overlay: "auto", IDMap: IDMapSingle}, func(t *testing.T, p *Plan) {
			if p.Root.Dir != root || p.Net.Kind != NetNone || p.Caps != caps.Default() || p.Seccomp == nil || p.IDMap.Full || len(p.Warnings) != 0 {
				t.Errorf("got %s, %d warnings", p, len(p.Warnings))
			}
			if p.Spec.CgroupManager != cgroupv2.Auto {
				t.Errorf("cgroup manager %q, want auto", p.Spec.CgroupManager)
			}
		}},
		{"relative-rootfs", Spec{Rootfs: rel, Args: []string{"true"}, Net: NetNone, Overlay: "auto", IDMap: IDMapSingle}, func(t *testing.T, p *Plan) {
			if p.Root.Dir != root || p.Spec.Rootfs != root {
				t.Errorf("root %q (spec %q), want %q", p.Root.Dir, p.Spec.Rootfs, root)
			}
		}},
		{"slirp-ports", Spec{Rootfs: root, Args: []string{"true"}, Net: "slirp:allow-host-loopback", Overlay: "auto", IDMap: IDMapSingle, Ports: []slirp.Port{port(t, "8080:80")}}, func(t *testing.T, p *Plan) {
			if p.Net != (slirp.Mode{Kind: slirp.Slirp, AllowHostLoopback: true}) || len(p.Spec.Ports) != 1 {
				t.Errorf("net %+v, ports %v", p.Net, p.Spec.Ports)
			}
		}},
		{"unconfined-no-caps", Spec{Rootfs: root, Args: []string{"true"}, Net: NetHost, Overlay: "auto", IDMap: IDMapSingle, Seccomp: SeccompUnconfined, CapDrop: []string{"ALL"}}, func(t *testing.T, p *Plan) {
			if p.Seccomp != nil || p.Caps != 0 {
				t.Errorf("seccomp %v, caps %s", p.Seccomp, p.Caps)
			}
		}},
		{"timeout-grace", Spec{Rootfs: root, Args: []string{"true"}, Net: NetNone, Overlay: "auto", IDMap: IDMapSingle, Timeout: time.Minute}, func(t *testing.T, p *Plan) {
			if p.Spec.StopTimeout != 10*time.Second {
				t.Errorf("stop timeout %s, want 10s", p.Spec.StopTimeout)
			}
		}},
		{"auto-falls-back", Spec{Rootfs: root, Args: []string{"true"}, Net: NetNone, Overlay: "auto", IDMap: IDMapAuto}, func(t *testing.T, p *Plan) {
			if p.IDMap.Full || len(p.Warnings) != 1 || p.Warnings[0].Field != "IDMap" {
				t.Fatalf("id map %s, warnings %v", mapName(p.IDMap), p.Warnings)
			}
			if got := probe.Of(p.Warnings[0]); !reflect.DeepEqual(got, []string{probe.SubUID}) {
				t.Errorf("the warning's probes: %v", got)
			}
		}},
		{"explicit-single", Spec{Rootfs: root, Args: []string{"true"}, Net: NetNone, Overlay: "auto",
			UIDMappings: []idmap.Mapping{{Inside: 0, Outside: uid, Count: 1}}, GIDMappings: []idmap.Mapping{{Inside: 0, Outside: gid, Count: 1}}, IDMap: IDMapAuto}, func(t *testing.T, p *Plan) {
			if p.IDMap.Full || !reflect.DeepEqual(p.IDMap, idmap.Single(uid, gid)) || len(p.Warnings) != 0 {
				t.Errorf("id map %+v, warnings %v", p.IDMap, p.Warnings)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := c.spec
			p, err := NewPlan(&spec, testEnv(t))
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, p)
			// A detached supervisor gets the plan as JSON: it must come
			// back the same.
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var back Plan
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			back.Warnings = p.Warnings
			if !reflect.DeepEqual(&back, p) {
				t.Errorf("the plan changed through JSON:\n%+v\n%+v", back, *p)
			}
		})
	}
}

func TestWorkloadEnv(t *testing.T) {
	s := &Spec{Env: []string{"PATH=/x", "A=1"}, Tty: true, Term: "vt100"}
	got := strings.Join(workloadEnv(s, "h"), " ")
	if got != "HOSTNAME=h TERM=vt100 PATH=/x A=1" {
		t.Errorf("got %q", got)
	}
	s = &Spec{}
	if got := strings.Join(workloadEnv(s, "h"), " "); got != "PATH="+DefaultPath+" HOSTNAME=h" {
		t.Errorf("no TERM without -t: got %q", got)
	}
}

func TestValidUser(t *testing.T) {
	for in, valid := range map[string]bool{
		"1000": true, "1000:1000": true, "user": true, "user:group": true,
		"": false, ":1": false, "a:": false, "a:b:c": false, "a b": false,
	} {
		if validUser(in) != valid {
			t.Errorf("validUser(%q) = %v", in, !valid)
		}
	}
}
