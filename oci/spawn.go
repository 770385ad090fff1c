package oci

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/rawproc"
)

// A process that joins namespaces starts through a step of raw
// syscalls, as runc's nsexec does in C before its Go runtime starts:
// setns of a user, mount or time namespace refuses a multithreaded
// caller, and a joined pid namespace is one for the caller's children
// only. spawn clones the step S (CLONE_VFORK, no CLONE_VM, so it writes
// its own copy of the memory); S is single threaded and joins the
// namespaces, user first, then clones the process I with the new
// namespaces asked for (owned by the joined user namespace, if any) and
// CLONE_PARENT, so that I is the caller's child; S exits once I has
// executed the runtime (CLONE_VFORK again). S and I run spawnStep's
// nosplit code alone, as userns/forkexec.go's child does, with the parts
// the three children share from rawproc. Create starts the init of a
// config that joins a namespace by path this way, exec every process (in
// the namespaces of the container's that differ from the runtime's).
//
// S's steps: setns each namespace in order. I's steps: the signal
// handlers back to SIG_DFL and the mask restored; [a user namespace, new
// or joined: every capability raised as an ambient one, which the execve
// of an unmapped or non-root uid keeps]; [/dev/null as stdio]; the
// passed descriptors in place; execveat of the runtime by a descriptor
// opened before any join (a joined mount namespace may have no
// /proc/self).

// Steps of S and I, reported when one fails; a join is spawnJoin+i.
const (
	spawnNone uint32 = iota
	spawnClone
	spawnCaps
	spawnAmbient
	spawnFDs
	spawnExec
	spawnJoin // + the index into spawnAttr.joins
)

var spawnStepNames = [...]string{
	spawnClone: "clone the process", spawnCaps: "capset", spawnAmbient: "raise the ambient capabilities",
	spawnFDs: "pass the descriptors", spawnExec: "execute the runtime",
}

// nsOrder is the order of the joins: the user namespace first, so that
// the others (owned by it) can be joined with its capabilities; the
// mount namespace late, as runc does.
var nsOrder = []specs.LinuxNamespaceType{
	specs.UserNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.NetworkNamespace,
	specs.PIDNamespace, specs.MountNamespace, specs.CgroupNamespace, specs.TimeNamespace,
}

var cloneFlag = map[specs.LinuxNamespaceType]uintptr{
	specs.UserNamespace: unix.CLONE_NEWUSER, specs.MountNamespace: unix.CLONE_NEWNS,
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.IPCNamespace: unix.CLONE_NEWIPC, specs.UTSNamespace: unix.CLONE_NEWUTS,
	specs.CgroupNamespace: unix.CLONE_NEWCGROUP, specs.TimeNamespace: unix.CLONE_NEWTIME,
}

// nsJoin is one namespace joined by path, and its index in
// linux.namespaces (-1: one of the container's, which exec joins).
type nsJoin struct {
	index int
	ns    Namespace
}

// joinsAny: the config joins at least one namespace by path.
func joinsAny(b *Bundle) bool {
	for _, ns := range b.Namespaces {
		if ns.Path != "" {
			return true
		}
	}
	return false
}

// joinPlan is the joins in nsOrder and the clone flags of the init's new
// namespaces (a new time namespace the init unshares itself).
func joinPlan(b *Bundle) ([]nsJoin, uintptr) {
	var joins []nsJoin
	var flags uintptr
	for _, t := range nsOrder {
		for i, ns := range b.Namespaces {
			if ns.Type != t {
				continue
			}
			switch {
			case ns.Path != "":
				joins = append(joins, nsJoin{i, ns})
			case t != specs.TimeNamespace:
				flags |= cloneFlag[t]
			}
		}
	}
	return joins, flags
}

// spawnSpec is a process to start through S: create's init, or exec's
// process.
type spawnSpec struct {
	joins   []nsJoin // in order; an index < 0 is the container's own
	flags   uintptr  // the new namespaces of the child
	ambient bool     // every capability raised as an ambient one
	exe     int      // executed by descriptor
	argv    []string
	env     []string
	keep    int        // descriptors 3 .. 3+keep-1 stay as they are
	files   []*os.File // become 3+keep, 3+keep+1, ...
	null    bool       // /dev/null as stdio
}

// spawnAttr is everything S and I read, prepared by spawn.
type spawnAttr struct {
	fds   [8]uintptr
	types [8]uintptr
	n     uintptr

	clone   uintptr // CLONE_PARENT|CLONE_VFORK|new namespaces
	ambient bool
	raise   rawproc.Ambient

	exe        uintptr
	empty      *byte
	argv, envv **byte
	src, dst   [8]uintptr // descriptors moved into place
	moves      uintptr
	keep       uintptr // preserved descriptors 3 .. 3+keep-1
	null       int     // >= 0: /dev/null, to become 0, 1 and 2

	sigs   rawproc.Signals
	result *rawproc.Result // in a shared page: S and I have copies of the rest
}

// joinError is a namespace that could not be opened or joined.
type joinError struct {
	j    nsJoin
	verb string // "" for the open, "join it" for the setns
	err  error
}

func (e *joinError) Error() string {
	what := fmt.Sprintf("linux.namespaces[%d]: %s namespace %q", e.j.index, e.j.ns.Type, e.j.ns.Path)
	if e.j.index < 0 {
		what = fmt.Sprintf("the container's %s namespace %q", e.j.ns.Type, e.j.ns.Path)
	}
	if e.verb != "" {
		what += ": " + e.verb
	}
	return what + ": " + e.err.Error()
}

func (e *joinError) Unwrap() error { return e.err }

// spawn starts sp through S and returns the pid of its process, a child
// of this process.
func spawn(sp spawnSpec) (int, error) {
	if len(sp.joins) > 8 || len(sp.files) > 8 {
		return 0, fmt.Errorf("spawn: %d namespaces and %d descriptors, at most 8 each", len(sp.joins), len(sp.files))
	}
	a := &spawnAttr{clone: unix.CLONE_PARENT | unix.CLONE_VFORK | sp.flags, keep: uintptr(sp.keep), null: -1, ambient: sp.ambient}
	// Every descriptor S and I use lies above the ones I ends up with.
	above := 3 + sp.keep + len(sp.files)
	var closeFDs []int
	defer func() {
		for _, fd := range closeFDs {
			unix.Close(fd)
		}
	}()
	high := func(fd int) (int, error) {
		hi, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, above)
		if err == nil {
			closeFDs = append(closeFDs, hi)
		}
		return hi, err
	}
	open := func(p string) (int, error) {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		defer unix.Close(fd)
		return high(fd)
	}
	for i, j := range sp.joins {
		fd, err := open(j.ns.Path)
		if err != nil {
			return 0, &joinError{j, "", err}
		}
		a.fds[i], a.types[i] = uintptr(fd), cloneFlag[j.ns.Type]
	}
	a.n = uintptr(len(sp.joins))
	exe, err := high(sp.exe)
	if err != nil {
		return 0, fmt.Errorf("the runtime's descriptor: %w", err)
	}
	a.exe = uintptr(exe)
	for i, f := range sp.files {
		fd, err := high(int(f.Fd()))
		if err != nil {
			return 0, fmt.Errorf("pass descriptor %d: %w", 3+sp.keep+i, err)
		}
		a.src[i], a.dst[i] = uintptr(fd), uintptr(3+sp.keep+i)
	}
	a.moves = uintptr(len(sp.files))
	if sp.null {
		if a.null, err = open("/dev/null"); err != nil {
			return 0, fmt.Errorf("open /dev/null: %w", err)
		}
	}
	if sp.ambient {
		a.raise = rawproc.AllCaps(lastCap())
	}
	if a.empty, err = syscall.BytePtrFromString(""); err != nil {
		return 0, err
	}
	av, err := syscall.SlicePtrFromStrings(sp.argv)
	if err != nil {
		return 0, err
	}
	ev, err := syscall.SlicePtrFromStrings(sp.env)
	if err != nil {
		return 0, err
	}
	a.argv, a.envv = &av[0], &ev[0]

	var unmap func()
	a.result, unmap, err = rawproc.MapResult()
	if err != nil {
		return 0, err
	}
	defer unmap()
	// Signals stay blocked in S, and in I until it has put the handlers
	// back.
	spid, errno := a.sigs.Clone(func() (uintptr, syscall.Errno) { return spawnStep(a) })
	runtime.KeepAlive(a)
	runtime.KeepAlive(av)
	runtime.KeepAlive(ev)
	if errno != 0 {
		return 0, fmt.Errorf("fork: %w", errno)
	}
	// S has exited (CLONE_VFORK waited for it): reap it.
	ws := rawproc.Wait(int(spid))
	r := *a.result
	switch {
	case r.Step >= spawnJoin && int(r.Step-spawnJoin) < len(sp.joins):
		j := sp.joins[r.Step-spawnJoin]
		return 0, &joinError{j, "join it", syscall.Errno(r.Errno)}
	case r.Step != spawnNone:
		if r.Pid > 0 {
			// I failed before its execve and exited: reap it.
			rawproc.Wait(int(r.Pid))
		}
		name := "step"
		if int(r.Step) < len(spawnStepNames) {
			name = spawnStepNames[r.Step]
		}
		return 0, fmt.Errorf("%s: %w", name, syscall.Errno(r.Errno))
	case r.Pid <= 0:
		return 0, fmt.Errorf("the step before the process ended (%v) without it", ws)
	}
	return int(r.Pid), nil
}

// spawnJoined starts create's init (argv, env) through S: preserve
// descriptors 3.. stay as they are, sync becomes 3+preserve.
func spawnJoined(b *Bundle, preserve int, sync *os.File, argv, env []string) (int, error) {
	joins, flags := joinPlan(b)
	exe, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open the runtime (/proc/self/exe): %w", err)
	}
	defer unix.Close(exe)
	user := false
	for _, ns := range b.Namespaces {
		user = user || ns.Type == specs.UserNamespace
	}
	pid, err := spawn(spawnSpec{joins: joins, flags: flags, ambient: user, exe: exe, argv: argv, env: env,
		keep: preserve, files: []*os.File{sync}, null: b.Process.Terminal})
	var je *joinError
	if err != nil && !errors.As(err, &je) {
		err = fmt.Errorf("start the container's init: %w", err)
	}
	return pid, err
}

// spawnStep clones S; in create it returns S's pid once S has exited. S
// and I never return and may do nothing but raw syscalls over a: they run
// on a copy of create's goroutine stack with the Go runtime frozen
// mid-flight.
//
//go:nosplit
//go:norace
func spawnStep(a *spawnAttr) (uintptr, syscall.Errno) {
	var (
		pid  uintptr
		err  syscall.Errno
		step uint32
		i    uintptr
	)
	pid, _, err = syscall.RawSyscall6(unix.SYS_CLONE, unix.CLONE_VFORK|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if err != 0 || pid != 0 {
		return pid, err
	}
	// S: single threaded, all signals blocked.
	for i = 0; i < a.n; i++ {
		step = spawnJoin + uint32(i)
		if _, _, err = syscall.RawSyscall(unix.SYS_SETNS, a.fds[i], a.types[i], 0); err != 0 {
			goto fail
		}
	}
	step = spawnClone
	pid, _, err = syscall.RawSyscall6(unix.SYS_CLONE, a.clone, 0, 0, 0, 0, 0)
	if err != 0 {
		goto fail
	}
	if pid != 0 {
		// I has executed the runtime, or failed and said why.
		a.result.Pid = int32(pid)
		rawproc.Exit(0)
	}

	// I: create's child (CLONE_PARENT), in the namespaces.
	a.sigs.Reset()
	if a.ambient {
		if step, err = a.raise.Raise(spawnCaps, spawnAmbient); err != 0 {
			goto fail
		}
	}
	step = spawnFDs
	for i = 0; a.null >= 0 && i < 3; i++ {
		if _, _, err = syscall.RawSyscall(unix.SYS_DUP3, uintptr(a.null), i, 0); err != 0 {
			goto fail
		}
	}
	for i = 0; i < a.moves; i++ {
		if _, _, err = syscall.RawSyscall(unix.SYS_DUP3, a.src[i], a.dst[i], 0); err != 0 {
			goto fail
		}
	}
	for i = 3; i < 3+a.keep; i++ {
		if _, _, err = syscall.RawSyscall(unix.SYS_FCNTL, i, unix.F_SETFD, 0); err != 0 {
			goto fail
		}
	}
	step = spawnExec
	_, _, err = syscall.RawSyscall6(unix.SYS_EXECVEAT, a.exe, uintptr(unsafe.Pointer(a.empty)), uintptr(unsafe.Pointer(a.argv)), uintptr(unsafe.Pointer(a.envv)), unix.AT_EMPTY_PATH, 0)

fail:
	// S or I: each has a copy of the memory but the result's page.
	for {
		rawproc.Fail(a.result, step, err)
	}
}
