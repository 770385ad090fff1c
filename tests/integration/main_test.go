// Package integration runs the built rbox binary as an unprivileged user
// over the busybox rootfs and checks what a user would check: output, exit
// status, and what is or is not left behind.
//
// RBOX_BIN and RBOX_ROOTFS name the binary and the image. With
// RBOX_TEST_STRICT=1 (CI) a test that would skip for a missing host feature
// fails instead.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

var (
	rboxBin  string
	rootfs   string
	strict   bool
	stateDir string // TMPDIR of every rbox run: its rbox-UID is the state root
)

func TestMain(m *testing.M) {
	rboxBin = absEnv("RBOX_BIN", "../../bin/rbox")
	rootfs = absEnv("RBOX_ROOTFS", "../../testdata/rootfs")
	strict = os.Getenv("RBOX_TEST_STRICT") == "1"
	if os.Getuid() == 0 {
		fmt.Fprintln(os.Stderr, "integration tests must run as an unprivileged user (make test does that when run as root)")
		os.Exit(1)
	}
	for _, p := range []string{rboxBin, filepath.Join(filepath.Dir(rboxBin), "rbox-runtime"), filepath.Join(rootfs, "bin/busybox")} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "missing %s: run make build testdata\n", p)
			os.Exit(1)
		}
	}
	var err error
	stateDir, err = os.MkdirTemp("", "rbox-it-state")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := leftovers(); err != nil {
		fmt.Fprintf(os.Stderr, "LEFTOVERS: %v\n", err)
		code = 1
	}
	os.RemoveAll(stateDir)
	os.Exit(code)
}

func absEnv(name, def string) string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		return v
	}
	return abs
}

// stateRoot is where rbox keeps sandbox state in these tests.
func stateRoot() string { return filepath.Join(stateDir, fmt.Sprintf("rbox-%d", os.Getuid())) }

// leftovers reports state directories, processes or mounts that outlived
// the runs.
func leftovers() error {
	var problems []string
	if names := stateEntries(); len(names) > 0 {
		problems = append(problems, fmt.Sprintf("state left in %s: %v", stateRoot(), names))
	}
	if names := layerEntries(dataDir()); len(names) > 0 {
		problems = append(problems, fmt.Sprintf("writable layers left in %s: %v", layerRoot(dataDir()), names))
	}
	if procs := strayProcesses(); len(procs) > 0 {
		problems = append(problems, fmt.Sprintf("processes left: %v", procs))
	}
	if ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(stateDir)); err != nil {
		problems = append(problems, fmt.Sprintf("read mountinfo: %v", err))
	} else if len(ms) > 0 {
		problems = append(problems, fmt.Sprintf("%d mounts left under %s, the first on %s", len(ms), stateDir, ms[0].Mountpoint))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// dataDir is XDG_DATA_HOME of every rbox run (newStore's give their own):
// the sandboxes' writable layers go to its rbox/sandboxes.
func dataDir() string { return filepath.Join(stateDir, "data") }

func layerRoot(data string) string { return filepath.Join(data, "rbox", "sandboxes") }

// layerEntries lists the writable layers (and their locks) under data.
func layerEntries(data string) []string {
	entries, _ := os.ReadDir(layerRoot(data))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// stateEntries lists what is in the state root, but for an empty names/
// and the slirp4netns feature cache.
func stateEntries() []string {
	entries, _ := os.ReadDir(stateRoot())
	var names []string
	for _, e := range entries {
		// The slirp4netns feature probe's cache is kept across runs on
		// purpose.
		if e.Name() == "slirp4netns.features" {
			continue
		}
		if e.Name() == "names" {
			if sub, _ := os.ReadDir(filepath.Join(stateRoot(), "names")); len(sub) == 0 {
				continue
			}
		}
		names = append(names, e.Name())
	}
	return names
}

// strayProcesses lists rbox processes (the supervisor or the init) and
// sandboxed workloads of ours still alive: anything whose command line
// mentions the binary or whose session is ours but is not us.
func strayProcesses() []string {
	var out []string
	self := os.Getpid()
	sid, _ := unix.Getsid(self)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		var pid int
		fmt.Sscanf(filepath.Base(d), "%d", &pid)
		if pid == self {
			continue
		}
		st, err := os.Stat(d)
		if err != nil || st.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		args := strings.ReplaceAll(string(cmdline), "\x00", " ")
		psid, _ := unix.Getsid(pid)
		// The network helpers: pasta starts a session of its own.
		comm, _ := os.ReadFile(filepath.Join(d, "comm"))
		helper := strings.HasPrefix(string(comm), "slirp4netns") || strings.HasPrefix(string(comm), "pasta") || strings.HasPrefix(string(comm), "passt")
		if strings.Contains(args, "rbox") || helper || (strict && psid == sid) {
			if isAncestor(pid) {
				continue
			}
			// The state and parent say what it is: a zombie (Z, no
			// command line) and whose child it is tell who failed to reap.
			state, ppid := statOf(pid)
			out = append(out, fmt.Sprintf("%d:%s (%s, parent %d)", pid, args, state, ppid))
		}
	}
	return out
}

func isAncestor(pid int) bool {
	for p := os.Getppid(); p > 1; {
		if p == pid {
			return true
		}
		state, ppid := statOf(p)
		if state == "" {
			return false
		}
		p = ppid
	}
	return false
}

// statOf is a process's state letter and parent from /proc/PID/stat, ""
// if it is gone.
func statOf(pid int) (state string, ppid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return "", 0
	}
	fmt.Sscanf(s[i+2:], "%s %d", &state, &ppid)
	return state, ppid
}

// waitNoStrays waits until strayProcesses finds none (10 s at most) and
// fails naming those left.
func waitNoStrays(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(strayProcesses()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := strayProcesses(); len(p) > 0 {
		t.Fatalf("%s: %v", what, p)
	}
}

// need skips a test for a missing host feature, or fails it in strict mode.
func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if strict {
		t.Fatalf("host feature missing (strict mode): %s", why)
	}
	t.Skipf("host feature missing: %s", why)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// opts tweak one rbox run.
type opts struct {
	stdin string
	env   []string // added to a minimal environment
	dir   string
}

// rbox runs the binary to completion (60 s at most) and returns what it
// printed and its exit status.
func rbox(t *testing.T, args ...string) result {
	t.Helper()
	return rboxWith(t, opts{}, args...)
}

func rboxWith(t *testing.T, o opts, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rboxBin, args...)
	cmd.Env = baseEnv(o.env...)
	cmd.Dir = o.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader(o.stdin)
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("rbox %v: timed out after 60 s\n%s", args, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("rbox %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func baseEnv(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TMPDIR=" + stateDir,
		"XDG_DATA_HOME=" + dataDir(),
	}
	return append(env, extra...)
}

// sh runs a shell command in a default sandbox over the test rootfs.
func sh(t *testing.T, script string, flags ...string) result {
	t.Helper()
	args := append([]string{"exec", "--rootfs", rootfs}, flags...)
	args = append(args, "--", "/bin/sh", "-c", script)
	return rbox(t, args...)
}

// ok asserts a zero exit status and returns stdout.
func ok(t *testing.T, r result) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("want exit 0, got:\n%s", r)
	}
	return r.stdout
}

func hasFullMap() bool { return os.Getenv("RBOX_EXPECT_NO_SUBID") == "" }
