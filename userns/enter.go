package userns

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// rbox enter runs a new process in a running sandbox. A Go program cannot
// setns into a user namespace once it has threads, and joining the
// namespaces one by one from outside would still miss the root, the
// capabilities and the seccomp filter. So the init, which already has all
// of them, forks the new process itself, the same way it started the
// workload. It listens on a SOCK_SEQPACKET socket in the sandbox's state
// directory, bound before pivot_root (the path is unreachable from inside
// afterwards; the descriptor keeps working):
//
//	rbox enter                                init
//	    │── enter {EnterRequest} + fds 0,1,2 ──▶ │ resolve user and command,
//	    │                                        │ fork and exec it (forkexec.go)
//	    │◀──────────────────── pty + fd ──────── │ (with -t) the master
//	    │◀──────────────────── started {pid} ─── │
//	    │── signal {sig} ──────────────────────▶ │ kill(pid, sig)
//	    │◀──────────────────── exit {code} ───── │ or error {msg, code}
//
// A client that hangs up takes its process with it (SIGKILL), as a killed
// rbox exec takes its sandbox. Only the sandbox's owner can connect: the
// state directory is 0700, and the init checks the peer's uid as well;
// the client in turn checks that the listener is the init (DialEnter).

const (
	msgEnter  = "enter"
	msgSignal = "signal"
)

// EnterRequest is what rbox enter asks of the init. Empty fields take the
// workload's values.
type EnterRequest struct {
	Args []string `json:"args"`
	// Env is added to the workload's environment, replacing equal keys.
	Env  []string `json:"env,omitempty"`
	Cwd  string   `json:"cwd,omitempty"`
	User string   `json:"user,omitempty"`
	Tty  bool     `json:"tty,omitempty"`
	Rows uint16   `json:"rows,omitempty"`
	Cols uint16   `json:"cols,omitempty"`
}

// maxEnterSocketPath is the room in sockaddr_un.sun_path, less the NUL.
const maxEnterSocketPath = 107

// listenEnter binds the enter socket. Called before pivot_root, while the
// state directory is still reachable by path.
func listenEnter(path string) (int, error) {
	if len(path) > maxEnterSocketPath {
		return -1, fmt.Errorf("enter socket path %q is longer than %d bytes: set XDG_RUNTIME_DIR to a shorter directory", path, maxEnterSocketPath)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("enter socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind enter socket %s: %w", path, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen on enter socket %s: %w", path, err)
	}
	return fd, nil
}

// children routes the exit statuses the init reaps to the enter sessions
// waiting for them. The lock is held across the fork so that a process
// which exits at once is registered before the reaper can look for it.
type children struct {
	mu      sync.Mutex
	waiters map[int]chan int
}

func (c *children) start(fork func() (int, error)) (int, <-chan int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pid, err := fork()
	if err != nil {
		return 0, nil, err
	}
	if c.waiters == nil {
		c.waiters = map[int]chan int{}
	}
	ch := make(chan int, 1)
	c.waiters[pid] = ch
	return pid, ch, nil
}

// exited hands pid's status to its waiter, if it has one.
func (c *children) exited(pid, code int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.waiters[pid]; ok {
		ch <- code
		delete(c.waiters, pid)
	}
}

// serveEnter accepts enter sessions until the init exits.
func serveEnter(cfg *Config, lfd int, kids *children) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			debugf(cfg, "init: enter socket: %v", err)
			return
		}
		go enterSession(cfg, channel{os.NewFile(uintptr(fd), "enter")}, kids)
	}
}

func enterSession(cfg *Config, ch channel, kids *children) {
	defer ch.f.Close()
	// The socket is only reachable through a 0700 directory of the owner;
	// checking the peer too costs nothing. The owner is root here.
	cred, err := unix.GetsockoptUcred(int(ch.f.Fd()), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || cred.Uid != 0 {
		return
	}
	m, files, err := ch.recv()
	if err != nil || m.Type != msgEnter || m.Enter == nil || len(m.Enter.Args) == 0 {
		closeAll(files)
		ch.send(message{Type: msgError, Code: 125, Msg: "bad enter request"})
		return
	}
	if len(files) != 3 && !m.Enter.Tty {
		closeAll(files)
		ch.send(message{Type: msgError, Code: 125, Msg: "an enter request without a terminal needs three descriptors"})
		return
	}
	pid, status, err := startEntered(cfg, m.Enter, files, ch, kids)
	closeAll(files)
	if err != nil {
		code := 125
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		ch.send(message{Type: msgError, Code: code, Msg: err.Error()})
		return
	}
	debugf(cfg, "init: entered process %d started", pid)
	if ch.send(message{Type: msgStarted, Pid: pid}) != nil {
		unix.Kill(pid, unix.SIGKILL)
	}
	hangup := make(chan struct{})
	go func() {
		defer close(hangup)
		for {
			m, files, err := ch.recv()
			closeAll(files)
			if err != nil {
				return
			}
			if m.Type == msgSignal && m.Signal > 0 && m.Signal < 65 {
				unix.Kill(pid, unix.Signal(m.Signal))
			}
		}
	}()
	select {
	case code := <-status:
		ch.send(message{Type: msgExit, Code: code})
		// The reader above must be gone before the deferred close: a
		// descriptor number closed under a blocked recv can be reused by
		// the next session's socket, whose packets it would then take.
		// Shutting down our read side wakes it with EOF.
		unix.Shutdown(int(ch.f.Fd()), unix.SHUT_RD)
		<-hangup
	case <-hangup:
		unix.Kill(pid, unix.SIGKILL)
		<-status
	}
}

// startEntered resolves the request against the sandbox as it is now (its
// /etc/passwd, its PATH) and forks the process with the workload's
// restrictions.
func startEntered(cfg *Config, req *EnterRequest, stdio []*os.File, ch channel, kids *children) (int, <-chan int, error) {
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, nil, failure(125, "open the sandbox root: %w", err)
	}
	defer root.Close()
	ecfg := *cfg
	if req.User != "" {
		ecfg.User = req.User
	}
	u, err := lookupUser(root, ecfg.User)
	if err != nil {
		return 0, nil, failure(125, "%w", err)
	}
	if err := checkMapped(&ecfg, &u); err != nil {
		return 0, nil, err
	}
	env := withHome(mergeEnv(cfg.Env, req.Env), u.Home)
	cwd := req.Cwd
	if cwd == "" {
		cwd = cfg.Cwd
	}
	if st, err := os.Stat(cwd); err != nil || !st.IsDir() {
		return 0, nil, failure(125, "-w %s: not a directory in the sandbox", cwd)
	}
	bin, err := lookPath(req.Args[0], env, cwd)
	if err != nil {
		return 0, nil, err
	}
	// Never the host's terminal session: see startWorkload.
	var stdfds [3]int
	if req.Tty {
		master, slave, err := openPty(req.Rows, req.Cols)
		if err != nil {
			return 0, nil, failure(125, "allocate a terminal: %w", err)
		}
		defer slave.Close()
		err = ch.send(message{Type: msgPty}, int(master.Fd()))
		master.Close()
		if err != nil {
			return 0, nil, failure(125, "hand the terminal over: %w", err)
		}
		fd := int(slave.Fd())
		stdfds = [3]int{fd, fd, fd}
	} else {
		for i, f := range stdio {
			stdfds[i] = int(f.Fd())
		}
	}
	pid, status, err := kids.start(func() (int, error) {
		return start(&ecfg, u, bin, req.Args, env, cwd, stdfds, req.Tty)
	})
	if err != nil {
		return 0, nil, err
	}
	return pid, status, nil
}

// mergeEnv returns base with over's variables added or replacing.
func mergeEnv(base, over []string) []string {
	keys := map[string]bool{}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	var out []string
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, over...)
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// EnterSession is the client's side of an enter socket.
type EnterSession struct{ ch channel }

// ErrNotInit is a listener on an enter socket that is not the sandbox's
// init: nothing was sent to it.
var ErrNotInit = errors.New("the enter socket is not served by the sandbox's init")

// DialEnter connects to a sandbox's enter socket, served by the init
// whose host pid is initPid. The listener is checked from this side too
// (SO_PEERCRED holds the credentials of the process that called listen,
// as our namespaces see them): it must be our own uid and that pid, or
// the session is refused before any request or descriptor is sent.
func DialEnter(path string, initPid int) (*EnterSession, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("peer of %s: %w", path, err)
	}
	if int(cred.Uid) != os.Getuid() || int(cred.Pid) != initPid {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: its listener is pid %d of uid %d, want the init, pid %d of uid %d", ErrNotInit, cred.Pid, cred.Uid, initPid, os.Getuid())
	}
	return &EnterSession{channel{os.NewFile(uintptr(fd), "enter")}}, nil
}

// Start sends the request with the descriptors the process gets as its
// stdin, stdout and stderr (none with a terminal).
func (s *EnterSession) Start(req *EnterRequest, stdio []*os.File) error {
	var fds []int
	for _, f := range stdio {
		fds = append(fds, int(f.Fd()))
	}
	return s.ch.send(message{Type: msgEnter, Enter: req}, fds...)
}

// Signal forwards sig to the entered process.
func (s *EnterSession) Signal(sig unix.Signal) error {
	return s.ch.send(message{Type: msgSignal, Signal: int(sig)})
}

// Wait follows the session to its end, calling h as the init reports.
func (s *EnterSession) Wait(h Hooks) Result {
	defer s.ch.f.Close()
	res, err := s.ch.follow(h, msgPty, msgStarted)
	var se *SyncError
	switch {
	case err == nil:
		return res
	case errors.As(err, &se):
		return Result{Code: 125, Err: err}
	}
	return Result{Code: 137, Err: &InitError{Msg: "the sandbox ended while the process ran", Code: 137}}
}
