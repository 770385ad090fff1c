package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupFile is where a limit of the container's cgroup at path is read
// back: v1's file in its controller's hierarchy, or v2's.
func cgroupFile(path, ctrl, v1, v2 string) string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return filepath.Join("/sys/fs/cgroup", path, v2)
	}
	return filepath.Join("/sys/fs/cgroup", ctrl, path, v1)
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// counter is the container's counter, which it renames into place so
// that a read never sees a half-written file.
func counter(t *testing.T, pid int) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/c", pid))
		if n, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the container's counter cannot be read")
	return 0
}

// TestCgroupLifecycle drives a container with memory and pids limits as
// root through the cgroup its runtime made: the limits read back from the
// cgroup files, the init in the cgroup before start, pause stops its
// counter and resume lets it go on, update changes the limits, exec
// joins the cgroup, and delete --force of the paused container removes
// the cgroup.
func TestCgroupLifecycle(t *testing.T) {
	rootfs, _ := filepath.Abs("../../testdata/rootfs")
	switch {
	case os.Geteuid() != 0 || !initialUserNS():
		t.Skip("needs root of the host's user namespace: cgroups are made under /sys/fs/cgroup")
	case !exists(filepath.Join(rootfs, "bin/busybox")):
		t.Skip("no busybox rootfs: run make testdata")
	case !exists("/sys/fs/cgroup/memory/cgroup.procs") && !exists("/sys/fs/cgroup/cgroup.controllers"):
		t.Skip("no cgroup v1 memory hierarchy and no cgroup v2 here")
	}
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	cg := fmt.Sprintf("/rbox-runtime-test-%d", os.Getpid())
	path := cg + "/c1"
	t.Cleanup(func() {
		exec.Command(filepath.Join(tmp, "rbox-runtime"), "--root", root, "delete", "--force", "c1").Run()
		os.Remove(filepath.Join("/sys/fs/cgroup", cg))
		for _, c := range []string{"memory", "pids", "cpu", "cpuacct", "cpuset", "freezer", "devices", "blkio", "perf_event", "net_cls", "net_prio", "hugetlb"} {
			os.Remove(filepath.Join("/sys/fs/cgroup", c, cg))
		}
	})
	script := `i=0; while :; do i=$((i+1)); echo $i > /tmp/n; mv /tmp/n /tmp/c; done`
	config := fmt.Sprintf(`{"ociVersion": "1.0.2-dev",
	"process": {"user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", %q], "env": ["PATH=/bin"], "cwd": "/"},
	"root": {"path": %q, "readonly": true},
	"mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}, {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}],
	"linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}], "cgroupsPath": %q,
		"resources": {"memory": {"limit": 67108864}, "pids": {"limit": 50}}}}`, script, rootfs, path)
	if err := os.WriteFile(filepath.Join(tmp, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// The runtime as engines run it: a static binary (exec runs a copy of
	// it inside the container's root, where a test binary built with the
	// race detector finds no dynamic loader).
	bin := filepath.Join(tmp, "rbox-runtime")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(goruntime.GOROOT(), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--root", root}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		// Files, not pipes: the container keeps the runtime's stdio.
		out, err := os.CreateTemp(tmp, "out")
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("rbox-runtime %q: %v: %s", args, err, b)
		}
		b, _ := os.ReadFile(out.Name())
		return string(b)
	}
	// The test takes the init once create has exited, as conmon does;
	// the exec'd processes' orphans go to the host's init, which reaps
	// them (the init of a pid namespace ends only once they are reaped).
	subreaper(t)
	must("", "create", "--bundle", tmp, "--pid-file", filepath.Join(tmp, "pid"), "c1")
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	pid, err := strconv.Atoi(readTrim(t, filepath.Join(tmp, "pid")))
	if err != nil {
		t.Fatal(err)
	}
	memFile := cgroupFile(path, "memory", "memory.limit_in_bytes", "memory.max")
	pidsFile := cgroupFile(path, "pids", "pids.max", "pids.max")
	if got := readTrim(t, memFile); got != "67108864" {
		t.Errorf("%s: %s, want 67108864", memFile, got)
	}
	if got := readTrim(t, pidsFile); got != "50" {
		t.Errorf("%s: %s, want 50", pidsFile, got)
	}
	if own := readTrim(t, fmt.Sprintf("/proc/%d/cgroup", pid)); !strings.Contains(own, ":"+path+"\n") && !strings.HasSuffix(own, ":"+path) {
		t.Errorf("created, the init is not in %s:\n%s", path, own)
	}
	must("", "start", "c1")
	a := counter(t, pid)
	time.Sleep(200 * time.Millisecond)
	if b := counter(t, pid); b <= a {
		t.Fatalf("running, the counter went from %d to %d", a, b)
	}

	must("", "pause", "c1")
	if s := must("", "state", "c1"); !strings.Contains(s, `"status": "paused"`) {
		t.Errorf("state after pause:\n%s", s)
	}
	a = counter(t, pid)
	time.Sleep(300 * time.Millisecond)
	if b := counter(t, pid); b != a {
		t.Errorf("paused, the counter went on from %d to %d", a, b)
	}
	must("", "resume", "c1")
	time.Sleep(200 * time.Millisecond)
	if b := counter(t, pid); b <= a {
		t.Errorf("resumed, the counter stayed at %d (was %d)", b, a)
	}

	must(`{"memory": {"limit": 134217728}, "pids": {"limit": 77}}`, "update", "--resources", "-", "c1")
	if got := readTrim(t, memFile); got != "134217728" {
		t.Errorf("after update, %s: %s, want 134217728", memFile, got)
	}
	if got := readTrim(t, pidsFile); got != "77" {
		t.Errorf("after update, %s: %s, want 77", pidsFile, got)
	}

	// exec's process is in the container's cgroup, and ps lists it.
	must("", "exec", "c1", "sh", "-c", "cat /proc/self/cgroup > /tmp/cg")
	if got := readTrim(t, fmt.Sprintf("/proc/%d/root/tmp/cg", pid)); !strings.Contains(got, path) {
		t.Errorf("exec's process is not in %s:\n%s", path, got)
	}
	// An exec'd process left running: ps lists it, delete kills it.
	sleeper := exec.Command(bin, "--root", root, "exec", "c1", "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Wait()
	for i := 0; ; i++ {
		ps := must("", "ps", "--format", "json", "c1")
		if strings.Count(ps, ",") >= 1 {
			break
		}
		if i == 100 {
			t.Fatalf("ps lists %s, want the init and the exec'd sleep", ps)
		}
		time.Sleep(20 * time.Millisecond)
	}

	must("", "pause", "c1")
	must("", "delete", "--force", "c1")
	for _, f := range []string{memFile, pidsFile} {
		if dir := filepath.Dir(f); exists(dir) {
			t.Errorf("after delete, the cgroup %s is left", dir)
		}
	}
	if exists(fmt.Sprintf("/proc/%d", pid)) && !zombieOrGone(pid) {
		t.Errorf("after delete, the container's process %d is left", pid)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// zombieOrGone: the process has ended (a zombie the subreaper has not
// reaped yet counts).
func zombieOrGone(pid int) bool {
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}
