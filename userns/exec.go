package userns

import (
	"errors"
	"fmt"
	"os"
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
	// Without a terminal of its own the workload still gets a session of
	// its own (the child always calls setsid): the host terminal is then
	// not its controlling terminal, and TIOCSTI on it fails (bubblewrap's
	// CVE-2017-5226).
	stdio := [3]int{0, 1, 2}
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
		fd := int(slave.Fd())
		stdio = [3]int{fd, fd, fd}
	}
	return start(cfg, st.user, bin, cfg.Args, env, cfg.Cwd, stdio, cfg.Tty)
}

// start runs bin as u with the workload's hardening (harden.go) and
// returns its pid.
func start(cfg *Config, u execUser, bin string, args, env []string, cwd string, stdio [3]int, tty bool) (int, error) {
	a := &execAttr{ctty: tty, uid: uintptr(u.UID), gid: uintptr(u.GID), setGroups: cfg.IDMap.Full}
	var err error
	if a.path, err = syscall.BytePtrFromString(bin); err != nil {
		return 0, execFailure(args[0], err)
	}
	if a.dir, err = syscall.BytePtrFromString(cwd); err != nil {
		return 0, execFailure(args[0], err)
	}
	argv, err := syscall.SlicePtrFromStrings(args)
	if err != nil {
		return 0, execFailure(args[0], err)
	}
	envv, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return 0, execFailure(args[0], err)
	}
	a.argv, a.envv = &argv[0], &envv[0]
	if len(u.Groups) > 0 {
		a.groups, a.ngroups = &u.Groups[0], uintptr(len(u.Groups))
	}
	// The child moves each descriptor to 0, 1 or 2 with dup3; one that
	// sits at another of those three would be overwritten before its
	// turn, so it moves out of the way first.
	for i, fd := range stdio {
		if fd != i && fd < 3 {
			nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
			if err != nil {
				return 0, failure(125, "duplicate descriptor %d: %w", fd, err)
			}
			defer unix.Close(nfd)
			stdio[i] = nfd
		}
	}
	a.stdio = stdio
	intoCgroupLeaf(a)
	harden(cfg, u.UID, a)
	pid, err := spawn(a)
	runtime.KeepAlive(argv)
	runtime.KeepAlive(envv)
	runtime.KeepAlive(u.Groups)
	var ce *childError
	switch {
	case errors.As(err, &ce) && ce.step == stepExec:
		return 0, execFailure(args[0], ce.errno)
	case errors.As(err, &ce) && ce.step == stepChdir:
		return 0, failure(126, "exec %q: working directory %q: %v", args[0], cwd, ce.errno)
	case err != nil:
		return 0, failure(125, "start %q: %w", args[0], err)
	}
	return pid, nil
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
