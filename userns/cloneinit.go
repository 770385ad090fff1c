package userns

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/rawproc"
)

// The init is cloned as posix_spawn clones: clone(CLONE_VM|CLONE_VFORK)
// with the namespace flags, a child that runs on our memory and stack and
// does nothing but raw syscalls over what we prepared, then execve. Our
// thread resumes when the child's execve has left our memory. os/exec
// could not do it as cheaply: with CLONE_NEWUSER it forks a copy of the
// whole Go process (no vfork: its child must wait, on a pipe, until the
// parent has written the ID map), and its parent then waits on another
// pipe for the execve; here no page table is copied, and the ID map, of
// any kind, is written after the execve while the init's Go runtime
// starts (the init waits for "go" in stage "map"). For that the child
// raises every capability of its new namespace as an ambient one, so
// that the unmapped execve keeps them, as the full map always did.
//
// The workload's child (forkexec.go) does not share memory, because its
// steps are many and one of them may be refused by its seccomp filter;
// the init's are few and none is filtered. Sharing the stack needs the
// clone's return address kept out of it (rawVfork, vfork_*.s): the child
// returns first and its next calls write their frames over ours.
//
// The child's steps, in order: the signal handlers back to SIG_DFL and the
// mask restored; setpgid (terminal signals reach the supervisor alone);
// the parent-death signal; the descriptors moved into place (each first
// to a number above the table, close-on-exec, then to its own: no source
// is overwritten before it is read); the inheritable and ambient sets
// raised; execve.

// Steps of the init's child, after the workload's (forkexec.go).
const (
	stepSetpgid = stepExec + 1 + iota
	stepPdeathsig
	stepFds
	stepInheritable
	stepAmbientRaise
)

// stepName names a step of either child.
func stepName(step uint32) string {
	switch step {
	case stepSetpgid:
		return "setpgid"
	case stepPdeathsig:
		return "set the parent-death signal"
	case stepFds:
		return "move the inherited descriptors"
	case stepInheritable:
		return "set the inheritable capabilities"
	case stepAmbientRaise:
		return "raise the ambient capabilities"
	}
	if int(step) < len(stepNames) && stepNames[step] != "" {
		return stepNames[step]
	}
	return "step"
}

// maxInitFds bounds the init's table: stdio and at most a few of its own.
const maxInitFds = 8

// initAttr is everything the init's child reads, prepared by the parent.
type initAttr struct {
	flags      uintptr // clone flags: the namespaces, CLONE_VFORK, SIGCHLD
	path       *byte
	argv, envv **byte
	fds        [maxInitFds]int // fds[i] becomes descriptor i
	nfds       uintptr
	tmp        [maxInitFds]int // the child's scratch: the first moves
	raise      rawproc.Ambient

	sigs   rawproc.Signals
	result rawproc.Result // the child's memory is ours (CLONE_VM)
}

// rawVfork is a syscall for a clone with CLONE_VM|CLONE_VFORK: the child
// returns on our stack first (vfork_*.s).
func rawVfork(trap, a1, a2, a3 uintptr) (r1 uintptr, err syscall.Errno)

// cloneInit clones the init with flags (the namespaces) and executes
// path with argv and env, files[i] as its descriptor i. It returns the
// init's pid once the child has called execve. A failure of the child's
// is a *childError; one of the clone itself a syscall.Errno.
func cloneInit(flags uintptr, path string, argv, env []string, files []*os.File) (int, error) {
	if len(files) > maxInitFds {
		return 0, fmt.Errorf("clone the init: %d descriptors, at most %d", len(files), maxInitFds)
	}
	last, err := lastCap()
	if err != nil {
		return 0, err
	}
	a := &initAttr{flags: flags | unix.CLONE_VM | unix.CLONE_VFORK | uintptr(unix.SIGCHLD), nfds: uintptr(len(files))}
	if a.path, err = unix.BytePtrFromString(path); err != nil {
		return 0, err
	}
	if a.argv, err = cStrings(argv); err != nil {
		return 0, err
	}
	if a.envv, err = cStrings(env); err != nil {
		return 0, err
	}
	for i, f := range files {
		a.fds[i] = int(f.Fd())
	}
	// Every capability of the new namespace.
	a.raise = rawproc.AllCaps(int(last))

	// As os/exec: no descriptor made without close-on-exec elsewhere in
	// the process leaks into the child meanwhile.
	syscall.ForkLock.Lock()
	pid, errno := a.sigs.Clone(func() (uintptr, syscall.Errno) { return forkInit(a) })
	syscall.ForkLock.Unlock()
	runtime.KeepAlive(a)
	runtime.KeepAlive(files)
	if errno != 0 {
		return 0, errno
	}
	if r := a.result; r.Step != stepNone {
		// The child exited 125; reap it.
		rawproc.Wait(int(pid))
		return 0, &childError{step: r.Step, errno: syscall.Errno(r.Errno)}
	}
	return int(pid), nil
}

// lastCap is the highest capability the running kernel knows.
func lastCap() (uintptr, error) {
	caps, err := allCaps()
	if err != nil {
		return 0, err
	}
	return uintptr(len(caps) - 1), nil
}

// cStrings is ss as a NULL-terminated array of C strings.
func cStrings(ss []string) (**byte, error) {
	p, err := syscall.SlicePtrFromStrings(ss)
	if err != nil {
		return nil, err
	}
	return &p[0], nil
}

// forkInit clones the init's child; in the parent it returns the pid once
// the child has called execve or exited. In the child it never returns
// and does nothing but raw syscalls over a (see forkExec).
//
//go:nosplit
//go:norace
func forkInit(a *initAttr) (uintptr, syscall.Errno) {
	var (
		pid  uintptr
		err  syscall.Errno
		step uint32
		i    uintptr
		fd   uintptr
	)
	pid, err = rawVfork(unix.SYS_CLONE, a.flags, 0, 0)
	if err != 0 || pid != 0 {
		return pid, err
	}

	a.sigs.Reset()

	step = stepSetpgid
	if _, _, err = syscall.RawSyscall(unix.SYS_SETPGID, 0, 0, 0); err != 0 {
		goto fail
	}
	// The sandbox must not outlive a SIGKILLed supervisor. The signal is
	// tied to the thread that cloned us, which Go never ends while the
	// process lives; the init sets it again after its execve, which
	// clears it.
	step = stepPdeathsig
	if _, _, err = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0, 0); err != 0 {
		goto fail
	}
	// A parent that died before this cannot be told from here (getppid
	// says 0 in a new pid namespace); the init's first receive sees its
	// closed end of the sync socket and ends the sandbox.
	step = stepFds
	for i = 0; i < a.nfds; i++ {
		if fd, _, err = syscall.RawSyscall(unix.SYS_FCNTL, uintptr(a.fds[i]), unix.F_DUPFD_CLOEXEC, a.nfds); err != 0 {
			goto fail
		}
		a.tmp[i] = int(fd)
	}
	for i = 0; i < a.nfds; i++ {
		if _, _, err = syscall.RawSyscall(unix.SYS_DUP3, uintptr(a.tmp[i]), i, 0); err != 0 {
			goto fail
		}
	}
	if step, err = a.raise.Raise(stepInheritable, stepAmbientRaise); err != 0 {
		goto fail
	}
	step = stepExec
	err = rawproc.Execve(a.path, a.argv, a.envv)

fail:
	for {
		rawproc.Fail(&a.result, step, err)
	}
}
