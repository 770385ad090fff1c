package caps

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary, re-executed in a new user namespace,
// apply a capability set and report what the kernel then shows.
const helperEnv = "RBOX_CAPS_TEST_HELPER"

func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(helper(v))
	}
	os.Exit(m.Run())
}

// helper applies the set on a locked thread, prints that thread's status
// lines, then execs a shell from the same thread to show what a workload
// started from it holds.
func helper(arg string) int {
	set, err := strconv.ParseUint(arg, 16, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	runtime.LockOSThread()
	if err := ApplyToThread(Set(set)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Cap") {
			fmt.Println("thread " + line)
		}
	}
	os.Stdout.Sync()
	err = unix.Exec("/bin/sh", []string{"sh", "-c", "grep Cap /proc/self/status"}, os.Environ())
	fmt.Fprintln(os.Stderr, "exec /bin/sh:", err)
	return 5
}

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("RBOX_TEST_STRICT") == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// kernelCaps is the set of capabilities the running kernel knows.
func kernelCaps(t *testing.T) Set {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Fatal(err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return Set(1)<<(last+1) - 1
}

func TestApplyToThreadInUserNamespace(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("namespace tests run as an unprivileged user: go test -c, then runuser -u rboxtest")
	}
	known := kernelCaps(t)
	for _, tc := range []struct {
		name string
		set  Set
	}{
		{"podman default", Default()},
		{"two", mustParse(t, "CHOWN", "KILL")},
		{"above 31", mustParse(t, "SYS_ADMIN", "BPF", "CHECKPOINT_RESTORE")},
		{"none", 0},
		{"all", All},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("/proc/self/exe")
			arg := strconv.FormatUint(uint64(tc.set), 16)
			cmd.Env = append(os.Environ(), helperEnv+"="+arg)
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil && cmd.ProcessState == nil {
				skipOrFail(t, "cannot create a user namespace: %v", err)
			}
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, stderr.String())
			}
			thread, exe := parseStatus(t, out)
			want := tc.set & known
			for _, f := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd"} {
				wantThread, wantExe := want, want
				if f == "CapInh" { // always empty: CVE-2022-24769
					wantThread, wantExe = 0, 0
				}
				if thread[f] != wantThread {
					t.Errorf("thread %s = %x, want %x", f, thread[f], wantThread)
				}
				// Root of the user namespace: execve gives permitted =
				// inheritable | bounding, and effective = permitted.
				if exe[f] != wantExe {
					t.Errorf("after execve %s = %x, want %x", f, exe[f], wantExe)
				}
			}
			if thread["CapAmb"] != 0 || exe["CapAmb"] != 0 {
				t.Errorf("CapAmb = %x (thread), %x (after execve); want 0", thread["CapAmb"], exe["CapAmb"])
			}
		})
	}
}

// parseStatus splits the helper's output into the locked thread's Cap*
// fields and the exec'ed shell's.
func parseStatus(t *testing.T, out []byte) (thread, exe map[string]Set) {
	t.Helper()
	thread, exe = map[string]Set{}, map[string]Set{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		dst := exe
		if rest, ok := strings.CutPrefix(line, "thread "); ok {
			dst, line = thread, rest
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("odd status line %q", line)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(val), 16, 64)
		if err != nil {
			t.Fatalf("status line %q: %v", line, err)
		}
		dst[key] = Set(n)
	}
	if len(thread) != 5 || len(exe) != 5 {
		t.Fatalf("want 5 Cap lines from the thread and 5 after execve, got:\n%s", out)
	}
	return thread, exe
}
