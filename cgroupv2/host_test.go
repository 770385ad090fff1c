package cgroupv2

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		root, unified int64
		want          mode
	}{
		{unix.CGROUP2_SUPER_MAGIC, 0, modeUnified},
		{unix.TMPFS_MAGIC, unix.CGROUP2_SUPER_MAGIC, modeHybrid},
		{unix.TMPFS_MAGIC, 0, modeLegacy},
		{0, 0, modeNone},
		{unix.SYSFS_MAGIC, 0, modeNone},
	}
	for _, tt := range tests {
		if got := classify(tt.root, tt.unified); got != tt.want {
			t.Errorf("classify(%#x, %#x) = %v, want %v", tt.root, tt.unified, got, tt.want)
		}
	}
}

// TestNewRefusesOnThisHost runs New for real on whatever host runs the
// tests. The dev and CI machines are cgroup v1 hybrids, where auto must
// refuse with the hybrid message, whatever the bus variables say; on a
// unified host (the test VM) the refusals are tested by the VM tests.
func TestNewRefusesOnThisHost(t *testing.T) {
	m, err := hostMode()
	if err != nil {
		t.Fatal(err)
	}
	if m == modeUnified {
		t.Log("pure cgroup v2 host: the refusals are tested by TestVMRefusals")
		return
	}
	reason, hint := m.problem()
	want := "cgroup limits are not available: " + reason + "\nhint: " + hint
	for _, kind := range []Kind{Auto, Systemd, Cgroupfs} {
		mgr, err := New(context.Background(), kind, Env{BusAddress: "unix:path=/nonexistent", RuntimeDir: "/nonexistent"})
		if err == nil {
			mgr.Close()
			t.Fatalf("New(%s) on a non-unified host: no error", kind)
		}
		if !errors.Is(err, ErrUnavailable) || err.Error() != want {
			t.Errorf("New(%s) error:\n got  %s\n want %s", kind, err, want)
		}
	}
	if m == modeHybrid {
		const hybrid = `cgroup limits are not available: this host mounts cgroup v1 controllers at "/sys/fs/cgroup" and cgroup v2 only at "/sys/fs/cgroup/unified" (hybrid mode), where no controller can be delegated` + "\n" +
			`hint: boot the host with systemd.unified_cgroup_hierarchy=1 (the default since systemd 247), or run without --memory, --memory-swap, --cpus and --pids-limit`
		if want != hybrid {
			t.Errorf("hybrid message:\n got  %s\n want %s", want, hybrid)
		}
	}
}
