package userns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
	cmd *exec.Cmd
	ch  channel
	cfg *Config
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

// Start clones the init into new namespaces. It waits for Go, which hands
// it cfg; until then it does nothing.
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
	cmd := &exec.Cmd{
		Path: exe,
		Args: []string{"rbox", arg},
		// GODEBUG: Go's container-aware GOMAXPROCS keeps the host's cgroup
		// files open for the life of the process; the init needs none of
		// that, and holds no host descriptor it does not have to.
		Env:    []string{"GODEBUG=containermaxprocs=0,updatemaxprocs=0"},
		Stdin:  o.Stdin,
		Stdout: o.Stdout,
		Stderr: o.Stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: CloneFlags(o.NewNetwork),
			// The sandbox must not outlive a SIGKILLed supervisor. Go
			// threads are not torn down while the process lives, so the
			// thread-scoped parent-death signal holds for the whole run.
			Pdeathsig: syscall.SIGKILL,
			// Terminal-generated signals reach the supervisor alone; it
			// forwards them once. Otherwise the workload would get each
			// Ctrl-C twice.
			Setpgid: true,
		},
	}
	// Capabilities are computed at execve: a process that execs before its
	// uid is mapped is not root of its namespace and would run without any.
	// A single map the Go runtime writes for us between clone and exec. A
	// full map needs newuidmap, which can only run once the child exists;
	// the child holds every capability of its new namespace until its
	// execve, so it raises them all as ambient capabilities, which survive
	// the execve of an unmapped uid. The init then waits for "go" (stage
	// "map") with its capabilities, instead of executing itself again once
	// mapped: that second execve was a fifth of the start time.
	stage := stageRun
	if cfg.IDMap.Full || o.Cgroup {
		// The supervisor puts the init in its cgroup after the clone, so
		// the init waits for that as well.
		stage = stageMap
	}
	// With a foreign /proc (foreignproc.go) the init maps itself.
	cfg.SelfMap = !cfg.IDMap.Full && foreignProc()
	if cfg.IDMap.Full || cfg.SelfMap {
		caps, err := allCaps()
		if err != nil {
			parent.Close()
			return nil, err
		}
		cmd.SysProcAttr.AmbientCaps = caps
		if cfg.SelfMap {
			cmd.Env = append(cmd.Env, selfMapVar(cfg.IDMap))
		}
	} else {
		cmd.SysProcAttr.UidMappings = procMappings(cfg.IDMap.UID)
		cmd.SysProcAttr.GidMappings = procMappings(cfg.IDMap.GID)
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	cmd.Env = append(cmd.Env, stageEnv+"="+stage)
	if o.Tap != "" {
		cmd.Env = append(cmd.Env, tapEnv+"="+o.Tap)
	}
	var inherit childfd.Table
	inherit.Add(fdSync, child)
	if o.SealedCopy {
		sealed, err := sealedCopy(exe)
		if err != nil {
			parent.Close()
			return nil, err
		}
		defer sealed.Close()
		// The child's own descriptor: execve opens the path before it
		// closes anything.
		cmd.Path = fmt.Sprintf("/proc/self/fd/%d", inherit.Add(fdExe, sealed))
	}
	inherit.Attach(cmd)
	if err := cmd.Start(); err != nil {
		parent.Close()
		return nil, probe.Wrap(fmt.Errorf("clone sandbox init (%s): %w%s", exe, err, OuterSeccomp(err, "clone with namespace flags")), outerProbes(err)...)
	}
	sb := &Sandbox{cmd: cmd, ch: channel{parent}, cfg: cfg, reaper: o.Reaper, waitGo: stage == stageMap}
	if cfg.SelfMap {
		if err := sb.awaitSelfMap(); err != nil {
			sb.Kill()
			return nil, err
		}
	}
	return sb, nil
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

func procMappings(ms []idmap.Mapping) []syscall.SysProcIDMap {
	var out []syscall.SysProcIDMap
	for _, m := range ms {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(m.Inside), HostID: int(m.Outside), Size: int(m.Count)})
	}
	return out
}

// Pid is the init's pid on the host.
func (s *Sandbox) Pid() int { return s.cmd.Process.Pid }

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
func (s *Sandbox) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Kill ends the sandbox at once and reaps the init. Killing PID 1 of a pid
// namespace kills every process in it.
func (s *Sandbox) Kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
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
		s.cmd.Process.Kill()
		res.Code, res.Err = 125, err
	}
	s.ch.f.Close()
	if err == nil && h.Reported != nil {
		h.Reported()
	}
	werr := s.cmd.Wait()
	if err == nil || res.Err != nil {
		return res
	}
	// The init died without a word: killed from outside, or crashed.
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Code = 128 + int(ws.Signal())
			res.Err = &InitError{Msg: fmt.Sprintf("sandbox init killed by signal %d (%s)", int(ws.Signal()), unix.SignalName(ws.Signal())), Code: res.Code}
			return res
		}
	}
	res.Code = 125
	res.Err = &InitError{Msg: fmt.Sprintf("sandbox init ended without reporting a status (%v)", werr), Code: 125}
	return res
}
