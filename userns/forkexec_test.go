package userns

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/caps"
	"github.com/rbox-sandbox/rbox/seccomp"
)

// spawnHere runs start's fork and exec on the host as the test's own
// user, with a filter from profile, and returns what the child printed.
// The bounding set stays as it is (dropping from it needs CAP_SETPCAP);
// the integration suites test the capability steps inside a sandbox.
func spawnHere(t *testing.T, profile string, args ...string) (string, error) {
	t.Helper()
	return spawnWith(t, profile, nil, args...)
}

// spawnWith is spawnHere with mod's changes to the prepared attributes.
func spawnWith(t *testing.T, profile string, mod func(*execAttr), args ...string) (string, error) {
	t.Helper()
	p, err := seccomp.LoadOCI(strings.NewReader(profile))
	if err != nil {
		t.Fatal(err)
	}
	f, err := seccomp.Compile(p, seccomp.NativeArch, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	cfg := &Config{Seccomp: &f}
	if uid == 0 {
		cfg.Caps = currentCaps(t)
	}
	a := &execAttr{uid: uintptr(uid), gid: uintptr(gid), stdio: [3]int{int(devnull.Fd()), int(w.Fd()), int(w.Fd())}}
	a.path, _ = syscall.BytePtrFromString(args[0])
	a.dir, _ = syscall.BytePtrFromString("/")
	argv, _ := syscall.SlicePtrFromStrings(args)
	envv, _ := syscall.SlicePtrFromStrings([]string{"PATH=/usr/bin:/bin"})
	a.argv, a.envv = &argv[0], &envv[0]
	harden(cfg, uid, a)
	a.drop = 0
	if mod != nil {
		mod(a)
	}
	pid, err := spawn(a)
	w.Close()
	out, _ := io.ReadAll(r)
	if err == nil {
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}
	return string(out), err
}

func currentCaps(t *testing.T) caps.Set {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:\t"); ok {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return caps.Set(n)
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return 0
}

func TestSpawn(t *testing.T) {
	const noMkdir = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat","futex"],"action":"SCMP_ACT_ERRNO"}]}`
	dir := t.TempDir()
	out, err := spawnHere(t, noMkdir, "/bin/sh", "-c", "mkdir "+dir+"/d 2>&1; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; echo $$")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "Seccomp:\t2\n") || !strings.Contains(out, "NoNewPrivs:\t1\n") {
		t.Errorf("the child's output: %q; want mkdir refused, a filter and no_new_privs", out)
	}
	// The test process itself is untouched, on every thread.
	if b, _ := os.ReadFile("/proc/self/status"); !strings.Contains(string(b), "Seccomp:\t0\n") {
		t.Errorf("the parent is filtered:\n%s", b)
	}

	_, err = spawnHere(t, noMkdir, "/no/such/program")
	var ce *childError
	if !errors.As(err, &ce) || ce.step != stepExec || ce.errno != unix.ENOENT {
		t.Errorf("a missing program: %v, want the execve step failing with ENOENT", err)
	}
	// A filter that refuses execve and everything else (write, exit_group)
	// still gets its errno back, through the shared page.
	_, err = spawnHere(t, `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}`, "/bin/true")
	if !errors.As(err, &ce) || ce.step != stepExec || ce.errno != unix.EPERM {
		t.Errorf("a filter denying everything: %v, want the execve step failing with EPERM", err)
	}
}

// cgroup2Dir returns a new cgroup under the test's own in a cgroup2
// hierarchy, removed at the end, or skips without one it may write.
func cgroup2Dir(t *testing.T) string {
	t.Helper()
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	var rel string
	for _, line := range strings.Split(string(self), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel = p
		}
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		// ID parent major:minor root mountpoint options ... - type source
		if len(f) > 9 && f[len(f)-3] == "cgroup2" && f[3] == "/" {
			dir, err := os.MkdirTemp(filepath.Join(f[4], rel), "rbox-unit-")
			if err != nil {
				t.Skipf("no cgroup2 directory to write: %v", err)
			}
			t.Cleanup(func() { os.Remove(dir) })
			return dir
		}
	}
	t.Skip("no cgroup2 hierarchy mounted")
	return ""
}

// With into, the child is in the cgroup from its clone3 on and rooted
// there in a cgroup namespace of its own, before its filter.
func TestSpawnIntoCgroup(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("moving a process into a cgroup of ours and unsharing takes root here")
	}
	dir := cgroup2Dir(t)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// A profile refusing unshare cannot stop the child's own: the filter
	// comes after it.
	const noUnshare = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO"}]}`
	into := func(a *execAttr) { a.into = intoCgroup(fd) }
	out, err := spawnWith(t, noUnshare, into, "/bin/sh", "-c", "grep ^0:: /proc/self/cgroup; readlink /proc/self/ns/cgroup; echo $$; cat "+dir+"/cgroup.procs")
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := os.Readlink("/proc/self/ns/cgroup")
	lines := strings.Fields(out)
	if len(lines) < 4 || lines[0] != "0::/" || lines[1] == ours {
		t.Fatalf("the child's output %q: want 0::/ and a cgroup namespace other than %s", out, ours)
	}
	found := false
	for _, p := range lines[3:] {
		found = found || p == lines[2]
	}
	if !found {
		t.Errorf("the child (pid %s) is not in %s: %v", lines[2], dir, lines[3:])
	}

	// A descriptor that is no cgroup fails the clone, in the parent.
	bad := func(a *execAttr) { a.into = intoCgroup(int(os.Stdin.Fd())) }
	if _, err := spawnWith(t, noUnshare, bad, "/bin/true"); err == nil || !strings.HasPrefix(err.Error(), "fork into the workload's cgroup: ") {
		t.Errorf("clone3 into stdin: %v, want a fork error", err)
	}
}
