package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InstallOnThread loads f for the calling thread only (no TSYNC): other
// threads of the process keep running unfiltered, and whatever the thread
// forks or execs inherits the filter.
//
// The caller must hold runtime.LockOSThread and never unlock that thread,
// or the runtime would schedule other goroutines onto a filtered thread.
// The kernel demands no_new_privs on the thread (prctl PR_SET_NO_NEW_PRIVS)
// or CAP_SYS_ADMIN in its user namespace; filters stack and cannot be
// removed.
func InstallOnThread(f Filter) error {
	if len(f.Program) == 0 || len(f.Program) > maxInsns {
		return fmt.Errorf("install seccomp filter: program of %d instructions", len(f.Program))
	}
	prog := unix.SockFprog{Len: uint16(len(f.Program)), Filter: &f.Program[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.Flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f.Program)
	if errno != 0 {
		if errors.Is(errno, unix.EACCES) {
			return fmt.Errorf("install seccomp filter: %w (set no_new_privs first, or hold CAP_SYS_ADMIN)", errno)
		}
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	return nil
}
