package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/state"
	"github.com/rbox-sandbox/rbox/userns"
)

// enterSocket is where a sandbox's init serves rbox enter.
func enterSocket(dir string) string { return filepath.Join(dir, "enter.sock") }

// EnterSpec is a process to run in a running sandbox; empty fields take
// the workload's values.
type EnterSpec struct {
	Args []string
	Env  []string
	Cwd  string
	User string
	Tty  bool
}

// Enter runs a process in the running sandbox ref, through its init (see
// userns/enter.go), and returns its status as Run does for a workload.
func Enter(root, ref string, e *EnterSpec, o Options) (int, error) {
	if len(e.Args) == 0 {
		return 125, errors.New("no command given: rbox enter NAME -- CMD [ARGS...]")
	}
	if e.Cwd != "" && !filepath.IsAbs(e.Cwd) {
		return 125, fieldErr("Cwd", e.Cwd, "{Cwd} %q: the working directory must be an absolute path inside the sandbox", e.Cwd)
	}
	if e.User != "" && !validUser(e.User) {
		return 125, fieldErr("User", e.User, "invalid {User} %q: use UID[:GID] or NAME[:GROUP]", e.User)
	}
	i, err := Find(root, ref)
	if err != nil {
		return 125, err
	}
	if !i.Running {
		return 125, fmt.Errorf("sandbox %q has exited (status %d): nothing to enter; rbox ps lists running ones", i.Name, *i.ExitCode)
	}
	// The init is pinned while we dial, so that the peer's pid is the
	// recorded process and not a reuse of its number.
	pfd, err := state.OpenProcess(i.InitPid, i.InitStart, "init")
	if err != nil {
		return 125, fmt.Errorf("sandbox %q: %w", i.Name, err)
	}
	sess, err := userns.DialEnter(enterSocket(i.dir), i.InitPid)
	unix.Close(pfd)
	if errors.Is(err, userns.ErrNotInit) {
		return 125, fmt.Errorf("sandbox %q: refusing to enter: %w", i.Name, err)
	}
	if err != nil {
		return 125, fmt.Errorf("sandbox %q does not answer on %s (%v): it is starting or ending", i.Name, enterSocket(i.dir), err)
	}
	req := &userns.EnterRequest{Args: e.Args, Env: e.Env, Cwd: e.Cwd, User: e.User, Tty: e.Tty}
	var stdio []*os.File
	if e.Tty {
		if ws, err := unix.IoctlGetWinsize(int(o.Stdout.Fd()), unix.TIOCGWINSZ); err == nil {
			req.Rows, req.Cols = ws.Row, ws.Col
		}
	} else {
		stdio = []*os.File{o.Stdin, o.Stdout, o.Stderr}
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	defer signal.Stop(sigs)
	if err := sess.Start(req, stdio); err != nil {
		return 125, fmt.Errorf("enter sandbox %q: %w", i.Name, err)
	}
	var tty ttyRelay
	res := make(chan userns.Result, 1)
	go func() { res <- sess.Wait(userns.Hooks{Pty: func(m *os.File) { tty.start(m, o) }}) }()
	for {
		select {
		case s := <-sigs:
			if s == unix.SIGWINCH && tty.resize() {
				continue
			}
			sess.Signal(s.(unix.Signal))
		case r := <-res:
			tty.finish()
			if r.Err != nil {
				return r.Code, r.Err
			}
			return r.Code, nil
		}
	}
}
