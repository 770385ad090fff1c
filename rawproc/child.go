package rawproc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Everything here runs in a child that shares or copies our stack with
// the Go runtime frozen mid-flight: nosplit (no stack growth), norace (no
// instrumentation), no allocation, no calls but raw syscalls.

// crash stays nil: written to die when exit_group is refused.
var crash *byte

// Reset is a child's first step: the handlers back to SIG_DFL, then the
// mask as it was; a signal that arrives from here on does what it does to
// any process.
//
//go:nosplit
//go:norace
func (s *Signals) Reset() {
	var i uintptr
	for i = 1; i <= 64; i++ {
		if s.reset&(1<<(i-1)) != 0 {
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, i, uintptr(unsafe.Pointer(&s.dfl)), 0, 8, 0, 0)
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&s.mask)), 0, 8, 0, 0)
}

// Set is capset(c).
//
//go:nosplit
//go:norace
func (c *Caps) Set() syscall.Errno {
	_, _, err := syscall.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&c.Hdr)), uintptr(unsafe.Pointer(&c.Data[0])), 0)
	return err
}

// Raise sets a's capabilities, then raises each as an ambient one, which
// an execve of an unmapped or non-root uid keeps. A failure returns the
// caller's step for it: capset or ambient.
//
//go:nosplit
//go:norace
func (a *Ambient) Raise(capset, ambient uint32) (uint32, syscall.Errno) {
	if err := a.Caps.Set(); err != 0 {
		return capset, err
	}
	var i uintptr
	for i = 0; i <= a.Last; i++ {
		if _, _, err := syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, i, 0, 0, 0); err != 0 {
			return ambient, err
		}
	}
	return 0, 0
}

// Execve executes path; it returns only on failure.
//
//go:nosplit
//go:norace
func Execve(path *byte, argv, envv **byte) syscall.Errno {
	_, _, err := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(argv)), uintptr(unsafe.Pointer(envv)))
	return err
}

// Exit ends the child with code.
//
//go:nosplit
//go:norace
func Exit(code uintptr) {
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, code, 0, 0)
		// A filter refused even exit_group: die by SIGSEGV (the
		// handler is SIG_DFL after Reset) rather than return into Go.
		*crash = 0
	}
}

// Fail leaves step and err in r and ends the child with 125.
//
//go:nosplit
//go:norace
func Fail(r *Result, step uint32, err syscall.Errno) {
	r.Step = step
	r.Errno = uint32(err)
	Exit(125)
}
