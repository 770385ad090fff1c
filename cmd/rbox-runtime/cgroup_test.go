package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	rootfs := needCgroupRoot(t)
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	cg := fmt.Sprintf("/rbox-runtime-test-%d", os.Getpid())
	path := cg + "/c1"
	t.Cleanup(func() {
		exec.Command(staticRuntime(t), "--root", root, "delete", "--force", "c1").Run()
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
	bin := staticRuntime(t)
	must := func(stdin string, args ...string) string {
		t.Helper()
		return runStatic(t, bin, stdin, append([]string{"--root", root}, args...)...)
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

// needCgroupRoot skips unless the test runs as root of the host's user
// namespace with a busybox rootfs and cgroups to make; it returns the
// rootfs.
func needCgroupRoot(t *testing.T) string {
	t.Helper()
	rootfs, _ := filepath.Abs("../../testdata/rootfs")
	switch {
	case os.Geteuid() != 0 || !initialUserNS():
		t.Skip("needs root of the host's user namespace: cgroups are made under /sys/fs/cgroup")
	case !exists("/sys/fs/cgroup/memory/cgroup.procs") && !exists("/sys/fs/cgroup/cgroup.controllers"):
		t.Skip("no cgroup v1 memory hierarchy and no cgroup v2 here")
	case !exists(filepath.Join(rootfs, "bin/busybox")):
		// make unit runs before anything builds testdata/rootfs (and
		// must not leave a root-owned one for the suites after it):
		// the test makes its own, a second's work.
		rootfs = filepath.Join(t.TempDir(), "rootfs")
		if out, err := exec.Command("sh", "../../testdata/mkrootfs.sh", rootfs).CombinedOutput(); err != nil {
			t.Fatalf("testdata/mkrootfs.sh: %v: %s", err, out)
		}
	}
	return rootfs
}

var (
	staticOnce sync.Once
	staticBin  string
	staticErr  error
)

// staticRuntime is the runtime as engines run it, built once: a static
// binary (exec runs a copy of it inside the container's root, where a
// test binary built with the race detector finds no dynamic loader).
func staticRuntime(t *testing.T) string {
	t.Helper()
	staticOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rbox-runtime-test")
		if err != nil {
			staticErr = err
			return
		}
		staticBin = filepath.Join(dir, "rbox-runtime")
		// go test puts its own go first in PATH.
		gobin, err := exec.LookPath("go")
		if err != nil {
			staticErr = fmt.Errorf("build rbox-runtime: %w", err)
			return
		}
		build := exec.Command(gobin, "build", "-o", staticBin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			staticErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return staticBin
}

// runStatic runs the runtime with stdio on a file (the container keeps
// the runtime's stdio, a pipe would hold Run) and fails the test unless
// it exits 0.
func runStatic(t *testing.T, bin, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	if err != nil {
		t.Fatalf("rbox-runtime %q: %v: %s", args, err, b)
	}
	return string(b)
}

// TestCgroupJoined: a cgroupsPath that exists already (a slice of the
// host's, another container's) is joined, not owned: delete --force of
// the paused container kills the container alone, and the cgroup and
// the other process in it stay.
func TestCgroupJoined(t *testing.T) {
	rootfs := needCgroupRoot(t)
	bin := staticRuntime(t)
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	path := fmt.Sprintf("/rbox-runtime-joined-%d", os.Getpid())
	var dirs []string
	if isV2() {
		dirs = []string{filepath.Join("/sys/fs/cgroup", path)}
	} else {
		for _, c := range []string{"memory", "pids", "freezer"} {
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", c, path))
		}
	}
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		other.Process.Kill()
		other.Wait()
		exec.Command(bin, "--root", root, "delete", "--force", "c1").Run()
		for _, c := range []string{"", "memory", "pids", "cpu", "cpuacct", "cpuset", "freezer", "devices", "blkio", "perf_event", "net_cls", "net_prio", "hugetlb"} {
			os.Remove(filepath.Join("/sys/fs/cgroup", c, path))
		}
	})
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(other.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	config := fmt.Sprintf(`{"ociVersion": "1.0.2-dev",
	"process": {"user": {"uid": 0, "gid": 0}, "args": ["sleep", "60"], "env": ["PATH=/bin"], "cwd": "/"},
	"root": {"path": %q, "readonly": true},
	"mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
	"linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}], "cgroupsPath": %q, "resources": {"pids": {"limit": 100}}}}`, rootfs, path)
	if err := os.WriteFile(filepath.Join(tmp, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	subreaper(t)
	runStatic(t, bin, "", "--root", root, "create", "--bundle", tmp, "--pid-file", filepath.Join(tmp, "pid"), "c1")
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	pid, err := strconv.Atoi(readTrim(t, filepath.Join(tmp, "pid")))
	if err != nil {
		t.Fatal(err)
	}
	runStatic(t, bin, "", "--root", root, "start", "c1")
	if ps := runStatic(t, bin, "", "--root", root, "ps", "--format", "json", "c1"); strings.TrimSpace(ps) != fmt.Sprintf("[%d]", pid) {
		t.Errorf("ps lists %s, want the container's process %d alone", ps, pid)
	}
	runStatic(t, bin, "", "--root", root, "pause", "c1")
	runStatic(t, bin, "", "--root", root, "delete", "--force", "c1")
	if !zombieOrGone(pid) {
		t.Errorf("after delete, the container's process %d is left", pid)
	}
	if err := other.Process.Signal(unix.Signal(0)); err != nil {
		t.Errorf("delete killed the other process of the joined cgroup: %v", err)
	}
	for _, d := range dirs {
		if !exists(d) {
			t.Errorf("delete removed the joined cgroup %s", d)
		}
	}
}

func isV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
