package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/seccomp"
	"github.com/rbox-sandbox/rbox/state"
)

// ExecArg is argv[1] of the runtime re-executed inside a container for
// exec; cmd/rbox-runtime dispatches on it.
const ExecArg = "__exec"

// execEnv names the descriptors of an exec: the request, the status
// pipe and the console socket (-1 without).
const execEnv = "_RBOX_OCI_EXEC"

// ExecOptions are an exec's process and settings.
type ExecOptions struct {
	Process Process
	// Seccomp is the container's filter (linux.seccomp), which an
	// exec'd process gets as the container's process did.
	Seccomp     *seccomp.Filter
	PreserveFDs int
	Console     *os.File // with Process.Terminal
}

type execRequest struct {
	Process Process         `json:"process"`
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
}

type execStatus struct {
	Msg   string `json:"msg,omitempty"`
	Errno int    `json:"errno,omitempty"`
	Prog  string `json:"prog,omitempty"`
}

// Exec starts o.Process in the container r: spawn.go's step joins the
// namespaces of the container's process that differ from this process's,
// user first, and executes a sealed copy of this binary there, which
// sets the process up as the init does and executes it. Exec returns
// once the process runs (or could not be started: then in ExecError's
// words), with the process, this process's child: its pid is the one
// the engine waits for and signals.
func Exec(r *Record, o ExecOptions) (*os.Process, error) {
	pfd, err := openRecorded(r)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	var joins []nsJoin
	user := false
	for _, t := range nsOrder {
		name := procNSName[t]
		p := fmt.Sprintf("/proc/%d/ns/%s", r.Pid, name)
		theirs, err := os.Readlink(p)
		if err != nil {
			continue // a kernel without it
		}
		if ours, _ := os.Readlink("/proc/self/ns/" + name); ours != theirs {
			joins = append(joins, nsJoin{-1, Namespace{Type: t, Path: p}})
			user = user || t == specs.UserNamespace
		}
	}
	exe, err := sealedSelf()
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer reqR.Close()
	statR, statW, err := os.Pipe()
	if err != nil {
		reqW.Close()
		return nil, err
	}
	defer statR.Close()
	n := 3 + o.PreserveFDs
	console := -1
	files := []*os.File{reqR, statW}
	if o.Console != nil {
		files = append(files, o.Console)
		console = n + 2
	}
	env := []string{fmt.Sprintf("%s=%d,%d,%d", execEnv, n, n+1, console), "GODEBUG=containermaxprocs=0,updatemaxprocs=0"}
	pid, err := spawn(spawnSpec{joins: joins, ambient: user, exe: int(exe.Fd()), argv: []string{"rbox-runtime", ExecArg}, env: env,
		keep: o.PreserveFDs, files: files})
	statW.Close()
	if err != nil {
		reqW.Close()
		var je *joinError
		if !errors.As(err, &je) {
			err = fmt.Errorf("start the process: %w", err)
		}
		return nil, err
	}
	// The container's process must still be the one whose namespaces
	// were opened: a pid reused meanwhile would be another's.
	if err := unix.PidfdSendSignal(pfd, 0, nil, 0); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		reqW.Close()
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		return nil, fmt.Errorf("container %q: %w", r.ID, ErrNotRunning)
	}
	// The process joins the container's cgroup before it hears its
	// request, so neither it nor anything it forks runs outside.
	cg, err := r.OpenCgroup()
	if err == nil && cg != nil {
		err = cg.add(pid)
	}
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		reqW.Close()
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		return nil, err
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		reqW.Close()
		return nil, err
	}
	go func() {
		json.NewEncoder(reqW).Encode(execRequest{Process: o.Process, Seccomp: o.Seccomp})
		reqW.Close()
	}()
	b, _ := io.ReadAll(io.LimitReader(statR, 1<<16))
	if len(b) == 0 {
		// The pipe closed at the process's execve: it runs.
		return proc, nil
	}
	proc.Wait()
	var st execStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("exec: %s", strings.TrimSpace(string(b)))
	}
	if st.Errno != 0 {
		return nil, ExecError(st.Prog, unix.Errno(st.Errno))
	}
	return nil, errors.New(st.Msg)
}

// procNSName is a namespace type's name under /proc/PID/ns.
var procNSName = map[specs.LinuxNamespaceType]string{
	specs.UserNamespace: "user", specs.MountNamespace: "mnt", specs.PIDNamespace: "pid",
	specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// openRecorded pins the container's process, checking it is the one
// recorded.
func openRecorded(r *Record) (int, error) {
	if r.status() == specs.StateStopped {
		return -1, fmt.Errorf("container %q: %w", r.ID, ErrNotRunning)
	}
	fd, err := state.OpenProcess(r.Pid, r.PidStart, "container process")
	if err != nil {
		return -1, fmt.Errorf("container %q: %w", r.ID, ErrNotRunning)
	}
	return fd, nil
}

// sealedSelf is a sealed in-memory copy of this binary, for the process
// that runs inside the container: a process of the container that
// reaches it through /proc can neither write it nor the host's file
// (runc's CVE-2019-5736).
func sealedSelf() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("rbox-runtime", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "rbox-runtime")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy the runtime: %w", err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal the runtime's copy: %w", err)
	}
	return f, nil
}

// ExecMain is the exec'd process inside the container, before it
// becomes the requested program. It never returns.
func ExecMain() {
	runtime.LockOSThread()
	var req, stat, console int
	if _, err := fmt.Sscanf(os.Getenv(execEnv), "%d,%d,%d", &req, &stat, &console); err != nil {
		fmt.Fprintln(os.Stderr, "rbox-runtime: this runs a process in a container; use rbox-runtime exec")
		os.Exit(1)
	}
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	for _, fd := range []int{req, stat, console} {
		if fd >= 0 {
			unix.CloseOnExec(fd)
		}
	}
	status := os.NewFile(uintptr(stat), "status")
	fail := func(err error) {
		var st execStatus
		var ee *execErr
		if errors.As(err, &ee) {
			st.Errno, st.Prog = int(ee.errno), ee.prog
		} else {
			st.Msg = err.Error()
		}
		json.NewEncoder(status).Encode(st)
		if st.Errno == int(unix.ENOENT) {
			os.Exit(127)
		}
		os.Exit(126)
	}
	var r execRequest
	if err := json.NewDecoder(os.NewFile(uintptr(req), "request")).Decode(&r); err != nil {
		fail(fmt.Errorf("exec: read the request: %w", err))
	}
	unix.Close(req)
	in := &initState{b: &Bundle{Process: r.Process, Seccomp: r.Seccomp}}
	if r.Process.Terminal {
		if console < 0 {
			fail(errors.New("exec: process.terminal without a console socket"))
		}
		if err := in.openConsoleTo(os.NewFile(uintptr(console), "console")); err != nil {
			fail(err)
		}
	}
	prog, err := findProgram(r.Process.Args[0], r.Process.Env, r.Process.Cwd)
	if err != nil {
		fail(err)
	}
	in.prog = prog
	// The status pipe closes at the execve: exec's caller reads that as
	// started.
	err = in.exec()
	var en syscall.Errno
	if errors.As(err, &en) {
		err = &execErr{r.Process.Args[0], unix.Errno(en)}
	}
	fail(err)
}
