package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/seccomp"
	"github.com/rbox-sandbox/rbox/state"
)

// ExecArg is argv[1] of the runtime re-executed inside a container for
// exec; cmd/rbox-runtime dispatches on it.
const ExecArg = "__exec"

// execEnv names the descriptors of an exec: the request, the status
// pipe, the console socket (-1 without) and the binary's own copy.
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

// Exec starts o.Process in the container r: nsenter(1) joins the
// namespaces of the container's process that differ from this process's
// (setns of a mount or user namespace needs a single-threaded process,
// which a Go program is not), and executes a sealed copy of this binary
// there, which sets the process up as the init does and executes it.
// Exec returns once the process runs (or could not be started: then in
// ExecError's words), with the command whose pid the engine waits for;
// nsenter exits with the process's status.
func Exec(r *Record, o ExecOptions) (*exec.Cmd, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		for _, p := range []string{"/usr/bin/nsenter", "/bin/nsenter"} {
			if _, serr := os.Stat(p); serr == nil {
				nsenter, err = p, nil
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("exec needs nsenter (util-linux): %w", err)
		}
	}
	pfd, err := openRecorded(r)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	args := []string{"--target", strconv.Itoa(r.Pid)}
	for _, ns := range []struct{ name, flag string }{
		{"user", "--user"}, {"mnt", "--mount"}, {"uts", "--uts"}, {"ipc", "--ipc"},
		{"net", "--net"}, {"pid", "--pid"}, {"cgroup", "--cgroup"}, {"time", "--time"},
	} {
		theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", r.Pid, ns.name))
		if err != nil {
			continue // a kernel without it
		}
		if ours, _ := os.Readlink("/proc/self/ns/" + ns.name); ours != theirs {
			args = append(args, ns.flag)
			if ns.name == "user" {
				args = append(args, userNSCreds(r.Pid)...)
			}
		}
	}
	args = append(args, "--root", "--wd")
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
	// The status comes back on a pipe that only the exec'd process
	// holds, which it sends over this socket: nsenter forks to enter the
	// pid namespace and keeps every descriptor it was given until the
	// process ends, so a pipe given through nsenter would not close at
	// the process's execve, and exec --detach (podman's exec -i, whose
	// stdin conmon forwards once exec has returned) would wait forever.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		reqW.Close()
		return nil, fmt.Errorf("exec: status socket: %w", err)
	}
	sock := os.NewFile(uintptr(fds[0]), "status")
	defer sock.Close()
	sockChild := os.NewFile(uintptr(fds[1]), "status-exec")
	cmd := exec.Command(nsenter)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for i := 0; i < o.PreserveFDs; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved"))
	}
	n := 3 + o.PreserveFDs
	console := -1
	cmd.ExtraFiles = append(cmd.ExtraFiles, exe, reqR, sockChild)
	if o.Console != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, o.Console)
		console = n + 3
	}
	cmd.Args = append(append([]string{"nsenter"}, args...), "--", fmt.Sprintf("/proc/self/fd/%d", n), ExecArg)
	cmd.Env = []string{fmt.Sprintf("%s=%d,%d,%d,%d", execEnv, n+1, n+2, console, n), "GODEBUG=containermaxprocs=0,updatemaxprocs=0"}
	if err := cmd.Start(); err != nil {
		reqW.Close()
		sockChild.Close()
		return nil, fmt.Errorf("start nsenter: %w", err)
	}
	sockChild.Close()
	go func() {
		json.NewEncoder(reqW).Encode(execRequest{Process: o.Process, Seccomp: o.Seccomp})
		reqW.Close()
	}()
	_, files, err := channel{sock}.recv()
	if err != nil || len(files) != 1 {
		closeFiles(files)
		// nsenter, or the start of the runtime's copy, failed (nsenter
		// said why on stderr): no process runs.
		werr := cmd.Wait()
		return nil, fmt.Errorf("exec: join the container's namespaces: nsenter: %v", werr)
	}
	statR := files[0]
	defer statR.Close()
	b, _ := io.ReadAll(io.LimitReader(statR, 1<<16))
	if len(b) == 0 {
		// The pipe closed at the process's execve: it runs.
		return cmd, nil
	}
	cmd.Wait()
	var st execStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("exec: %s", strings.TrimSpace(string(b)))
	}
	if st.Errno != 0 {
		return nil, ExecError(st.Prog, unix.Errno(st.Errno))
	}
	return nil, errors.New(st.Msg)
}

// userNSCreds are nsenter's flags for the credentials it takes in the
// container's user namespace. setns gives all capabilities there, but
// nsenter's execve of the runtime's copy keeps them only for root of
// the namespace: under podman's keep-id the runtime's uid is the user's
// inside, and the copy would start with none, unable to drop the
// bounding set or load a filter without no_new_privs. So it becomes
// uid and gid 0 when the namespace maps them, and the process takes its
// own IDs after. --preserve-credentials keeps nsenter from setgroups,
// which fails where the namespace denies it.
func userNSCreds(pid int) []string {
	args := []string{"--preserve-credentials"}
	if mapsZero(fmt.Sprintf("/proc/%d/uid_map", pid)) && mapsZero(fmt.Sprintf("/proc/%d/gid_map", pid)) {
		args = append(args, "--setuid", "0", "--setgid", "0")
	}
	return args
}

// mapsZero reports whether the uid_map or gid_map at path maps ID 0 of
// the namespace.
func mapsZero(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		var inside, outside, size uint64
		if n, _ := fmt.Sscan(l, &inside, &outside, &size); n == 3 && inside == 0 && size > 0 {
			return true
		}
	}
	return false
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
	var req, stat, console, exe int
	if _, err := fmt.Sscanf(os.Getenv(execEnv), "%d,%d,%d,%d", &req, &stat, &console, &exe); err != nil {
		fmt.Fprintln(os.Stderr, "rbox-runtime: this runs a process in a container; use rbox-runtime exec")
		os.Exit(1)
	}
	unix.Close(exe)
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	for _, fd := range []int{req, console} {
		if fd >= 0 {
			unix.CloseOnExec(fd)
		}
	}
	status, err := statusPipe(stat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rbox-runtime: exec:", err)
		os.Exit(126)
	}
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
	// in.exec words a failed execve as an exec error itself; a failure
	// to set the process up keeps its own words.
	fail(in.exec())
}

// statusPipe makes the pipe exec's caller reads the outcome from and
// sends its read end over the socket sock (closed after): the write end
// is this process's alone and closes at its execve.
func statusPipe(sock int) (*os.File, error) {
	s := os.NewFile(uintptr(sock), "status-socket")
	defer s.Close()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("status pipe: %w", err)
	}
	err := channel{s}.send(initMessage{Type: "status"}, p[0])
	unix.Close(p[0])
	if err != nil {
		unix.Close(p[1])
		return nil, fmt.Errorf("send the status pipe: %w", err)
	}
	return os.NewFile(uintptr(p[1]), "status"), nil
}
