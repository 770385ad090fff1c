package rawproc

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Result is what a failing child leaves for its parent: the step, the
// caller's number for it, and its errno; Pid is for a child that clones
// the process the parent waits for (oci/spawn.go).
type Result struct {
	Step  uint32
	Errno uint32
	Pid   int32
}

// MapResult maps a shared page holding a Result, for a child that writes
// its own copy of our memory (no CLONE_VM); unmap releases it.
func MapResult() (r *Result, unmap func(), err error) {
	page, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, fmt.Errorf("map the child's result page: %w", err)
	}
	return (*Result)(unsafe.Pointer(&page[0])), func() { unix.Munmap(page) }, nil
}

// sigaction is the kernel's struct sigaction on amd64 and arm64.
type sigaction struct {
	handler, flags, restorer uintptr
	mask                     uint64
}

// Signals is what a child needs to put the signals back as execve
// expects them: the handlers of the runtime's to SIG_DFL, ignored
// signals left ignored, and the mask of the thread that cloned it.
type Signals struct {
	reset uint64    // bit n-1: signal n has a handler of the runtime's
	dfl   sigaction // SIG_DFL
	mask  uint64    // the thread's mask before the clone
}

// Clone calls clone, which clones a child that starts with Reset, on
// this goroutine's thread, locked, with every signal blocked from before
// the clone until it has returned: the child inherits the mask, so that
// no Go handler runs in it before Reset.
func (s *Signals) Clone(clone func() (uintptr, syscall.Errno)) (uintptr, syscall.Errno) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s.block()
	pid, err := clone()
	s.unblock()
	return pid, err
}

// block finds the signals with a handler, then blocks every signal on
// this thread, which the caller has locked.
func (s *Signals) block() {
	s.reset = handledSignals()
	all := ^uint64(0)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&s.mask)), 8, 0, 0)
}

// unblock puts the thread's mask back, once the clone has returned.
func (s *Signals) unblock() {
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&s.mask)), 0, 8, 0, 0)
}

// handledSignals returns the signals that have a handler (the Go
// runtime's) rather than SIG_DFL or SIG_IGN.
func handledSignals() uint64 {
	var set uint64
	for sig := uintptr(1); sig <= 64; sig++ {
		if sig == uintptr(unix.SIGKILL) || sig == uintptr(unix.SIGSTOP) {
			continue
		}
		var old sigaction
		_, _, errno := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0)
		if errno == 0 && old.handler > 1 { // SIG_DFL 0, SIG_IGN 1
			set |= 1 << (sig - 1)
		}
	}
	return set
}

// Wait reaps pid, a child that has exited or will, and returns how it
// ended.
func Wait(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return ws
		}
	}
}

// Caps is the header and data of a capset.
type Caps struct {
	Hdr  unix.CapUserHeader
	Data [2]unix.CapUserData
}

// Ambient raises every capability up to Last: all three sets first, as
// the ambient set may only hold what is permitted and inheritable.
type Ambient struct {
	Caps Caps
	Last uintptr
}

// AllCaps is every capability up to last, in all three sets.
func AllCaps(last int) Ambient {
	a := Ambient{Last: uintptr(last)}
	a.Caps.Hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	all := uint64(1)<<(last+1) - 1
	for i := range a.Caps.Data {
		word := uint32(all >> (32 * i))
		a.Caps.Data[i] = unix.CapUserData{Effective: word, Permitted: word, Inheritable: word}
	}
	return a
}
