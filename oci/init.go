package oci

import (
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// initError is a failure of the init's own; execError one of the
// process's program, sent with its errno for ExecError's wording.
type execErr struct {
	prog  string
	errno unix.Errno
}

func (e *execErr) Error() string { return fmt.Sprintf("exec %q: %v", e.prog, e.errno) }

// InitMain is the container's init: the re-executed runtime, already in
// the namespaces create cloned. It sets the container up as config.json
// says, blocks on exec.fifo until start, and executes the process. It
// never returns.
func InitMain() {
	// Namespaces joined by setns, capabilities, no_new_privs and the
	// seccomp filter are the calling thread's: everything happens on this
	// one, and its execve ends all the others.
	runtime.LockOSThread()
	n, err := strconv.Atoi(os.Getenv(syncEnv))
	if err != nil || n < 3 {
		fmt.Fprintln(os.Stderr, "rbox-runtime: this is a container's init; run rbox-runtime create instead")
		os.Exit(1)
	}
	unix.CloseOnExec(n)
	ch := channel{os.NewFile(uintptr(n), "sync")}
	m, files, err := ch.recv()
	closeFiles(files)
	if err != nil || m.Type != "config" || m.Bundle == nil {
		os.Exit(1)
	}
	in := &initState{b: m.Bundle, ch: ch, debug: m.Debug, hooks: m.Hooks, id: m.ID, hostPid: m.Pid}
	fifo, err := in.setup(m.Fifo)
	if err != nil {
		var ee *execErr
		if errors.As(err, &ee) {
			ch.send(initMessage{Type: "error", Errno: int(ee.errno), Prog: ee.prog})
		} else {
			ch.send(initMessage{Type: "error", Msg: err.Error()})
		}
		os.Exit(1)
	}
	ch.send(initMessage{Type: "ready"})
	ch.f.Close()
	// The barrier: this open returns once start opens the fifo to read.
	w, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fifo), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbox-runtime: wait for start: %v\n", err)
		os.Exit(1)
	}
	unix.Write(w, []byte{0})
	unix.Close(w)
	unix.Close(fifo)
	err = in.exec()
	fmt.Fprintf(os.Stderr, "rbox-runtime: %v\n", err)
	var ee *execErr
	if errors.As(err, &ee) && ee.errno == unix.ENOENT {
		os.Exit(127)
	}
	os.Exit(126)
}

type initState struct {
	b     *Bundle
	ch    channel
	debug bool
	hooks bool
	id    string
	// hostPid is this process's pid in the runtime's pid namespace,
	// for the hooks' state.
	hostPid int
	prog    string   // process.args[0] found in the container
	stdio   *os.File // the pty's slave, with process.terminal
	userNS  bool
	// sharedMount: no mount namespace of its own (the caller's).
	sharedMount bool
}

// setup does everything up to the barrier; it returns the fifo, opened
// O_PATH before the pivot (its host path is out of reach afterwards).
func (in *initState) setup(fifoPath string) (int, error) {
	b := in.b
	fifo, err := unix.Open(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %q: %w", fifoPath, err)
	}
	// The namespaces given by path are joined already (spawn.go).
	mountNS := false
	for _, ns := range b.Namespaces {
		switch {
		case ns.Type == specs.UserNamespace && ns.Path == "":
			in.userNS = true
		case ns.Type == specs.MountNamespace:
			// A joined one is set up as a new one is, as runc does:
			// root.path must be reachable in it.
			mountNS = true
		case ns.Type == specs.TimeNamespace && ns.Path == "":
			if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
				return -1, fmt.Errorf("linux.namespaces: new time namespace: %w", err)
			}
			if err := writeTimeOffsets(b.TimeOffsets); err != nil {
				return -1, err
			}
		}
	}
	if in.userNS {
		if err := becomeNSRoot(b); err != nil {
			return -1, err
		}
	}
	if b.Hostname != "" {
		if err := unix.Sethostname([]byte(b.Hostname)); err != nil {
			return -1, fmt.Errorf("hostname %q: %w", b.Hostname, err)
		}
	}
	if b.Domainname != "" {
		if err := unix.Setdomainname([]byte(b.Domainname)); err != nil {
			return -1, fmt.Errorf("domainname %q: %w", b.Domainname, err)
		}
	}
	// No mount namespace in the config, new or joined: the container
	// inherits the runtime's (runtime-spec "namespaces"), its mounts are
	// made there and its root is a chroot; delete detaches what it
	// mounted.
	in.sharedMount = !mountNS
	if err := in.mountRoot(); err != nil {
		return -1, err
	}
	if in.hooks {
		if err := in.ch.send(initMessage{Type: "mounted"}); err != nil {
			return -1, err
		}
		m, files, err := in.ch.recv()
		closeFiles(files)
		if err != nil || m.Type != "continue" {
			return -1, fmt.Errorf("wait for the createRuntime hooks: %v", err)
		}
	}
	for _, h := range b.Hooks.CreateContainer {
		if err := runHookInside(h, b, in.id, in.hostPid); err != nil {
			return -1, fmt.Errorf("createContainer hook %q: %w", h.Path, err)
		}
	}
	if err := in.pivot(); err != nil {
		return -1, err
	}
	if b.Process.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*b.Process.OOMScoreAdj)), 0); err != nil {
			return -1, fmt.Errorf("process.oomScoreAdj: %w", err)
		}
	}
	if b.Process.Terminal {
		if err := in.openConsole(); err != nil {
			return -1, err
		}
	}
	cs, err := parseCaps(b.Process.Capabilities)
	if err != nil {
		return -1, err
	}
	if err := checkGrantable(cs, boundingSet()); err != nil {
		return -1, err
	}
	prog, err := findProgram(b.Process.Args[0], b.Process.Env, b.Process.Cwd)
	if err != nil {
		return -1, err
	}
	in.prog = prog
	return fifo, nil
}

// becomeNSRoot makes the init root of the user namespace it was cloned
// into. Cloned by a caller whose IDs the maps leave out (root of the
// host with a map from 1000, say), it would be the overflow ID there, and
// the file systems it mounts (the namespace's own tmpfs for /dev) refuse
// a mkdir by an unmapped owner with EOVERFLOW. A map without a
// container ID 0 leaves the IDs as they are.
func becomeNSRoot(b *Bundle) error {
	if !mapsZero(b.UIDMappings) || !mapsZero(b.GIDMappings) {
		return nil
	}
	if err := unix.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("linux.gidMappings: become gid 0 of the user namespace: %w", err)
	}
	if err := unix.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("linux.uidMappings: become uid 0 of the user namespace: %w", err)
	}
	return nil
}

func mapsZero(ms []IDMapping) bool {
	for _, m := range ms {
		if m.ContainerID == 0 && m.Size > 0 {
			return true
		}
	}
	return false
}

func writeTimeOffsets(offs map[string]specs.LinuxTimeOffset) error {
	var sb strings.Builder
	for clock, o := range offs {
		fmt.Fprintf(&sb, "%s %d %d\n", clock, o.Secs, o.Nanosecs)
	}
	if sb.Len() == 0 {
		return nil
	}
	if err := os.WriteFile("/proc/self/timens_offsets", []byte(sb.String()), 0); err != nil {
		return fmt.Errorf("linux.timeOffsets: %w", err)
	}
	return nil
}

// openConsole makes the container's terminal in its own devpts, sends
// the master to create (for --console-socket) and keeps the slave as
// the process's stdio.
func (in *initState) openConsole() error {
	return in.console(func(master int) error { return in.ch.send(initMessage{Type: "pty"}, master) })
}

// openConsoleTo is openConsole for exec: the master goes to the console
// socket itself.
func (in *initState) openConsoleTo(sock *os.File) error {
	defer sock.Close()
	return in.console(func(master int) error {
		return sendFD(sock, master)
	})
}

func (in *initState) console(send func(master int) error) error {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("process.terminal: open /dev/ptmx: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("process.terminal: unlock the pty: %w", err)
	}
	if cs := in.b.Process.ConsoleSize; cs != nil {
		unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)})
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY))
	if errno != 0 {
		return fmt.Errorf("process.terminal: open the pty's peer: %w", errno)
	}
	in.stdio = os.NewFile(sfd, "pty")
	if err := send(mfd); err != nil {
		return fmt.Errorf("process.terminal: send the pty master: %w", err)
	}
	return nil
}

// findProgram resolves process.args[0] as execve would, in the
// container's PATH, so that create reports what cannot run.
func findProgram(name string, env []string, cwd string) (string, error) {
	check := func(p string) error {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return unix.EACCES
		}
		return unix.Access(p, unix.X_OK)
	}
	errnoOf := func(err error) unix.Errno {
		var en syscall.Errno
		if errors.As(err, &en) {
			return unix.Errno(en)
		}
		return unix.ENOENT
	}
	if strings.Contains(name, "/") {
		p := name
		if !path.IsAbs(p) {
			p = path.Join(cwd, p)
		}
		if err := check(p); err != nil {
			return "", &execErr{name, errnoOf(err)}
		}
		return name, nil
	}
	dirs := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			dirs = v
		}
	}
	if dirs == "" {
		dirs = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	denied := false
	for _, d := range strings.Split(dirs, ":") {
		if d == "" {
			d = "."
		}
		p := path.Join(d, name)
		if !path.IsAbs(p) {
			p = path.Join(cwd, p)
		}
		err := check(p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, unix.EACCES) {
			denied = true
		}
	}
	if denied {
		return "", &execErr{name, unix.EACCES}
	}
	return "", &execErr{name, unix.ENOENT}
}

// exec becomes the process: its user, rlimits, capabilities,
// no_new_privs, seccomp filter and cwd, then execve. Errors are the
// process's: they end the container with 126 or 127.
func (in *initState) exec() error {
	p := in.b.Process
	for _, h := range in.b.Hooks.StartContainer {
		if err := runHookInside(h, in.b, in.id, in.hostPid); err != nil {
			return fmt.Errorf("startContainer hook %q: %w", h.Path, err)
		}
	}
	// A session and process group of its own, as runc's and crun's
	// processes have: conmon ends a container that outlives --timeout
	// with a SIGKILL to the process's group, and in conmon's group that
	// kills conmon and not the container.
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if in.stdio != nil {
		if err := unix.IoctlSetInt(int(in.stdio.Fd()), unix.TIOCSCTTY, 0); err != nil {
			return fmt.Errorf("make the pty the controlling terminal: %w", err)
		}
		for fd := 0; fd < 3; fd++ {
			if err := unix.Dup3(int(in.stdio.Fd()), fd, 0); err != nil {
				return fmt.Errorf("pty as stdio: %w", err)
			}
		}
		in.stdio.Close()
	}
	for _, r := range p.Rlimits {
		if err := unix.Setrlimit(r.Resource, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("process.rlimits %d: %w", r.Resource, err)
		}
	}
	cs, err := parseCaps(p.Capabilities)
	if err != nil {
		return err
	}
	// Without no_new_privs the kernel loads a filter only for a holder
	// of CAP_SYS_ADMIN: load it now, before the capabilities go (as runc
	// does); the filter then also sees the calls that follow.
	if in.b.Seccomp != nil && !p.NoNewPrivileges {
		if err := installSeccomp(in.b.Seccomp); err != nil {
			return err
		}
	}
	if err := setUser(p, in.userNS, cs); err != nil {
		return err
	}
	if err := applyCaps(cs); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	if p.Umask != nil {
		unix.Umask(int(*p.Umask))
	} else {
		unix.Umask(0o022)
	}
	if err := unix.Chdir(p.Cwd); err != nil {
		return fmt.Errorf("process.cwd %q: %w", p.Cwd, err)
	}
	if in.b.Seccomp != nil && p.NoNewPrivileges {
		if err := installSeccomp(in.b.Seccomp); err != nil {
			return err
		}
	}
	err = unix.Exec(in.prog, p.Args, p.Env)
	var en syscall.Errno
	if errors.As(err, &en) {
		return &execErr{p.Args[0], unix.Errno(en)}
	}
	return err
}
