package integration

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hybridCgroups reports whether this host mounts cgroup v1 controllers with
// cgroup v2 only at /sys/fs/cgroup/unified, as the dev and CI machines do.
func hybridCgroups() bool {
	var root, unified unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &root) != nil || root.Type != unix.TMPFS_MAGIC {
		return false
	}
	return unix.Statfs("/sys/fs/cgroup/unified", &unified) == nil && unified.Type == unix.CGROUP2_SUPER_MAGIC
}

// Limits on a host that cannot enforce them are refused before anything
// starts: one line with the reason and the fix, 125, nothing left. (The
// limits themselves are tested in the VM: tests/cgroup, make vmtest.)
func TestCgroupLimitsRefused(t *testing.T) {
	need(t, hybridCgroups(), "a cgroup v1 hybrid host (the refusal tested here); pure cgroup v2 is tested in the VM")
	before := manifest(t, rootfs)
	for _, flags := range [][]string{
		{"--memory", "64m"},
		{"--memory", "64m", "--memory-swap", "128m"},
		{"--cpus", "0.5"},
		{"--pids-limit", "20"},
		{"--stats"},
		{"--stats=json"},
		{"--memory", "64m", "--cgroup-manager", "systemd"},
		{"--pids-limit", "20", "--cgroup-manager", "cgroupfs"},
	} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			r := sh(t, "echo should-not-run", flags...)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if r.code != 125 || len(lines) != 1 {
				t.Fatalf("want exit 125 and one line, got\n%s", r)
			}
			flag, _, _ := strings.Cut(flags[0], "=")
			if !strings.HasPrefix(lines[0], "rbox: "+flag) {
				t.Errorf("the line does not start with the flag %s: %s", flag, lines[0])
			}
			for _, want := range []string{"cgroup limits are not available", "cgroup v1", "hybrid", "systemd.unified_cgroup_hierarchy=1"} {
				if !strings.Contains(lines[0], want) {
					t.Errorf("the line does not say %q: %s", want, lines[0])
				}
			}
			if r.stdout != "" {
				t.Errorf("the workload ran: %q", r.stdout)
			}
			if e := stateEntries(); len(e) != 0 {
				t.Errorf("state left behind: %v", e)
			}
		})
	}
	assertUnchanged(t, before)
}

// Without limits nothing about cgroups changes: the sandbox runs on any
// host, in no cgroup namespace of its own.
func TestNoLimitsNoCgroup(t *testing.T) {
	host, err := os.ReadFile("/proc/self/cgroup")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	out := ok(t, sh(t, "cat /proc/self/cgroup"))
	if hybridCgroups() && out != string(host) {
		// Same cgroups, same namespace: the paths read as on the host.
		t.Errorf("inside: %q, host: %q", out, host)
	}
}
