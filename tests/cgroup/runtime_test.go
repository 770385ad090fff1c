package cgroup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runtimeBin is rbox-runtime, beside rbox.
func runtimeBin() string { return filepath.Join(filepath.Dir(rboxBin), "rbox-runtime") }

// ociRuntime runs rbox-runtime with the session's environment; stdio on
// a file (a container keeps the runtime's stdio, a pipe would hold Run).
func ociRuntime(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtimeBin(), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("rbox-runtime %v: %v", args, err)
	}
	return result{string(b), string(b), code}
}

func mustRuntime(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := ociRuntime(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("rbox-runtime %q: %s", args, r)
	}
	return r.stdout
}

// runtimeBundle is a rootless bundle (the user's uid and gid mapped to
// root) over the busybox rootfs, running script, with cgroupsPath and
// resources as given.
func runtimeBundle(t *testing.T, script, cgroupsPath, resources string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{"ociVersion": "1.0.2-dev",
	"process": {"user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", %q], "env": ["PATH=/bin"], "cwd": "/"},
	"root": {"path": %q, "readonly": true},
	"mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}, {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}],
	"linux": {"namespaces": [{"type": "user"}, {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}],
		"uidMappings": [{"containerID": 0, "hostID": %d, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],
		"cgroupsPath": %q, "resources": %s}}`, script, rootfs, os.Getuid(), os.Getgid(), cgroupsPath, resources)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readCounter(t *testing.T, pid int) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/c", pid))
		if n, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the container's counter cannot be read")
	return 0
}

// TestVMRuntimeCgroup runs rbox-runtime rootless inside a delegated scope
// on cgroup v2: a relative cgroupsPath lands beside the scope (under its
// parent, as runc places it), the limits read back from the v2 files,
// pause freezes the cgroup (a counter stops) and resume thaws it, update
// writes new limits, exec joins the cgroup, delete --force of the paused
// container removes it. An absolute cgroupsPath the user cannot make is
// one warning, and the container runs without a cgroup.
func TestVMRuntimeCgroup(t *testing.T) {
	vmOnly(t)
	if os.Getenv("RBOX_VM_SCOPE") != "1" {
		t.Skip("runs inside systemd-run --user --scope -p Delegate=yes (run.sh)")
	}
	root := filepath.Join(t.TempDir(), "state")
	name := fmt.Sprintf("rbox-runtime-vm-%d", os.Getpid())
	// Where the runtime (this test's child, in this test's cgroup) puts it.
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("/sys/fs/cgroup", filepath.Dir(strings.TrimPrefix(strings.TrimSpace(string(own)), "0::")), name)
	script := `i=0; while :; do i=$((i+1)); echo $i > /tmp/n; mv /tmp/n /tmp/c; done`
	b := runtimeBundle(t, script, name, `{"memory": {"limit": 67108864}, "pids": {"limit": 50}, "cpu": {"quota": 50000, "period": 100000}}`)
	t.Cleanup(func() { ociRuntime(t, "", "--root", root, "delete", "--force", "c1") })
	mustRuntime(t, "", "--root", root, "create", "--bundle", b, "--pid-file", filepath.Join(b, "pid"), "c1")
	pb, _ := os.ReadFile(filepath.Join(b, "pid"))
	pid, err := strconv.Atoi(string(pb))
	if err != nil {
		t.Fatalf("pid file %q", pb)
	}
	for f, want := range map[string]string{"memory.max": "67108864", "pids.max": "50", "cpu.max": "50000 100000"} {
		if got, _ := os.ReadFile(filepath.Join(dir, f)); strings.TrimSpace(string(got)) != want {
			t.Errorf("%s/%s: %q, want %q", dir, f, got, want)
		}
	}
	if own, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); !strings.HasSuffix(strings.TrimSpace(string(own)), "/"+name) {
		t.Errorf("created, the init is in %q, not in %s", own, dir)
	}
	mustRuntime(t, "", "--root", root, "start", "c1")
	a := readCounter(t, pid)
	time.Sleep(500 * time.Millisecond)
	if n := readCounter(t, pid); n <= a {
		t.Fatalf("running, the counter went from %d to %d", a, n)
	}
	mustRuntime(t, "", "--root", root, "pause", "c1")
	if ev, _ := os.ReadFile(filepath.Join(dir, "cgroup.events")); !strings.Contains(string(ev), "frozen 1") {
		t.Errorf("paused, cgroup.events: %q", ev)
	}
	a = readCounter(t, pid)
	time.Sleep(500 * time.Millisecond)
	if n := readCounter(t, pid); n != a {
		t.Errorf("paused, the counter went on from %d to %d", a, n)
	}
	mustRuntime(t, "", "--root", root, "resume", "c1")
	time.Sleep(500 * time.Millisecond)
	if n := readCounter(t, pid); n <= a {
		t.Errorf("resumed, the counter stayed at %d", n)
	}
	mustRuntime(t, `{"memory": {"limit": 134217728}, "pids": {"limit": 77}}`, "--root", root, "update", "--resources", "-", "c1")
	for f, want := range map[string]string{"memory.max": "134217728", "pids.max": "77"} {
		if got, _ := os.ReadFile(filepath.Join(dir, f)); strings.TrimSpace(string(got)) != want {
			t.Errorf("after update, %s: %q, want %q", f, got, want)
		}
	}
	mustRuntime(t, "", "--root", root, "exec", "c1", "sh", "-c", "cat /proc/self/cgroup > /tmp/cg")
	if got, _ := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/cg", pid)); !strings.Contains(string(got), "/"+name) {
		t.Errorf("exec's process is in %q, not in %s", got, dir)
	}
	mustRuntime(t, "", "--root", root, "pause", "c1")
	mustRuntime(t, "", "--root", root, "delete", "--force", "c1")
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("after delete, the cgroup %s is left", dir)
	}

	// --systemd-cgroup rootless: podman's user.slice:libpod:ID names the
	// slices of the user's own manager, made there directly.
	b3 := runtimeBundle(t, "exec sleep 60", "user.slice:rbox-runtime-vm:c3", `{"pids": {"limit": 33}}`)
	mustRuntime(t, "", "--root", root, "--systemd-cgroup", "create", "--bundle", b3, "c3")
	scope := fmt.Sprintf("/sys/fs/cgroup/user.slice/user-%d.slice/user@%d.service/user.slice/rbox-runtime-vm-c3.scope", os.Getuid(), os.Getuid())
	if got, _ := os.ReadFile(filepath.Join(scope, "pids.max")); strings.TrimSpace(string(got)) != "33" {
		t.Errorf("--systemd-cgroup: %s/pids.max: %q, want 33", scope, got)
	}
	mustRuntime(t, "", "--root", root, "delete", "--force", "c3")
	if _, err := os.Stat(scope); err == nil {
		t.Errorf("after delete, %s is left", scope)
	}

	// An absolute path outside the user's delegation: a warning, no cgroup.
	b2 := runtimeBundle(t, "exec sleep 60", "/rbox-runtime-vm-abs", `{"pids": {"limit": 50}}`)
	r := ociRuntime(t, "", "--root", root, "create", "--bundle", b2, "c2")
	if r.code != 0 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "rbox-runtime: warning: rootless: the container runs without a cgroup") {
		t.Errorf("create with a cgroupsPath the user cannot make: want one warning and success, got\n%s", r)
	}
	mustRuntime(t, "", "--root", root, "start", "c2")
	if r := ociRuntime(t, "", "--root", root, "pause", "c2"); r.code == 0 || !strings.Contains(r.stderr, "runs without a cgroup") {
		t.Errorf("pause without a cgroup: %s", r)
	}
	mustRuntime(t, "", "--root", root, "delete", "--force", "c2")
}
