package userns

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/rawproc"
)

// The init starts the workload (and every rbox enter process) with a fork
// and exec of its own rather than os/exec, for one reason: the seccomp
// filter must be installed by the new process itself, as its last step
// before execve, so that nothing but that execve runs under it. Installed
// on a thread of the init, as before, the filter applied to the Go runtime
// on that thread (futex, the thread's own exit) and to everything Go's
// fork child does, and a strict profile crashed the init.
//
// The parent (spawn) prepares every byte the child reads, blocks signals
// on a locked thread and clones a plain child (no CLONE_VM: the child
// writes its own copy of the memory). CLONE_VFORK makes the parent's
// thread wait until the child has called execve or died, so no pipe is
// needed to learn the outcome: a failing child stores its step and errno
// in a shared page (a plain store, which no filter can refuse) and exits.
// The child runs forkExec alone, as syscall.forkAndExecInChild1 does:
// nosplit, norace, no allocation, no calls but syscall.RawSyscall* and
// rawproc's child side, which the init's child and the OCI runtime's
// joining step share.
// Nothing on the init's own threads changes: no capability, no
// no_new_privs, no filter.
//
// With a cgroup (cgroup.go) the clone is clone3 with CLONE_INTO_CGROUP and
// the workload leaf's descriptor, so the child exists in the leaf from its
// first instruction, and the child's first step is unshare(CLONE_NEWCGROUP),
// rooting a cgroup namespace of its own there while it still holds the
// init's capabilities (CAP_SYS_ADMIN among them).
//
// The child's steps, in order: the signal handlers back to SIG_DFL and the
// mask restored; [cgroup: unshare the cgroup namespace]; setsid; stdio;
// [-t: TIOCSCTTY]; close_range; the hardening of harden.go (bounding set,
// ambient set, [keep-caps], [setgroups], setgid, setuid, capset, chdir,
// [no_new_privs], [seccomp]); execve.

// Steps of the child, reported when one fails.
const (
	stepNone uint32 = iota
	stepCgroupNS
	stepSetsid
	stepStdio
	stepCtty
	stepCloseRange
	stepBounding
	stepAmbient
	stepKeepCaps
	stepSetgroups
	stepSetgid
	stepSetuid
	stepCapset
	stepChdir
	stepNoNewPrivs
	stepSeccomp
	stepExec
)

var stepNames = [...]string{
	stepCgroupNS: "unshare the cgroup namespace", stepSetsid: "setsid", stepStdio: "set up stdin, stdout and stderr", stepCtty: "take the terminal (TIOCSCTTY)",
	stepCloseRange: "close_range", stepBounding: "drop from the capability bounding set",
	stepAmbient: "clear the ambient capabilities", stepKeepCaps: "keep capabilities across setuid",
	stepSetgroups: "setgroups", stepSetgid: "setgid", stepSetuid: "setuid", stepCapset: "set capabilities",
	stepChdir: "chdir", stepNoNewPrivs: "set no_new_privs", stepSeccomp: "install the seccomp filter", stepExec: "execve",
}

// cloneArgs is the kernel's struct clone_args (version 2, with cgroup).
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64
	setTID, setTIDSize, cgroup                                           uint64
}

// execAttr is everything the child reads, prepared by the parent.
type execAttr struct {
	// into, when set, makes the clone a clone3 into the cgroup it names
	// (CLONE_INTO_CGROUP), and the child's first step an unshare of its
	// cgroup namespace, rooted there.
	into *cloneArgs

	path, dir  *byte
	argv, envv **byte // NULL-terminated arrays
	stdio      [3]int // descriptors that become 0, 1, 2: each is i or >= 3
	ctty       bool   // make stdin the controlling terminal

	// Hardening, in the order the child applies it (see harden.go).
	drop       uint64 // capabilities to drop from the bounding set
	keepCaps   bool
	setGroups  bool
	groups     *uint32
	ngroups    uintptr
	uid, gid   uintptr
	caps       rawproc.Caps
	noNewPrivs bool
	filter     *unix.SockFprog // nil: unconfined
	flags      uintptr         // SECCOMP_FILTER_FLAG_*

	sigs   rawproc.Signals
	result *rawproc.Result // in a shared page: the child has a copy of the rest
}

// childError is the failure of one step of the child.
type childError struct {
	step  uint32
	errno syscall.Errno
}

func (e *childError) Error() string {
	return fmt.Sprintf("%s: %v", stepName(e.step), e.errno)
}

func (e *childError) Unwrap() error { return e.errno }

// spawn forks and executes a as described above and returns the child's
// pid. A failure of the child's is a *childError.
func spawn(a *execAttr) (int, error) {
	var unmap func()
	var err error
	if a.result, unmap, err = rawproc.MapResult(); err != nil {
		return 0, err
	}
	defer unmap()
	pid, errno := a.sigs.Clone(func() (uintptr, syscall.Errno) { return forkExec(a) })
	runtime.KeepAlive(a)
	if errno != 0 && a.into != nil {
		// EAGAIN here is the leaf's pids.max (--pids-limit).
		return 0, fmt.Errorf("fork into the workload's cgroup: %w", errno)
	}
	if errno != 0 {
		return 0, fmt.Errorf("fork: %w", errno)
	}
	// The child has called execve or exited: CLONE_VFORK waited for it.
	if r := *a.result; r.Step != stepNone {
		return 0, &childError{step: r.Step, errno: syscall.Errno(r.Errno)}
	}
	return int(pid), nil
}

// forkExec clones the child; in the parent it returns the pid once the
// child has called execve or exited. In the child it never returns, and
// may do nothing but raw syscalls over a: it runs on a copy of the
// parent's goroutine stack with the runtime's state frozen mid-flight.
//
//go:nosplit
//go:norace
func forkExec(a *execAttr) (uintptr, syscall.Errno) {
	var (
		pid  uintptr
		err  syscall.Errno
		step uint32
		i    uintptr
	)
	if a.into != nil {
		// Flags, exit signal and descriptor were set by intoCgroup.
		pid, _, err = syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(a.into)), unsafe.Sizeof(*a.into), 0)
	} else {
		pid, _, err = syscall.RawSyscall6(unix.SYS_CLONE, unix.CLONE_VFORK|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	}
	if err != 0 || pid != 0 {
		return pid, err
	}

	a.sigs.Reset()

	if a.into != nil {
		// While the child still holds CAP_SYS_ADMIN: capset and the
		// setuid below drop it, execve unless --cap-add gave it.
		step = stepCgroupNS
		if _, _, err = syscall.RawSyscall(unix.SYS_UNSHARE, unix.CLONE_NEWCGROUP, 0, 0); err != 0 {
			goto fail
		}
	}
	step = stepSetsid
	if _, _, err = syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0); err != 0 {
		goto fail
	}
	step = stepStdio
	for i = 0; i < 3; i++ {
		if uintptr(a.stdio[i]) == i {
			_, _, err = syscall.RawSyscall(unix.SYS_FCNTL, i, unix.F_SETFD, 0)
		} else {
			_, _, err = syscall.RawSyscall(unix.SYS_DUP3, uintptr(a.stdio[i]), i, 0)
		}
		if err != 0 {
			goto fail
		}
	}
	if a.ctty {
		step = stepCtty
		if _, _, err = syscall.RawSyscall(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0); err != 0 {
			goto fail
		}
	}
	// Everything else the init has open stays behind at execve.
	step = stepCloseRange
	if _, _, err = syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 3, ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC); err != 0 {
		goto fail
	}

	step = stepBounding
	for i = 0; i < 64; i++ {
		if a.drop&(1<<i) == 0 {
			continue
		}
		// EINVAL: a capability the running kernel does not know.
		if _, _, err = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, i, 0, 0, 0, 0); err != 0 && err != unix.EINVAL {
			goto fail
		}
	}
	step = stepAmbient
	if _, _, err = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); err != 0 && err != unix.EINVAL {
		goto fail
	}
	if a.keepCaps {
		step = stepKeepCaps
		if _, _, err = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0, 0, 0, 0); err != 0 {
			goto fail
		}
	}
	if a.setGroups {
		step = stepSetgroups
		if _, _, err = syscall.RawSyscall(unix.SYS_SETGROUPS, a.ngroups, uintptr(unsafe.Pointer(a.groups)), 0); err != 0 {
			goto fail
		}
	}
	step = stepSetgid
	if _, _, err = syscall.RawSyscall(unix.SYS_SETGID, a.gid, 0, 0); err != 0 {
		goto fail
	}
	step = stepSetuid
	if _, _, err = syscall.RawSyscall(unix.SYS_SETUID, a.uid, 0, 0); err != 0 {
		goto fail
	}
	step = stepCapset
	if err = a.caps.Set(); err != 0 {
		goto fail
	}
	step = stepChdir
	if _, _, err = syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(a.dir)), 0, 0); err != 0 {
		goto fail
	}
	if a.noNewPrivs {
		step = stepNoNewPrivs
		if _, _, err = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); err != 0 {
			goto fail
		}
	}
	if a.filter != nil {
		step = stepSeccomp
		if _, _, err = syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, a.flags, uintptr(unsafe.Pointer(a.filter))); err != 0 {
			goto fail
		}
	}
	// The one call made under the filter.
	step = stepExec
	err = rawproc.Execve(a.path, a.argv, a.envv)

fail:
	for {
		rawproc.Fail(a.result, step, err)
	}
}
