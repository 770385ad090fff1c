package userns

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/childfd"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/probe"
)

// InitArg is argv[1] of the re-executed binary in init mode; cmd/rbox
// dispatches on it before the CLI parses anything.
const InitArg = "__init"

// StartOptions are the host-side settings of a clone.
type StartOptions struct {
	// Executable is the binary to re-execute, normally /proc/self/exe.
	Executable string
	// NewNetwork adds CLONE_NEWNET.
	NewNetwork bool
	// SealedCopy runs the init from a sealed memfd copy of Executable
	// (sealed.go), for a workload that could otherwise reach the binary.
	SealedCopy bool
	// Cgroup says the supervisor moves the init into a cgroup of its own
	// between Start and Go. The init then waits for "go" even with a single
	// ID map, so that nothing of the sandbox runs outside the cgroup.
	Cgroup bool
	// Reaper starts the reaper (ReapMain) instead of the init: it removes
	// Config.Reap and answers "config" with "exit".
	Reaper bool
	// Tap names a tap device the init makes in its new network namespace
	// as its first step, before it waits for anything (Externals.Tap,
	// slirp.MakeTap): the user-mode network's helper then finds it there.
	// "" for none.
	Tap                   string
	Stdin, Stdout, Stderr *os.File
}

// Sandbox is the supervisor's handle on a started init.
type Sandbox struct {
	pid int
	// mu orders signals against the reaping: none is sent once the pid
	// may name another process. done and status are the reaping's.
	mu     sync.RWMutex
	done   bool
	status unix.WaitStatus
	ch     channel
	cfg    *Config
	// reaper: this is a reaper, which answers "config" with "exit".
	reaper bool
	// waitGo: the init is in stage "map" and waits for "go".
	waitGo bool
}

// CloneFlags are the namespaces of a sandbox: its own network namespace
// unless it shares the host's. rbox check clones its try with the same.
func CloneFlags(newNetwork bool) uintptr {
	flags := unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
	if newNetwork {
		flags |= unix.CLONE_NEWNET
	}
	return uintptr(flags)
}

// Start clones the init into new namespaces (cloneinit.go). It waits for
// Go, which hands it cfg; until then it does nothing.
func Start(cfg *Config, o StartOptions) (*Sandbox, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create sync socket: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "sync-parent")
	child := os.NewFile(uintptr(fds[1]), "sync-child")
	defer child.Close()

	exe := o.Executable
	if exe == "" {
		exe = "/proc/self/exe"
	}
	arg := InitArg
	if o.Reaper {
		arg = ReaperArg
	}
	// GODEBUG: Go's container-aware GOMAXPROCS keeps the host's cgroup
	// files open for the life of the process; the init needs none of
	// that, and holds no host descriptor it does not have to.
	env := []string{"GODEBUG=containermaxprocs=0,updatemaxprocs=0"}
	// Capabilities are computed at execve: a process that execs before its
	// uid is mapped is not root of its namespace and would run without any.
	// The child holds every capability of its new namespace until its
	// execve, so it raises them all as ambient capabilities, which survive
	// the execve of an unmapped uid. The init then waits for "go" (stage
	// "map") with its capabilities while we write its map: ourselves for a
	// single map, newuidmap for a full one (the caller, before Go), and
	// with Cgroup the caller moves it into its cgroup as well. (Executing
	// itself again once mapped was a fifth of the start time; writing the
	// single map between clone and execve, as the Go runtime does, kept
	// the clone waiting for it.)
	stage := stageMap
	// With a foreign /proc (foreignproc.go) the init maps itself.
	cfg.SelfMap = !cfg.IDMap.Full && foreignProc()
	if cfg.SelfMap {
		env = append(env, selfMapVar(cfg.IDMap))
		if !o.Cgroup {
			stage = stageRun
		}
	}
	env = append(env, stageEnv+"="+stage)
	if o.Tap != "" {
		env = append(env, tapEnv+"="+o.Tap)
	}
	var inherit childfd.Table
	inherit.Add(fdSync, child)
	path := exe
	if o.SealedCopy {
		sealed, err := sealedCopy(exe)
		if err != nil {
			parent.Close()
			return nil, err
		}
		defer sealed.Close()
		// The child's own descriptor: execve opens the path before it
		// closes anything.
		path = fmt.Sprintf("/proc/self/fd/%d", inherit.Add(fdExe, sealed))
	}
	env = append(env, inherit.Var())
	stdio, closeStdio, err := stdioFiles(o.Stdin, o.Stdout, o.Stderr)
	if err != nil {
		parent.Close()
		return nil, err
	}
	pid, err := cloneInit(CloneFlags(o.NewNetwork), path, []string{"rbox", arg}, env, append(stdio, inherit.Files()...))
	closeStdio()
	if err != nil {
		parent.Close()
		return nil, probe.Wrap(fmt.Errorf("clone sandbox init (%s): %w%s", exe, err, OuterSeccomp(err, "clone with namespace flags")), outerProbes(err)...)
	}
	sb := &Sandbox{pid: pid, ch: channel{parent}, cfg: cfg, reaper: o.Reaper, waitGo: stage == stageMap}
	if !cfg.IDMap.Full && !cfg.SelfMap {
		if err := writeMap(pid, cfg.IDMap); err != nil {
			sb.Kill()
			return nil, err
		}
	}
	if cfg.SelfMap {
		if err := sb.awaitSelfMap(); err != nil {
			sb.Kill()
			return nil, err
		}
	}
	return sb, nil
}

// stdioFiles returns the init's descriptors 0, 1 and 2: /dev/null for a
// nil one, as os/exec gives. close closes what it opened.
func stdioFiles(in, out, errf *os.File) ([]*os.File, func(), error) {
	files := []*os.File{in, out, errf}
	var null *os.File
	for i, f := range files {
		if f != nil {
			continue
		}
		if null == nil {
			var err error
			if null, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
				return nil, nil, err
			}
		}
		files[i] = null
	}
	return files, func() {
		if null != nil {
			null.Close()
		}
	}, nil
}

// writeMap writes a single ID map for the init, from outside: the
// kernel lets the namespace's owner map itself alone, once setgroups is
// denied.
func writeMap(pid int, p idmap.Plan) error {
	files := [][2]string{
		{"setgroups", "deny"},
		{"uid_map", mapLines(p.UID)},
		{"gid_map", mapLines(p.GID)},
	}
	for _, f := range files {
		path := fmt.Sprintf("/proc/%d/%s", pid, f[0])
		if err := os.WriteFile(path, []byte(f[1]), 0); err != nil {
			return fmt.Errorf("write the sandbox's ID map: %w", err)
		}
	}
	return nil
}

func mapLines(ms []idmap.Mapping) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d %d %d\n", m.Inside, m.Outside, m.Count)
	}
	return b.String()
}

// allCaps lists every capability the running kernel knows.
func allCaps() ([]uintptr, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil, fmt.Errorf("read the kernel's last capability: %w", err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || last < 0 || last > 63 {
		return nil, fmt.Errorf("read the kernel's last capability: bad value %q", b)
	}
	caps := make([]uintptr, last+1)
	for i := range caps {
		caps[i] = uintptr(i)
	}
	return caps, nil
}

// Pid is the init's pid on the host.
func (s *Sandbox) Pid() int { return s.pid }

// Go lets the init build the sandbox and start the workload. Call it once
// the ID map (for a full map), the cgroup (with Cgroup) and anything else
// that needs the init's pid is in place.
func (s *Sandbox) Go() error {
	if s.waitGo {
		if err := s.ch.send(message{Type: msgGo}); err != nil {
			return err
		}
	}
	return s.ch.send(message{Type: msgConfig, Config: s.cfg})
}

// StartWorkload lets the init start the workload once its root is ready.
// It may come before the init reports "ready" (rbox exec sends it at once,
// and the init finds it waiting) or any time after, but after Go and
// PortsPublished. An init that has already ended is no error here: its
// report is in the socket, for Wait.
func (s *Sandbox) StartWorkload() error {
	err := s.ch.send(message{Type: msgStart})
	if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
		return nil
	}
	return err
}

// PortsPublished tells the init that the host listens on its published
// ports: it waits for this (an OpNetwork with Ports) before it goes on,
// so that a host port that cannot be bound ends the start before the
// workload runs.
func (s *Sandbox) PortsPublished() error { return s.ch.send(message{Type: msgPorts}) }

// Signal forwards sig to the init, which passes it on to the workload.
func (s *Sandbox) Signal(sig os.Signal) error {
	n, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("signal the sandbox init: unsupported signal %v", sig)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.done {
		return os.ErrProcessDone
	}
	return unix.Kill(s.pid, n)
}

// reap waits for the init to exit and reaps it, once: it blocks until the
// init is waitable without reaping it, then reaps it under mu, so that
// Signal never reaches a pid that was reused.
func (s *Sandbox) reap() unix.WaitStatus {
	s.mu.RLock()
	done := s.done
	s.mu.RUnlock()
	if done {
		return s.status
	}
	var info unix.Siginfo
	for {
		if err := unix.Waitid(unix.P_PID, s.pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.done {
		_, err := unix.Wait4(s.pid, &s.status, 0, nil)
		if err != unix.EINTR {
			s.done = true
		}
	}
	return s.status
}

// Kill ends the sandbox at once and reaps the init. Killing PID 1 of a pid
// namespace kills every process in it.
func (s *Sandbox) Kill() {
	s.Signal(unix.SIGKILL)
	s.reap()
	s.ch.f.Close()
}

// Result is how a sandbox ended.
type Result struct {
	// Code is the exit status to report: the workload's, 128+N for a
	// signal, 125-127 for failures before the workload ran.
	Code int
	// Err is the init's own error, reported by it once; nil when the
	// workload ran.
	Err error
	// WorkloadPid is the workload's pid inside, 0 if it never started.
	WorkloadPid int
}

// InitError is a failure the init reported over the sync channel.
type InitError struct {
	Msg  string
	Code int
}

func (e *InitError) Error() string { return e.Msg }

// Hooks are called as the init reports progress.
type Hooks struct {
	// Ready is called once the init's root is ready and it waits for
	// StartWorkload.
	Ready func()
	// Pty receives the terminal master when the workload has a pty; it
	// owns the file.
	Pty func(*os.File)
	// Started is called once the workload runs, with its pid inside.
	Started func(pid int)
	// Exited is called when the init reports the workload's status and
	// before the supervisor hangs up, while the init still lives.
	Exited func()
	// Reported is called once the init has reported how the sandbox ended
	// and the supervisor has hung up, before the init is reaped. Nothing
	// of the sandbox runs any more (the init killed and reaped it all
	// first); what is left is the init's own exit, in which the kernel
	// tears the namespaces down, about a millisecond. Cleanup that does
	// not need the init gone can run meanwhile.
	Reported func()
}

// Wait follows the init until it exits.
func (s *Sandbox) Wait(h Hooks) Result {
	first := msgReady
	if s.reaper {
		first = msgExit
	}
	res, err := s.ch.follow(h, first)
	var se *SyncError
	if errors.As(err, &se) {
		// The init does not follow the protocol: nothing it says later can
		// be trusted, and it must not run on.
		s.Signal(unix.SIGKILL)
		res.Code, res.Err = 125, err
	}
	s.ch.f.Close()
	if err == nil && h.Reported != nil {
		h.Reported()
	}
	ws := s.reap()
	if err == nil || res.Err != nil {
		return res
	}
	// The init died without a word: killed from outside, or crashed.
	if ws.Signaled() {
		res.Code = 128 + int(ws.Signal())
		res.Err = &InitError{Msg: fmt.Sprintf("sandbox init killed by signal %d (%s)", int(ws.Signal()), unix.SignalName(ws.Signal())), Code: res.Code}
		return res
	}
	res.Code = 125
	res.Err = &InitError{Msg: fmt.Sprintf("sandbox init ended without reporting a status (exit status %d)", ws.ExitStatus()), Code: 125}
	return res
}
