package seccomp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// helperEnv makes the re-executed test binary install the Default filter
// on one thread and report what syscalls return there.
const helperEnv = "RBOX_SECCOMP_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode, ok := os.LookupEnv(helperEnv); ok {
		// Pin the main goroutine to the main thread (the thread group
		// leader), so the worker below runs on another thread.
		runtime.LockOSThread()
		done := make(chan int)
		go func() {
			runtime.LockOSThread()
			done <- helper(mode) // returns only on failure; the thread then dies locked
		}()
		os.Exit(<-done)
	}
	os.Exit(m.Run())
}

type probe struct {
	name string
	call func() unix.Errno
}

func sys(nr uintptr, args ...uintptr) unix.Errno {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	return e
}

func probes() []probe {
	devnull, err := unix.Open("/dev/null", unix.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	c := byte('x')
	ioctl := func(req uint64) func() unix.Errno {
		return func() unix.Errno {
			return sys(unix.SYS_IOCTL, uintptr(devnull), uintptr(req), uintptr(unsafe.Pointer(&c)))
		}
	}
	return []probe{
		{"getpid", func() unix.Errno { return sys(unix.SYS_GETPID) }},
		{"write", func() unix.Errno { return sys(unix.SYS_WRITE, uintptr(devnull), uintptr(unsafe.Pointer(&c)), 1) }},
		{"keyctl", func() unix.Errno {
			return sys(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffd) /* session */, 0)
		}},
		{"add_key", func() unix.Errno { return sys(unix.SYS_ADD_KEY, 0, 0, 0, 0, 0) }},
		{"bpf", func() unix.Errno { return sys(unix.SYS_BPF, 0, 0, 0) }},
		{"perf_event_open", func() unix.Errno { return sys(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0) }},
		{"userfaultfd", func() unix.Errno { return sys(unix.SYS_USERFAULTFD, 1 /* UFFD_USER_MODE_ONLY */) }},
		{"io_uring_setup", func() unix.Errno { return sys(unix.SYS_IO_URING_SETUP, 1, 0) }},
		{"ioctl_TIOCSTI", ioctl(unix.TIOCSTI)},
		{"ioctl_TIOCSTI_highbits", ioctl(1<<32 | unix.TIOCSTI)},
		{"ioctl_TIOCLINUX", ioctl(unix.TIOCLINUX)},
		{"ioctl_TIOCGWINSZ", ioctl(unix.TIOCGWINSZ)},
		{"personality_query", func() unix.Errno { return sys(unix.SYS_PERSONALITY, 0xffffffff) }},
		{"personality_READ_IMPLIES_EXEC", func() unix.Errno { return sys(unix.SYS_PERSONALITY, 0x0400000) }},
		{"clone3_bad_size", func() unix.Errno { return sys(unix.SYS_CLONE3, 0, 0) }},
		{"nr_beyond_table", func() unix.Errno { return sys(uintptr(arches[NativeArch].max + 1)) }},
	}
}

// helper runs on a locked thread that is not the thread group leader.
func helper(mode string) int {
	ps := probes()
	for _, p := range ps {
		fmt.Printf("before %s %d\n", p.name, int(p.call()))
	}
	f, err := Compile(Default(), NativeArch, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if mode == "no-nnp" {
		fmt.Printf("install-error %v\n", InstallOnThread(f))
		return 0
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	if err := InstallOnThread(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	for _, p := range ps {
		fmt.Printf("after %s %d\n", p.name, int(p.call()))
	}
	for _, who := range []string{"thread-self", "self"} {
		status, _ := os.ReadFile("/proc/" + who + "/status")
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
				fmt.Printf("status %s %s\n", who, strings.TrimSpace(v))
			}
		}
	}
	os.Stdout.Sync()
	// What this thread starts inherits the filter.
	err = unix.Exec("/bin/sh", []string{"sh", "-c", `echo status exec $(grep '^Seccomp:' /proc/self/status | cut -f2)`}, os.Environ())
	fmt.Fprintln(os.Stderr, "exec /bin/sh:", err)
	return 5
}

func runHelper(t *testing.T, mode string) map[string]string {
	t.Helper()
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s%s", err, out, stderr.String())
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if msg, ok := strings.CutPrefix(sc.Text(), "install-error "); ok {
			got["install-error"] = msg
			continue
		}
		f := strings.SplitN(sc.Text(), " ", 3)
		if len(f) == 3 {
			got[f[0]+" "+f[1]] = f[2]
		} else if len(f) == 2 {
			got[f[0]] = f[1]
		}
	}
	return got
}

// TestDefaultFilterInKernel installs the Default filter for real, on one
// thread of a re-executed test binary, and checks what the kernel answers.
// It needs no privilege (no_new_privs is enough) and no namespace.
func TestDefaultFilterInKernel(t *testing.T) {
	if _, ok := arches[NativeArch]; !ok {
		t.Skipf("no filter for %s", NativeArch)
	}
	got := runHelper(t, "default")
	t.Logf("helper reported: %v", got)
	errno := func(key string) unix.Errno {
		v, ok := got[key]
		if !ok {
			t.Fatalf("helper printed no %q; got %v", key, got)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s: %q", key, v)
		}
		return unix.Errno(n)
	}
	for _, name := range []string{"keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd",
		"io_uring_setup", "ioctl_TIOCSTI", "ioctl_TIOCSTI_highbits", "ioctl_TIOCLINUX", "personality_READ_IMPLIES_EXEC"} {
		if e := errno("after " + name); e != unix.EPERM {
			t.Errorf("%s under the filter: %v, want EPERM (without: %v)", name, e, errno("before "+name))
		}
	}
	// Probes where the filter must be what answers, not the kernel anyway.
	for _, name := range []string{"keyctl", "ioctl_TIOCSTI", "ioctl_TIOCSTI_highbits", "io_uring_setup"} {
		if e := errno("before " + name); e == unix.EPERM {
			t.Errorf("%s without the filter already gives EPERM: the probe proves nothing", name)
		}
	}
	for _, name := range []string{"getpid", "write", "personality_query"} {
		if e := errno("after " + name); e != 0 {
			t.Errorf("%s under the filter: %v, want success", name, e)
		}
	}
	for _, name := range []string{"ioctl_TIOCGWINSZ", "clone3_bad_size"} {
		if before, after := errno("before "+name), errno("after "+name); before != after {
			t.Errorf("%s: %v under the filter, %v without; the filter must not answer", name, after, before)
		}
	}
	if e := errno("after nr_beyond_table"); e != unix.ENOSYS {
		t.Errorf("syscall beyond the table: %v, want ENOSYS", e)
	}
	if got["status thread-self"] != "2" || got["status self"] != "0" {
		t.Errorf("Seccomp: filtering thread %q, thread group leader %q; want 2 and 0 (one thread only)",
			got["status thread-self"], got["status self"])
	}
	if got["status exec"] != "2" {
		t.Errorf("Seccomp after execve from the filtered thread: %q, want 2", got["status exec"])
	}
}

func TestInstallWithoutNoNewPrivs(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root holds CAP_SYS_ADMIN, which also allows a filter")
	}
	got := runHelper(t, "no-nnp")
	if msg := got["install-error"]; !strings.Contains(msg, "permission denied (set no_new_privs first") {
		t.Errorf("install without no_new_privs: %q", msg)
	}
}
