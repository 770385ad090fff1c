package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input: one clear line naming the value, exit 125, nothing touched.
func TestBadInput(t *testing.T) {
	before := manifest(t, rootfs)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing-rootfs", []string{"exec", "--rootfs", missing, "--", "true"}, missing},
		{"rootfs-is-file", []string{"exec", "--rootfs", file, "--", "true"}, "not a directory"},
		{"no-rootfs", []string{"exec", "--", "true"}, "--rootfs"},
		{"no-command", []string{"exec", "--rootfs", rootfs}, "command"},
		{"unknown-flag", []string{"exec", "--bogus", "--rootfs", rootfs, "--", "true"}, "--bogus"},
		{"bad-volume", []string{"exec", "--rootfs", rootfs, "-v", "nocolon", "--", "true"}, `"nocolon"`},
		{"volume-relative-target", []string{"exec", "--rootfs", rootfs, "-v", "/tmp:rel", "--", "true"}, `"rel"`},
		{"volume-bad-option", []string{"exec", "--rootfs", rootfs, "-v", "/tmp:/x:rx", "--", "true"}, `"rx"`},
		{"volume-missing-source", []string{"exec", "--rootfs", rootfs, "-v", missing + ":/x", "--", "true"}, missing},
		{"bad-env", []string{"exec", "--rootfs", rootfs, "-e", "=x", "--", "true"}, `"=x"`},
		{"bad-env-file", []string{"exec", "--rootfs", rootfs, "--env-file", missing, "--", "true"}, missing},
		{"bad-user", []string{"exec", "--rootfs", rootfs, "-u", "a:", "--", "true"}, `"a:"`},
		{"unknown-user", []string{"exec", "--rootfs", rootfs, "-u", "nosuchuser", "--", "true"}, `"nosuchuser"`},
		{"unknown-group", []string{"exec", "--rootfs", rootfs, "-u", "user:nogrp", "--", "true"}, `"nogrp"`},
		{"persist-is-file", []string{"exec", "--rootfs", rootfs, "--persist", file, "--", "true"}, "not a directory"},
		{"persist-in-rootfs", []string{"exec", "--rootfs", rootfs, "--persist", rootfs + "/tmp/layer", "--", "true"}, "overlaps"},
		{"persist-read-only", []string{"exec", "--rootfs", rootfs, "--persist", missing, "--read-only", "--", "true"}, "conflict"},
		{"bad-net", []string{"exec", "--rootfs", rootfs, "--net", "bogus", "--", "true"}, "bogus"},
		{"bad-overlay", []string{"exec", "--rootfs", rootfs, "--overlay", "zfs", "--", "true"}, "zfs"},
		{"bad-tmpfs", []string{"exec", "--rootfs", rootfs, "--tmpfs", "/x:size=huge", "--", "true"}, "size=huge"},
		{"bad-hostname", []string{"exec", "--rootfs", rootfs, "--hostname", "a b", "--", "true"}, `"a b"`},
		{"relative-workdir", []string{"exec", "--rootfs", rootfs, "-w", "rel", "--", "true"}, `"rel"`},
		{"bad-memory", []string{"exec", "--rootfs", rootfs, "--memory", "lots", "--", "true"}, `--memory "lots"`},
		{"memory-too-small", []string{"exec", "--rootfs", rootfs, "--memory", "1m", "--", "true"}, "too small"},
		{"swap-without-memory", []string{"exec", "--rootfs", rootfs, "--memory-swap", "1g", "--", "true"}, "--memory-swap needs --memory"},
		{"bad-cpus", []string{"exec", "--rootfs", rootfs, "--cpus", "0", "--", "true"}, `--cpus "0"`},
		{"cpus-beyond-host", []string{"exec", "--rootfs", rootfs, "--cpus", "4096", "--", "true"}, "CPUs available"},
		{"bad-pids", []string{"exec", "--rootfs", rootfs, "--pids-limit", "ten", "--", "true"}, `--pids-limit "ten"`},
		{"bad-cgroup-manager", []string{"exec", "--rootfs", rootfs, "--cgroup-manager", "cgmanager", "--", "true"}, "cgmanager"},
		{"bad-stats", []string{"exec", "--rootfs", rootfs, "--stats=yaml", "--", "true"}, `--stats "yaml"`},
		{"remove-layer-not-a-layer", []string{"remove-layer", t.TempDir()}, "not an rbox layer"},
		// The hidden entry points, run by hand, say what they are.
		{"init-by-hand", []string{"__init"}, "run rbox exec instead"},
		{"reaper-by-hand", []string{"__reap", "/"}, "rbox remove-layer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rbox(t, c.args...)
			if r.code != 125 {
				t.Errorf("want exit 125, got\n%s", r)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "rbox: ") || !strings.Contains(lines[0], c.want) {
				t.Errorf("want one line starting with \"rbox: \" naming %q, got %q", c.want, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout should be empty, got %q", r.stdout)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("a failed run created %s", missing)
	}
	assertUnchanged(t, before)
}
