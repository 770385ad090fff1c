package userns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// startWorkload starts the command inside the finished root and returns its
// pid. Failures to find or run the command get 127 and 126, as in a shell.
func startWorkload(cfg *Config, st *rootState, ch channel) (int, error) {
	env := withHome(cfg.Env, st.user.Home)
	bin, err := lookPath(cfg.Args[0], env, cfg.Cwd)
	if err != nil {
		return 0, err
	}
	cmd := &exec.Cmd{
		Path: bin,
		Args: cfg.Args,
		Env:  env,
		Dir:  cfg.Cwd,
		SysProcAttr: &syscall.SysProcAttr{
			Credential: &syscall.Credential{
				Uid:         st.user.UID,
				Gid:         st.user.GID,
				Groups:      st.user.Groups,
				NoSetGroups: !cfg.IDMap.Full,
			},
		},
	}
	if cfg.Tty {
		master, slave, err := openPty(cfg.Rows, cfg.Cols)
		if err != nil {
			return 0, failure(125, "allocate a terminal: %w", err)
		}
		defer slave.Close()
		if err := ch.send(message{Type: msgPty}, int(master.Fd())); err != nil {
			master.Close()
			return 0, failure(125, "hand the terminal to the supervisor: %w", err)
		}
		master.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setsid = true
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		// Without a terminal of its own the workload gets a session of its
		// own: the host terminal is then not its controlling terminal, and
		// TIOCSTI on it fails (bubblewrap's CVE-2017-5226).
		cmd.SysProcAttr.Setsid = true
	}
	intoCgroupLeaf(cmd.SysProcAttr)
	pid, err := spawn(cmd, func() error { return restrictThread(cfg) })
	var ee *exitError
	if errors.As(err, &ee) {
		return 0, err
	}
	if err != nil {
		return 0, execFailure(cfg.Args[0], err)
	}
	return pid, nil
}

// spawn starts cmd from a thread of its own. Whatever that thread's
// credentials are when it forks (capabilities, no_new_privs, seccomp, all
// per-thread) the workload inherits, and the thread is thrown away after:
// returning while locked makes the runtime destroy it.
func spawn(cmd *exec.Cmd, restrict func() error) (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := restrict(); err != nil {
			done <- result{err: &exitError{code: 125, err: err}}
			return
		}
		if err := cmd.Start(); err != nil {
			done <- result{err: err}
			return
		}
		done <- result{pid: cmd.Process.Pid}
	}()
	r := <-done
	return r.pid, r.err
}

func execFailure(name string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return failure(127, "exec %q: no such file or directory in the sandbox", name)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EISDIR), errors.Is(err, unix.EPERM):
		return failure(126, "exec %q: cannot run it: %v", name, unwrapErrno(err))
	}
	return failure(126, "exec %q: %v", name, unwrapErrno(err))
}

func unwrapErrno(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// lookPath finds the command in the sandbox's PATH, not the init's.
func lookPath(name string, env []string, cwd string) (string, error) {
	if name == "" {
		return "", failure(127, "empty command name")
	}
	if strings.Contains(name, "/") {
		return name, nil
	}
	p := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			p = v
		}
	}
	denied := ""
	for _, dir := range strings.Split(p, ":") {
		if dir == "" {
			dir = "."
		}
		full := path.Join(dir, name)
		if !path.IsAbs(full) {
			full = path.Join(cwd, full)
		}
		st, err := os.Stat(full)
		if err != nil || st.IsDir() {
			continue
		}
		if st.Mode()&0o111 == 0 {
			if denied == "" {
				denied = full
			}
			continue
		}
		return full, nil
	}
	if denied != "" {
		return "", failure(126, "exec %q: %s is not executable", name, denied)
	}
	return "", failure(127, "exec %q: executable file not found in $PATH (%s)", name, p)
}

func withHome(env []string, home string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	return append(append([]string(nil), env...), "HOME="+home)
}

// openPty allocates a terminal in the sandbox's own devpts. The slave is
// opened through the master (TIOCGPTPEER), never by a path the workload
// could have swapped.
func openPty(rows, cols uint16) (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	if rows > 0 && cols > 0 {
		unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("open pty peer: %w", errno)
	}
	return os.NewFile(uintptr(mfd), "ptmx"), os.NewFile(sfd, "pty"), nil
}
