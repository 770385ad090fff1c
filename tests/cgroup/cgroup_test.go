// Package cgroup tests rbox's resource limits for real: the built binary,
// run as an ordinary user with a systemd user session, on a pure cgroup v2
// host. The dev and CI machines have neither, so tests/vm/vmtest.sh builds
// this package as a static binary and runs it inside the test VM, where
// tests/vm/run.sh sets RBOX_VM=1. Elsewhere every test skips.
//
// RBOX_BIN and RBOX_ROOTFS name the binary and the busybox image;
// RBOX_VM_SCOPE=1 marks the run inside `systemd-run --user --scope -p
// Delegate=yes`, where the cgroupfs manager is tested.
package cgroup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	rboxBin string
	rootfs  string
	self    string // this binary, bound into sandboxes as /alloc
)

// allocEnv makes this binary, started inside a sandbox, allocate and touch
// that many MiB and exit 0.
const allocEnv = "RBOX_ALLOC_MIB"

func TestMain(m *testing.M) {
	if v := os.Getenv(allocEnv); v != "" {
		n, _ := strconv.Atoi(v)
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Printf("allocated %d MiB\n", n)
		os.Exit(0)
	}
	rboxBin = os.Getenv("RBOX_BIN")
	rootfs = os.Getenv("RBOX_ROOTFS")
	self, _ = os.Executable()
	os.Exit(m.Run())
}

func vmOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("RBOX_VM") != "1" {
		t.Skip("runs only inside the test VM (make vmtest)")
	}
	if rboxBin == "" || rootfs == "" {
		t.Fatal("RBOX_BIN and RBOX_ROOTFS must be set")
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// rbox runs the binary with the user's session environment (or env, when
// given) and returns what it printed. Time limits are generous: the VM
// runs under software emulation.
func rbox(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rboxBin, args...)
	cmd.Env = env
	if env == nil {
		cmd.Env = os.Environ()
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("rbox %v: timed out\n%s", args, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("rbox %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// sh runs a shell command in a sandbox with the given flags.
func sh(t *testing.T, script string, flags ...string) result {
	t.Helper()
	args := append([]string{"exec", "--rootfs", rootfs}, flags...)
	return rbox(t, nil, append(args, "--", "/bin/sh", "-c", script)...)
}

// alloc runs this binary in a sandbox to allocate mib MiB.
func alloc(t *testing.T, mib int, flags ...string) result {
	t.Helper()
	args := append([]string{"exec", "--rootfs", rootfs, "-v", self + ":/alloc:ro", "-e", allocEnv + "=" + strconv.Itoa(mib)}, flags...)
	return rbox(t, nil, append(args, "--", "/alloc")...)
}

// stats parses the JSON line --stats=json prints last on stderr.
type stats struct {
	MemoryPeakBytes uint64 `json:"memoryPeakBytes"`
	CPUUsageUsec    int64  `json:"cpuUsageUsec"`
	PidsPeak        uint64 `json:"pidsPeak"`
	PidsDenied      uint64 `json:"pidsDenied"`
	OOMKills        uint64 `json:"oomKills"`
	WallUsec        int64  `json:"wallUsec"`
}

func parseStats(t *testing.T, r result) stats {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	var s stats
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("no --stats=json line on stderr: %v\n%s", err, r)
	}
	return s
}

func oneLine125(t *testing.T, r result, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code != 125 || len(lines) != 1 || !strings.HasPrefix(lines[0], "rbox: ") {
		t.Fatalf("want exit 125 and one line \"rbox: ...\", got\n%s", r)
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("the line does not name %q: %s", w, lines[0])
		}
	}
}

// comm is the command name of host pid p.
func comm(p string) string {
	b, _ := os.ReadFile("/proc/" + p + "/comm")
	return strings.TrimSpace(string(b))
}

// userCgroup is the user manager's cgroup, where rbox's scopes and slices go.
func userCgroup() string {
	uid := os.Getuid()
	return fmt.Sprintf("/sys/fs/cgroup/user.slice/user-%d.slice/user@%d.service", uid, uid)
}

// rboxCgroups lists the cgroups under dir that rbox made for sandboxes
// (rbox-*.scope, app-rbox-*.slice, rbox-ID of the cgroupfs manager); the
// shared parents app-rbox.slice and the leaf rbox-leaf do not count.
func rboxCgroups(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		n := d.Name()
		if (strings.HasPrefix(n, "rbox-") || strings.HasPrefix(n, "app-rbox-")) && n != "rbox-leaf" {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestVMMemoryOOM(t *testing.T) {
	vmOnly(t)
	r := alloc(t, 200, "--memory", "64M")
	if r.code != 137 {
		t.Fatalf("want exit 137, got\n%s", r)
	}
	want := "rbox: workload killed: out of memory (memory limit 64 MiB)\n"
	if r.stderr != want {
		t.Errorf("want stderr %q, got %q", want, r.stderr)
	}
}

func TestVMMemoryEnoughAndStats(t *testing.T) {
	vmOnly(t)
	r := alloc(t, 200, "--memory", "256M", "--stats=json")
	if r.code != 0 || !strings.Contains(r.stdout, "allocated 200 MiB") {
		t.Fatalf("want the allocation to succeed, got\n%s", r)
	}
	s := parseStats(t, r)
	t.Logf("stats: %+v", s)
	if s.MemoryPeakBytes < 200<<20 || s.MemoryPeakBytes > 256<<20 {
		t.Errorf("peak memory %d is not between 200 MiB and the 256 MiB limit", s.MemoryPeakBytes)
	}
	if s.CPUUsageUsec <= 0 || s.PidsPeak < 2 || s.OOMKills != 0 {
		t.Errorf("implausible stats: %+v", s)
	}
	r = sh(t, "true", "--memory", "64m", "--stats")
	if r.code != 0 || !strings.HasPrefix(r.stderr, "rbox: stats: peak memory ") {
		t.Errorf("want a stats line, got\n%s", r)
	}
}

func TestVMPidsLimit(t *testing.T) {
	vmOnly(t)
	// What the workload's leaf counts: sh and cat, not the init's threads.
	r := sh(t, "cat /sys/fs/cgroup/pids.current; true", "--pids-limit", "100")
	if r.stdout != "2\n" {
		t.Errorf("pids.current with sh and cat running: want 2, got\n%s", r)
	}
	// --pids-limit 20 is 20 processes of the workload's: sh and 19
	// background sleeps; the next fork fails, the shell says so and gives
	// up, and every process is gone at exit.
	r = sh(t, `cat /sys/fs/cgroup/pids.max; i=0; while [ $i -lt 40 ]; do sleep 60 & echo started; i=$((i+1)); done; echo all-started`,
		"--pids-limit", "20", "--stats=json")
	if !strings.HasPrefix(r.stdout, "20\n") || strings.Count(r.stdout, "started\n") != 19 || strings.Contains(r.stdout, "all-started") {
		t.Errorf("want pids.max 20, 19 sleeps beside sh and no fork beyond, got\n%s", r)
	}
	if r.code == 0 || !strings.Contains(r.stderr, "can't fork") {
		t.Errorf("want the shell to fail to fork, got\n%s", r)
	}
	s := parseStats(t, r)
	if s.PidsPeak != 20 || s.PidsDenied < 1 {
		t.Errorf("want peak pids exactly the limit of 20 and a refused fork, got %+v", s)
	}
	// 20 sleeps: sh starts 19 and becomes the 20th; a 21st process, from
	// rbox enter, cannot start.
	const name = "pids20"
	r = rbox(t, nil, "exec", "-d", "--name", name, "--rootfs", rootfs, "--pids-limit", "20", "--",
		"sh", "-c", `i=0; while [ $i -lt 19 ]; do sleep 600 & i=$((i+1)); done; exec sleep 600`)
	if r.code != 0 {
		t.Fatalf("exec -d: %s", r)
	}
	defer rbox(t, nil, "rm", name)
	defer rbox(t, nil, "kill", "-s", "KILL", name)
	var leaf string
	for _, d := range rboxCgroups(userCgroup()) {
		if _, err := os.Stat(filepath.Join(d, "workload")); err == nil {
			leaf = filepath.Join(d, "workload")
		}
	}
	if leaf == "" {
		t.Fatalf("no workload leaf under %s", userCgroup())
	}
	var procs []string
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(leaf, "cgroup.procs"))
		procs = strings.Fields(string(b))
		return len(procs) == 20 && comm(procs[len(procs)-1]) == "sleep" && comm(procs[0]) == "sleep"
	})
	sleeps := 0
	for _, p := range procs {
		if comm(p) == "sleep" {
			sleeps++
		}
	}
	if len(procs) != 20 || sleeps != 20 {
		t.Fatalf("want 20 sleeps in %s, got %d processes, %d sleeps", leaf, len(procs), sleeps)
	}
	r = rbox(t, nil, "enter", name, "--", "sleep", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "resource temporarily unavailable") {
		t.Errorf("a 21st process: want a refused fork, got\n%s", r)
	}
	// Fork bombs (RBOX_VM_BOMBS, default 5): contained, ended by --timeout
	// at worst, the sandbox's init survives them, and the VM still answers
	// at once.
	bombs, _ := strconv.Atoi(os.Getenv("RBOX_VM_BOMBS"))
	for i := range max(bombs, 5) {
		t0 := time.Now()
		r = sh(t, `b() { b | b & }; b; sleep 3`, "--pids-limit", "20", "--timeout", "60s")
		var own []string // rbox's and the Go runtime's lines, not the shell's
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.HasPrefix(l, "rbox: ") || strings.Contains(l, "runtime") || strings.Contains(l, "fatal") {
				own = append(own, l)
			}
		}
		t.Logf("fork bomb %d: exit %d after %v; %q", i, r.code, time.Since(t0).Round(time.Millisecond), own)
		if r.code == 125 || len(own) > 0 {
			t.Errorf("the sandbox's init did not survive the fork bomb")
		}
	}
	t1 := time.Now()
	if r := sh(t, "echo alive"); r.stdout != "alive\n" {
		t.Fatalf("after the fork bomb: %s", r)
	}
	if d := time.Since(t1); d > 30*time.Second {
		t.Errorf("a plain run took %v after the fork bomb", d)
	}
}

func TestVMCPUs(t *testing.T) {
	vmOnly(t)
	r := sh(t, `cat /sys/fs/cgroup/cpu.max; timeout 4 sh -c 'while :; do :; done'; true`, "--cpus", "0.5", "--stats=json")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "50000 100000\n") {
		t.Fatalf("want cpu.max \"50000 100000\", got\n%s", r)
	}
	s := parseStats(t, r)
	ratio := float64(s.CPUUsageUsec) / float64(s.WallUsec)
	t.Logf("CPU %d us over %d us of wall time: %.2f", s.CPUUsageUsec, s.WallUsec, ratio)
	// A busy loop for 4 s: about half the wall time; loose bounds, since
	// the emulated VM is slow to start the sandbox around the loop.
	if ratio > 0.7 || ratio < 0.15 {
		t.Errorf("CPU/wall %.2f is not about 0.5", ratio)
	}
}

func TestVMCgroupInside(t *testing.T) {
	vmOnly(t)
	script := `cat /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/self/mountinfo; cat /sys/fs/cgroup/memory.max; mkdir /sys/fs/cgroup/x 2>/dev/null && echo WRITABLE; echo end`
	// slirp: the default network, with its helper outside the cgroup and
	// the sandbox inside (the design's "limits + --net slirp" together).
	for _, net := range []string{"none", "host", "slirp"} {
		t.Run(net, func(t *testing.T) {
			r := sh(t, script, "--memory", "64m", "--net", net)
			lines := strings.Split(r.stdout, "\n")
			if r.code != 0 || len(lines) < 4 {
				t.Fatalf("got\n%s", r)
			}
			if net == "host" && strings.Contains(lines[2], " /sys/fs/cgroup ") {
				// The bind of the host's /sys brings its cgroup2 along,
				// under the sandbox's own: the last line is the one seen.
				lines = append(lines[:1], lines[2:]...)
			}
			if lines[0] != "0::/" {
				t.Errorf("/proc/self/cgroup: want 0::/, got %q", lines[0])
			}
			if f := strings.Fields(lines[1]); len(f) < 6 || f[3] != "/" || !strings.HasPrefix(f[5], "ro,") || !strings.Contains(lines[1], " - cgroup2 ") {
				t.Errorf("want a read-only cgroup2 of the sandbox's root at /sys/fs/cgroup, got %q", lines[1])
			}
			if lines[2] != "67108864" {
				t.Errorf("memory.max inside: want 67108864, got %q", lines[2])
			}
			if strings.Contains(r.stdout, "WRITABLE") {
				t.Error("/sys/fs/cgroup is writable inside")
			}
		})
	}
	// Root of the sandbox with SYS_ADMIN, which remounts /sys/fs/cgroup
	// read-write and mounts a cgroup2 of its own, still cannot raise its
	// limits: the kernel (nsdelegate) refuses writes to the control files
	// of a cgroup namespace's root from inside it, and the workload's is
	// rooted at its leaf, the one with pids.max; the sandbox's cgroup above
	// it (memory.max for the init too) it cannot reach at all.
	r := sh(t, `mount -o remount,bind,rw /sys/fs/cgroup && echo remounted; mkdir /tmp/cg && mount -t cgroup2 none /tmp/cg && echo mounted; `+
		`for d in /sys/fs/cgroup /tmp/cg; do for f in memory.max pids.max; do echo max > $d/$f && echo RAISED $d/$f; done; done; `+
		`mkdir /sys/fs/cgroup/sub && echo $$ > /sys/fs/cgroup/sub/cgroup.procs && cat /proc/self/cgroup; `+
		`cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max`,
		"--memory", "64m", "--pids-limit", "50", "--cap-add", "SYS_ADMIN")
	t.Logf("limits from inside: %s", r)
	if !strings.HasPrefix(r.stdout, "remounted\nmounted\n") || strings.Contains(r.stdout, "RAISED") || !strings.HasSuffix(r.stdout, "0::/sub\n67108864\n50\n") {
		t.Errorf("want the remount and the mount to work, the limits to stay and a child cgroup below them:\n%s", r)
	}
	// The child unshares the cgroup namespace before its seccomp filter,
	// so a profile that refuses unshare does not stop a limited workload.
	noUnshare := filepath.Join(t.TempDir(), "no-unshare.json")
	if err := os.WriteFile(noUnshare, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = sh(t, "grep ^0:: /proc/self/cgroup", "--pids-limit", "50", "--seccomp", noUnshare)
	if r.code != 0 || r.stdout != "0::/\n" {
		t.Errorf("a profile denying unshare under --pids-limit: want 0::/, got\n%s", r)
	}
	// Without limits: no cgroup namespace, as before.
	r = sh(t, "cat /proc/self/cgroup")
	if r.code != 0 || r.stdout == "0::/\n" {
		t.Errorf("without limits the sandbox should get no cgroup of its own, got\n%s", r)
	}
}

func TestVMPersistWithLimits(t *testing.T) {
	vmOnly(t)
	dir := filepath.Join(t.TempDir(), "layer")
	if r := sh(t, "echo kept > /root/f", "--persist", dir, "--memory", "64m", "--pids-limit", "50"); r.code != 0 {
		t.Fatalf("%s", r)
	}
	if r := sh(t, "cat /root/f", "--persist", dir, "--cpus", "1", "--memory", "64m"); r.stdout != "kept\n" {
		t.Fatalf("%s", r)
	}
	rbox(t, nil, "remove-layer", dir)
}

// A detached sandbox keeps its limits and its cgroup goes with it.
func TestVMDetachedWithLimits(t *testing.T) {
	vmOnly(t)
	r := rbox(t, nil, "exec", "-d", "--name", "cg-detached", "--rootfs", rootfs, "--memory", "64m", "--", "sh", "-c", "cat /sys/fs/cgroup/memory.max; sleep 1")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if r := rbox(t, nil, "wait", "cg-detached"); r.code != 0 {
		t.Errorf("wait: %s", r)
	}
	if r := rbox(t, nil, "logs", "cg-detached"); r.stdout != "67108864\n" {
		t.Errorf("logs: %s", r)
	}
	rbox(t, nil, "rm", "cg-detached")
	if left := rboxCgroups(userCgroup()); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}

func TestVMBadValues(t *testing.T) {
	vmOnly(t)
	for _, c := range []struct{ flags, want []string }{
		{[]string{"--memory", "lots"}, []string{`--memory "lots"`}},
		{[]string{"--memory", "1m"}, []string{"too small"}},
		{[]string{"--memory-swap", "1g"}, []string{"--memory-swap needs --memory"}},
		{[]string{"--cpus", "0"}, []string{`--cpus "0"`}},
		{[]string{"--cpus", "1000"}, []string{"CPUs available"}},
		{[]string{"--pids-limit=-5"}, []string{`--pids-limit "-5"`}},
		{[]string{"--cgroup-manager", "cgmanager"}, []string{"cgmanager"}},
	} {
		oneLine125(t, sh(t, "true", c.flags...), c.want...)
	}
}

func TestVMNoBus(t *testing.T) {
	vmOnly(t)
	if os.Getenv("RBOX_VM_SCOPE") == "1" {
		t.Skip("inside a delegated scope the cgroupfs manager answers")
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	r := rbox(t, env, "exec", "--rootfs", rootfs, "--memory", "64M", "--", "true")
	oneLine125(t, r, "no user session bus", "DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are unset", "loginctl enable-linger", "is not delegated")
	r = rbox(t, env, "exec", "--rootfs", rootfs, "--", "echo", "fine")
	if r.code != 0 || r.stdout != "fine\n" {
		t.Errorf("without limits rbox must run as before:\n%s", r)
	}
}

// TestVMNoLeftovers: 20 runs with limits, one of them with its supervisor
// SIGKILLed, leave no scope, slice or cgroup behind.
func TestVMNoLeftovers(t *testing.T) {
	vmOnly(t)
	base := userCgroup()
	for i := range 19 {
		flags := []string{"--memory", "64m"}
		if i%2 == 1 {
			flags = []string{"--pids-limit", "30", "--cpus", "0.5"}
		}
		if r := sh(t, "true", flags...); r.code != 0 {
			t.Fatalf("run %d: %s", i, r)
		}
	}
	// The SIGKILLed supervisor: its init dies of the parent-death signal,
	// the scope empties and systemd removes it; the empty per-sandbox
	// slice (or cgroupfs directory) is removed by the next run with limits.
	cmd := exec.Command(rboxBin, "exec", "--rootfs", rootfs, "--memory", "64m", "--", "sh", "-c", "echo ready; exec sleep 300")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
		t.Fatalf("got %q", l)
	}
	if len(rboxCgroups(base)) == 0 {
		t.Fatalf("no sandbox cgroup under %s while a sandbox runs", base)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitFor(t, func() bool { return populated(rboxCgroups(base)) == 0 })
	if r := sh(t, "true", "--memory", "64m"); r.code != 0 {
		t.Fatalf("%s", r)
	}
	var left []string
	waitFor(t, func() bool { left = rboxCgroups(base); return len(left) == 0 })
	if len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	if os.Getenv("RBOX_VM_SCOPE") != "1" {
		b, _ := exec.Command("systemctl", "--user", "list-units", "--all", "--plain", "--no-legend", "rbox-*", "app-rbox-*").Output()
		if u := strings.TrimSpace(string(b)); u != "" && !onlySharedSlice(u) {
			t.Errorf("units left:\n%s", u)
		}
	}
}

// onlySharedSlice: app-rbox.slice, the shared parent, may stay.
func onlySharedSlice(units string) bool {
	for _, l := range strings.Split(units, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] != "app-rbox.slice" {
			return false
		}
	}
	return true
}

func populated(dirs []string) int {
	n := 0
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "cgroup.events")); err == nil && strings.Contains(string(b), "populated 1") {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
}

func currentCgroup(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(strings.TrimSpace(string(b)), "0::"))
	if filepath.Base(p) == "rbox-leaf" {
		p = filepath.Dir(p) // rbox moved us there: the sandboxes go beside it
	}
	return p
}

// TestVMCgroupfs runs inside `systemd-run --user --scope -p Delegate=yes`:
// rbox makes the sandbox's cgroup in that delegated scope itself.
func TestVMCgroupfs(t *testing.T) {
	vmOnly(t)
	if os.Getenv("RBOX_VM_SCOPE") != "1" {
		t.Skip("runs inside systemd-run --user --scope -p Delegate=yes (run.sh)")
	}
	r := alloc(t, 200, "--memory", "64M", "--cgroup-manager", "cgroupfs")
	if r.code != 137 || r.stderr != "rbox: workload killed: out of memory (memory limit 64 MiB)\n" {
		t.Errorf("want the OOM kill reported, got\n%s", r)
	}
	r = sh(t, "cat /proc/self/cgroup /sys/fs/cgroup/pids.max", "--pids-limit", "25", "--cgroup-manager", "cgroupfs")
	if r.code != 0 || r.stdout != "0::/\n25\n" {
		t.Errorf("got\n%s", r)
	}
	if left := rboxCgroups(currentCgroup(t)); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}
