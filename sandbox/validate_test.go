package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbox-sandbox/rbox/cgroupv2"
)

// good is a valid Spec; each case breaks one field.
func good(t *testing.T) *Spec {
	root := t.TempDir()
	return &Spec{Rootfs: root, Args: []string{"true"}, Net: NetNone, Overlay: "auto", IDMap: IDMapAuto}
}

func TestValidate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	cases := []struct {
		name   string
		mutate func(s *Spec)
		want   string
	}{
		{"ok", func(s *Spec) {}, ""},
		{"no-rootfs", func(s *Spec) { s.Rootfs = "" }, "--rootfs"},
		{"rootfs-missing", func(s *Spec) { s.Rootfs = "/nonexistent/x" }, "does not exist"},
		{"rootfs-file", func(s *Spec) { s.Rootfs = file }, "not a directory"},
		{"no-args", func(s *Spec) { s.Args = nil }, "no command"},
		{"empty-command", func(s *Spec) { s.Args = []string{""} }, "no command"},
		{"net", func(s *Spec) { s.Net = "x" }, `--net "x"`},
		{"overlay", func(s *Spec) { s.Overlay = "x" }, `--overlay "x"`},
		{"idmap", func(s *Spec) { s.IDMap = "x" }, `--idmap "x"`},
		{"cwd", func(s *Spec) { s.Cwd = "rel" }, `-w "rel"`},
		{"hostname", func(s *Spec) { s.Hostname = "-bad" }, `"-bad"`},
		{"user", func(s *Spec) { s.User = ":" }, `-u ":"`},
		{"persist-file", func(s *Spec) { s.Persist = file }, "not a directory"},
		{"persist-in-rootfs", func(s *Spec) { s.Persist = filepath.Join(s.Rootfs, "x") }, "overlaps"},
		{"rootfs-in-persist", func(s *Spec) { s.Persist = filepath.Dir(s.Rootfs) }, "overlaps"},
		{"persist-read-only", func(s *Spec) { s.Persist = "/tmp/x"; s.ReadOnly = true }, "conflict"},
		{"persist-via-symlink", func(s *Spec) {
			link := filepath.Join(t.TempDir(), "link")
			os.Symlink(s.Rootfs, link)
			s.Persist = filepath.Join(link, "var", "p")
		}, "overlaps"},
		{"persist-open", func(s *Spec) {
			s.Persist = t.TempDir()
			os.Chmod(s.Persist, 0o755)
		}, "mode 0755"},
		{"persist-new", func(s *Spec) { s.Persist = filepath.Join(t.TempDir(), "new") }, ""},
		{"volume-holds-persist", func(s *Spec) {
			d := t.TempDir()
			s.Persist = filepath.Join(d, "layer")
			s.Volumes = []Volume{{Source: d, Target: "/h"}}
		}, "overlaps the --persist directory"},
		{"volume-ro-holds-persist", func(s *Spec) {
			d := t.TempDir()
			s.Persist = filepath.Join(d, "layer")
			s.Volumes = []Volume{{Source: d, Target: "/h", ReadOnly: true}}
		}, ""},
		{"volume-in-persist", func(s *Spec) {
			s.Persist = t.TempDir()
			os.Chmod(s.Persist, 0o700)
			os.WriteFile(filepath.Join(s.Persist, "f"), nil, 0o644)
			s.Volumes = []Volume{{Source: filepath.Join(s.Persist, "f"), Target: "/f"}}
		}, "overlaps the --persist directory"},
		{"timeout", func(s *Spec) { s.Timeout = -time.Second }, "--timeout -1s"},
		{"stop-timeout", func(s *Spec) { s.StopTimeout = -time.Second }, "--stop-timeout -1s"},
		{"limits-ok", func(s *Spec) { s.Limits = cgroupv2.Limits{Memory: 64 << 20, Pids: 20}; s.Stats = StatsJSON }, ""},
		{"cgroup-manager", func(s *Spec) { s.CgroupManager = "cgmanager" }, `--cgroup-manager "cgmanager"`},
		{"stats", func(s *Spec) { s.Stats = "yaml" }, `--stats "yaml"`},
		{"memory-too-small", func(s *Spec) { s.Limits.Memory = 1 << 20 }, "--memory 1m is too small"},
		{"swap-without-memory", func(s *Spec) { s.Limits.MemorySwap = 1 << 30 }, "--memory-swap needs --memory"},
		{"cpus-beyond-host", func(s *Spec) { s.Limits.CPU = cgroupv2.CPUMax{Quota: 1 << 40, Period: cgroupv2.CPUPeriod} }, "CPUs available"},
		{"volume-missing", func(s *Spec) { s.Volumes = []Volume{{Source: "/nonexistent", Target: "/x"}} }, `"/nonexistent"`},
		{"volume-root", func(s *Spec) { s.Volumes = []Volume{{Source: "/", Target: "/"}} }, "root"},
		{"tmpfs-root", func(s *Spec) { s.Tmpfs = []Tmpfs{{Target: "/"}} }, "--tmpfs /"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good(t)
			c.mutate(s)
			err := Validate(s)
			if c.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error with %q, got %v", c.want, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error must be one line: %q", err)
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
