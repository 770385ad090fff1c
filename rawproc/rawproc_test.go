package rawproc

import (
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// testAttr is what testChild reads.
type testAttr struct {
	path       *byte
	argv, envv **byte
	raise      Ambient
	sigs       Signals
	result     *Result
}

// testChild is a child made of the package's parts, as the three of rbox
// are: clone (CLONE_VFORK, no CLONE_VM), Reset, [Raise], Execve, Fail.
//
//go:nosplit
//go:norace
func testChild(a *testAttr, raise bool) (uintptr, syscall.Errno) {
	var step uint32
	pid, _, err := syscall.RawSyscall6(unix.SYS_CLONE, unix.CLONE_VFORK|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if err != 0 || pid != 0 {
		return pid, err
	}
	a.sigs.Reset()
	if raise {
		if step, err = a.raise.Raise(1, 2); err != 0 {
			goto fail
		}
	}
	step = 3
	err = Execve(a.path, a.argv, a.envv)
fail:
	for {
		Fail(a.result, step, err)
	}
}

// run starts path as testChild and returns its pid, the page and how
// the child ended when it failed.
func run(t *testing.T, path string, raise *Ambient) (int, Result) {
	t.Helper()
	a := &testAttr{}
	var err error
	if a.path, err = syscall.BytePtrFromString(path); err != nil {
		t.Fatal(err)
	}
	av, _ := syscall.SlicePtrFromStrings([]string{path})
	ev, _ := syscall.SlicePtrFromStrings(nil)
	a.argv, a.envv = &av[0], &ev[0]
	if raise != nil {
		a.raise = *raise
	}
	result, unmap, err := MapResult()
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	a.result = result
	pid, errno := a.sigs.Clone(func() (uintptr, syscall.Errno) { return testChild(a, raise != nil) })
	runtime.KeepAlive(av)
	runtime.KeepAlive(ev)
	if errno != 0 {
		t.Fatalf("clone: %v", errno)
	}
	return int(pid), *a.result
}

func TestChild(t *testing.T) {
	// Bits the kernel does not know are never permitted: capset refuses.
	unknown := AllCaps(63)
	tests := []struct {
		name      string
		path      string
		raise     *Ambient
		wantStep  uint32
		wantErrno syscall.Errno
	}{
		{"executes", "/bin/true", nil, 0, 0},
		{"a missing program", "/nonexistent/rawproc", nil, 3, unix.ENOENT},
		{"a directory", "/", nil, 3, unix.EACCES},
		{"capabilities the kernel does not know", "/bin/true", &unknown, 1, unix.EPERM},
	}
	// The ambient raise itself runs in userns's TestCloneInit, in a new
	// user namespace: a host's root may lack some of its capabilities.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, r := run(t, tt.path, tt.raise)
			ws := Wait(pid)
			if r.Step != tt.wantStep || syscall.Errno(r.Errno) != tt.wantErrno {
				t.Errorf("result: step %d, %v; want step %d, %v", r.Step, syscall.Errno(r.Errno), tt.wantStep, tt.wantErrno)
			}
			want := 0
			if tt.wantStep != 0 {
				want = 125
			}
			if !ws.Exited() || ws.ExitStatus() != want {
				t.Errorf("the child ended %v, want exit %d", ws, want)
			}
		})
	}
}

// The mask block saved is the one unblock puts back, and the thread's
// mask is all blocked in between.
func TestSignalsBlock(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, during, after uint64
	mask := func(into *uint64) {
		syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, 0, uintptr(unsafe.Pointer(into)), 8, 0, 0)
	}
	mask(&before)
	var s Signals
	s.block()
	mask(&during)
	s.unblock()
	mask(&after)
	// SIGKILL and SIGSTOP cannot be blocked.
	if want := ^uint64(0) &^ (1<<(unix.SIGKILL-1) | 1<<(unix.SIGSTOP-1)); during&want != want {
		t.Errorf("during: mask %#x, want %#x", during, want)
	}
	if after != before || s.mask != before {
		t.Errorf("mask %#x before, %#x after, %#x saved", before, after, s.mask)
	}
	// The runtime handles SIGURG (preemption) and SIGSEGV.
	for _, sig := range []unix.Signal{unix.SIGURG, unix.SIGSEGV} {
		if s.reset&(1<<(sig-1)) == 0 {
			t.Errorf("%v: not among the signals to reset (%#x)", sig, s.reset)
		}
	}
}

func TestAllCaps(t *testing.T) {
	tests := []struct {
		last int
		lo   uint32
		hi   uint32
	}{
		{0, 1, 0},
		{31, ^uint32(0), 0},
		{40, ^uint32(0), 1<<9 - 1},
		{63, ^uint32(0), ^uint32(0)},
	}
	for _, tt := range tests {
		a := AllCaps(tt.last)
		for i, want := range []uint32{tt.lo, tt.hi} {
			d := a.Caps.Data[i]
			if d.Effective != want || d.Permitted != want || d.Inheritable != want {
				t.Errorf("last %d: word %d is %+v, want %#x in each set", tt.last, i, d, want)
			}
		}
		if a.Last != uintptr(tt.last) || a.Caps.Hdr.Version != unix.LINUX_CAPABILITY_VERSION_3 {
			t.Errorf("last %d: %+v", tt.last, a)
		}
	}
}
