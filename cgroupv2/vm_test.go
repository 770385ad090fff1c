package cgroupv2

// The tests in this file need systemd as PID 1, a pure cgroup v2 hierarchy
// and the user's systemd on the session bus: they run inside the test VM
// (tests/vm/vmtest.sh sets RBOX_VM=1) as the user vmuser, and skip
// elsewhere. The child processes are this test binary in a helper mode
// (TestMain) or busybox, started first and moved into the cgroup by PID,
// as the supervisor does with the sandbox's init.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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

const helperEnv = "RBOX_CG_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "alloc":
		// Wait until the cgroup is set, then touch 200 MiB, page by page.
		waitGo()
		b := make([]byte, 200<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated 200 MiB and survived")
		os.Exit(0)
	case "wait":
		// Burn a little CPU so that cpu.stat has something to show.
		waitGo()
		for t0 := time.Now(); time.Since(t0) < 200*time.Millisecond; {
		}
		os.Exit(0)
	}
	os.Exit(2)
}

func waitGo() {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(3)
	}
}

func vmOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("RBOX_VM") != "1" {
		t.Skip("runs only inside the test VM (tests/vm/vmtest.sh sets RBOX_VM=1)")
	}
}

func userEnv() Env {
	return Env{BusAddress: os.Getenv("DBUS_SESSION_BUS_ADDRESS"), RuntimeDir: os.Getenv("XDG_RUNTIME_DIR")}
}

// child is a started process waiting for "go" on its stdin.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   string // file with the child's stdout and stderr
}

// output is what the child printed so far. A file, not a pipe: background
// processes the child leaves behind would hold a pipe, and Wait with it.
func (c *child) output() string {
	b, _ := os.ReadFile(c.out)
	return string(b)
}

func startChild(t *testing.T, helper string, argv ...string) *child {
	t.Helper()
	if argv == nil {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		argv = []string{self}
	}
	c := &child{cmd: exec.Command(argv[0], argv[1:]...)}
	c.cmd.Env = append(os.Environ(), helperEnv+"="+helper)
	c.out = filepath.Join(t.TempDir(), "out")
	f, err := os.Create(c.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	return c
}

// run says "go" and waits for the child to exit.
func (c *child) run(t *testing.T) error {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	c.stdin.Close()
	return c.cmd.Wait()
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func checkFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := readTrim(t, filepath.Join(dir, name)); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
}

// checkIn checks that pid sits in the cgroup dir.
func checkIn(t *testing.T, pid int, dir string) {
	t.Helper()
	rel, err := readFile(fmt.Sprintf("/proc/%d/cgroup", pid), parseProcCgroup)
	if err != nil {
		t.Fatal(err)
	}
	if got := filepath.Join(mountRoot, rel); got != dir {
		t.Errorf("pid %d is in %q, want %q", pid, got, dir)
	}
}

func checkGone(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cgroup %q still exists after Destroy (%v)", d, err)
		}
	}
}

func wantSIGKILL(t *testing.T, err error, out string) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("child exit = %v, want killed by SIGKILL (output %q)", err, out)
	}
}

// oomCase runs the 200 MiB allocation under MemoryMax=64M without swap and
// TasksMax=20, with whichever manager m is.
func oomCase(t *testing.T, m Manager, name string) (*Cgroup, Stats) {
	ctx := context.Background()
	c := startChild(t, "alloc")
	l := Limits{Memory: 64 << 20, MemorySwap: 64 << 20, Pids: 20}
	t0 := time.Now()
	cg, err := m.Create(ctx, name, l, c.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Logf("%s Create took %v: %s", m.Kind(), time.Since(t0).Round(time.Millisecond), cg.Path())
	// The init's leaf; the memory limit covers it from the parent, pids.max
	// is the workload's leaf's alone (the parent's is "max" or systemd's
	// default TasksMax).
	checkIn(t, c.cmd.Process.Pid, filepath.Join(cg.Path(), InitLeaf))
	checkFiles(t, cg.Path(), map[string]string{"memory.max": "67108864", "memory.swap.max": "0"})
	checkFiles(t, cg.Workload(), map[string]string{"memory.max": "67108864", "memory.swap.max": "0", "pids.max": "20"})
	wantSIGKILL(t, c.run(t), c.output())
	oom, err := cg.OOMKilled()
	if err != nil || !oom {
		t.Errorf("OOMKilled = %v, %v; want true", oom, err)
	}
	s, err := cg.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	t.Logf("stats: %+v", s)
	if s.OOMKills < 1 || s.MemoryPeak < 32<<20 || s.MemoryPeak > 66<<20 {
		t.Errorf("stats %+v: want an OOM kill and a memory peak near 64 MiB", s)
	}
	return cg, s
}

func TestVMSystemd(t *testing.T) {
	vmOnly(t)
	ctx := context.Background()
	t0 := time.Now()
	m, err := New(ctx, Systemd, userEnv())
	if err != nil {
		t.Fatalf("New(systemd): %v", err)
	}
	defer m.Close()
	t.Logf("New(systemd) took %v", time.Since(t0).Round(time.Millisecond))
	sm := m.(*systemdManager)
	activeState := func(unit string) string {
		p, err := sm.conn.GetUnitPropertyContext(ctx, unit, "ActiveState")
		if err != nil {
			return "error: " + err.Error()
		}
		s, _ := p.Value.Value().(string)
		return s
	}
	destroy := func(t *testing.T, cg *Cgroup) {
		t.Helper()
		scope := cg.Unit()
		slice := filepath.Base(cg.statsPath)
		t0 := time.Now()
		if err := cg.Destroy(ctx); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		t.Logf("Destroy took %v", time.Since(t0).Round(time.Millisecond))
		checkGone(t, cg.Path(), cg.statsPath)
		for _, u := range []string{scope, slice} {
			// Stopped units stay loaded until systemd collects them.
			if s := activeState(u); s != "inactive" && !strings.Contains(s, "NoSuchUnit") {
				t.Errorf("unit %s is %s after Destroy", u, s)
			}
		}
	}

	t.Run("oom", func(t *testing.T) {
		cg, _ := oomCase(t, m, "vm-oom-"+strconv.Itoa(os.Getpid()))
		if !strings.HasSuffix(cg.Path(), "/app.slice/app-rbox.slice/"+filepath.Base(cg.statsPath)+"/"+cg.Unit()) {
			t.Errorf("scope cgroup %q is not in app.slice/app-rbox.slice/SLICE", cg.Path())
		}
		destroy(t, cg)
	})

	t.Run("fork bomb", func(t *testing.T) {
		busybox, err := exec.LookPath("busybox")
		if err != nil {
			t.Fatal(err)
		}
		// A bounded bomb: 100 background sleeps against TasksMax=20.
		c := startChild(t, "", busybox, "sh", "-c",
			`read go; i=0; while [ $i -lt 100 ]; do busybox sleep 60 & i=$((i+1)); done; echo "loop ended"`)
		cg, err := m.Create(ctx, "vm-bomb-"+strconv.Itoa(os.Getpid()), Limits{Pids: 20}, c.cmd.Process.Pid)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		checkFiles(t, cg.Workload(), map[string]string{"pids.max": "20"})
		// What the init does for the workload: start it in its leaf.
		if err := writeFile(filepath.Join(cg.Workload(), "cgroup.procs"), strconv.Itoa(c.cmd.Process.Pid)); err != nil {
			t.Fatal(err)
		}
		err = c.run(t)
		t.Logf("bomb shell: %v, output %q", err, lastLine(c.output()))
		if cur, _ := strconv.Atoi(readTrim(t, filepath.Join(cg.Workload(), "pids.current"))); cur > 20 || cur < 10 {
			t.Errorf("pids.current = %d with sleeps still running, want 10..20", cur)
		}
		s, err := cg.Stats()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stats: %+v", s)
		if s.PidsPeak > 20 || s.PidsPeak < 10 || s.PidsDenied == 0 {
			t.Errorf("pids peak %d, denied %d: want at most 20 and some refused forks", s.PidsPeak, s.PidsDenied)
		}
		// Destroy with the sleeps still alive: they must be killed.
		destroy(t, cg)
	})

	t.Run("cpu and stats after exit", func(t *testing.T) {
		c := startChild(t, "wait")
		cpu, err := ParseCPUs("0.5")
		if err != nil {
			t.Fatal(err)
		}
		cg, err := m.Create(ctx, "vm-cpu-"+strconv.Itoa(os.Getpid()), Limits{CPU: cpu}, c.cmd.Process.Pid)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		checkFiles(t, cg.Path(), map[string]string{"cpu.max": "50000 100000"})
		checkFiles(t, cg.Workload(), map[string]string{"cpu.max": "50000 100000"})
		if err := c.run(t); err != nil {
			t.Fatalf("child: %v (%s)", err, c.output())
		}
		// systemd removes the emptied scope's cgroup on its own; the
		// results must still be there, in the slice.
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := os.Stat(cg.Path()); errors.Is(err, fs.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("systemd did not remove the empty scope %q", cg.Path())
			}
			time.Sleep(50 * time.Millisecond)
		}
		oom, err := cg.OOMKilled()
		if err != nil || oom {
			t.Errorf("OOMKilled after a clean exit = %v, %v; want false", oom, err)
		}
		s, err := cg.Stats()
		if err != nil {
			t.Fatalf("Stats after the scope is gone: %v", err)
		}
		t.Logf("stats after the scope is gone: %+v", s)
		if s.CPUUsage < 100*time.Millisecond || s.MemoryPeak == 0 || s.PidsPeak == 0 {
			t.Errorf("stats %+v: want the CPU the child burned, a memory and a pids peak", s)
		}
		destroy(t, cg)
	})
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}

// TestVMRefusals: without the bus variables (su, a system service, CI
// agents) the systemd manager refuses with the cause and the fix; auto also
// says that the service's own cgroup is not delegated.
func TestVMRefusals(t *testing.T) {
	vmOnly(t)
	ctx := context.Background()
	_, err := New(ctx, Systemd, Env{})
	want := "cgroup limits are not available: no user session bus to reach systemd: DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are unset (typical of su, sudo and ssh or CI agents without a PAM login)\n" +
		"hint: log in through PAM (ssh, machinectl shell USER@, su -l), or have root run 'loginctl enable-linger USER' once and set XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"
	if err == nil || err.Error() != want || !errors.Is(err, ErrUnavailable) {
		t.Errorf("New(systemd, no bus):\n got  %v\n want %s", err, want)
	}
	if os.Getenv("RBOX_VM_SCOPE") == "" {
		_, err = New(ctx, Auto, Env{})
		if err == nil || !errors.Is(err, ErrUnavailable) ||
			!strings.Contains(err.Error(), "DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are unset") ||
			!strings.Contains(err.Error(), `the current cgroup "/sys/fs/cgroup/system.slice/`) {
			t.Errorf("New(auto, no bus) in a system service: %v", err)
		}
		t.Logf("auto without a bus, in a system service:\n%v", err)
	}
	_, err = New(ctx, Systemd, Env{BusAddress: "unix:path=/nonexistent/bus"})
	if err == nil || !strings.Contains(err.Error(), `cannot reach the user's systemd on the bus "unix:path=/nonexistent/bus"`) {
		t.Errorf("New(systemd, stale bus): %v", err)
	}
}

// TestVMCgroupfs runs inside `systemd-run --user --scope -p Delegate=yes`
// (tests/vm/run.sh sets RBOX_VM_SCOPE=1 there): the current cgroup is
// delegated and holds this process, so Create must first move it into the
// leaf, then enable the controllers.
func TestVMCgroupfs(t *testing.T) {
	vmOnly(t)
	if os.Getenv("RBOX_VM_SCOPE") != "1" {
		t.Skip("runs inside systemd-run --user --scope -p Delegate=yes (RBOX_VM_SCOPE=1)")
	}
	ctx := context.Background()
	m, err := New(ctx, Cgroupfs, Env{})
	if err != nil {
		t.Fatalf("New(cgroupfs): %v", err)
	}
	base := m.(*cgroupfsManager).base
	t.Logf("delegated base %s, controllers %q", base, readTrim(t, filepath.Join(base, "cgroup.controllers")))
	cg, _ := oomCase(t, m, "vm-fs-"+strconv.Itoa(os.Getpid()))
	if filepath.Dir(cg.Path()) != base {
		t.Errorf("cgroup %q is not under %q", cg.Path(), base)
	}
	checkIn(t, os.Getpid(), filepath.Join(base, leafName))
	if err := cg.Destroy(ctx); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	checkGone(t, cg.Path())

	// A second manager, now started from the leaf, goes beside it.
	m2, err := New(ctx, Cgroupfs, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.(*cgroupfsManager).base; got != base {
		t.Errorf("second manager base %q, want %q", got, base)
	}
	// Destroy kills a live sandbox.
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "", busybox, "sleep", "60")
	cg2, err := m2.Create(ctx, "vm-fs2-"+strconv.Itoa(os.Getpid()), Limits{Pids: 5}, c.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := cg2.Destroy(ctx); err != nil {
		t.Fatalf("Destroy of a live cgroup: %v", err)
	}
	checkGone(t, cg2.Path())
	if err := c.cmd.Wait(); err == nil {
		t.Error("the sleep survived Destroy")
	}
	// The refusal of auto is not what runs here, but auto must pick the
	// user's systemd when the bus answers.
	m3, err := New(ctx, Auto, userEnv())
	if err != nil || m3.Kind() != Systemd {
		t.Errorf("New(auto) with the bus = %v, %v; want systemd", m3, err)
	}
	if m3 != nil {
		m3.Close()
	}
	// And cgroupfs with no bus.
	m4, err := New(ctx, Auto, Env{})
	if err != nil || m4.Kind() != Cgroupfs {
		t.Errorf("New(auto) without a bus in a delegated scope = %v, %v; want cgroupfs", m4, err)
	}
}
