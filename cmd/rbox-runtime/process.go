package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/oci"
)

func runKill(e *env, name string, args []string) error {
	fs := newFlags(name)
	all := fs.Bool("all", false, "")
	fs.BoolVar(all, "a", false, "")
	rest, err := parse(fs, args, 1, 2)
	if err != nil {
		return err
	}
	sigArg := "SIGTERM"
	if len(rest) == 2 {
		sigArg = rest[1]
	}
	sig, err := oci.ParseSignal(sigArg)
	if err != nil {
		return err
	}
	_, r, err := e.load(rest[0])
	if err != nil {
		return err
	}
	return oci.Signal(r, sig, *all)
}

func runExec(e *env, name string, args []string) error {
	fs := newFlags(name)
	process := fs.String("process", "", "")
	fs.StringVar(process, "p", "", "")
	detach := fs.Bool("detach", false, "")
	fs.BoolVar(detach, "d", false, "")
	pidFile := fs.String("pid-file", "", "")
	tty := fs.Bool("tty", false, "")
	fs.BoolVar(tty, "t", false, "")
	consoleSocket := fs.String("console-socket", "", "")
	preserveFDs := fs.Int("preserve-fds", 0, "")
	cwd := fs.String("cwd", "", "")
	var envs, capList stringList
	fs.Var(&envs, "env", "")
	fs.Var(&envs, "e", "")
	fs.Var(&capList, "cap", "")
	fs.Var(&capList, "c", "")
	user := fs.String("user", "", "")
	fs.StringVar(user, "u", "", "")
	noNewPrivs := fs.Bool("no-new-privs", false, "")
	fs.String("apparmor", "", "")
	fs.String("process-label", "", "")
	fs.String("cgroup", "", "")
	fs.Bool("ignore-paused", false, "")
	rest, err := parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	if *preserveFDs < 0 {
		return fmt.Errorf("--preserve-fds %d: want 0 or more", *preserveFDs)
	}
	var proc *specs.Process
	if *process != "" {
		data, err := readInput(*process, e.stdin)
		if err != nil {
			return fmt.Errorf("--process: %w", err)
		}
		if proc, err = oci.ParseProcess(data); err != nil {
			return fmt.Errorf("--process %q: %w", *process, err)
		}
	} else if len(rest) < 2 {
		return errors.New("no process: give --process FILE, or the command after the container ID")
	}
	r, err := load(e, rest[0])
	if err != nil {
		return err
	}
	switch s := r.State().Status; s {
	case specs.StateRunning, specs.StateCreated:
	default:
		return fmt.Errorf("cannot exec in container %q: it is %s", r.ID, s)
	}
	// The container's filter applies to what runs in it later, as runc
	// does: from the bundle's config, which the engines keep.
	spec, err := oci.Load(r.Bundle)
	if err != nil {
		return err
	}
	b, err := oci.Translate(spec, r.Bundle)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(r.Bundle, oci.ConfigFile), err)
	}
	if proc == nil {
		// runc's exec ID CMD...: the container's process with these
		// arguments and the flags' changes.
		p := *spec.Process
		p.Args = rest[1:]
		p.Env = append(append([]string(nil), p.Env...), envs...)
		p.Terminal = *tty
		if *cwd != "" {
			p.Cwd = *cwd
		}
		if *noNewPrivs {
			p.NoNewPrivileges = true
		}
		if *user != "" {
			var uid, gid uint32
			if n, _ := fmt.Sscanf(*user, "%d:%d", &uid, &gid); n < 1 {
				return fmt.Errorf("--user %q: want UID[:GID]", *user)
			}
			p.User.UID, p.User.GID = uid, gid
		}
		if len(capList) > 0 && p.Capabilities != nil {
			c := *p.Capabilities
			c.Bounding = append(c.Bounding, capList...)
			c.Effective = append(c.Effective, capList...)
			c.Permitted = append(c.Permitted, capList...)
			p.Capabilities = &c
		}
		proc = &p
	}
	switch {
	case proc.Terminal && *consoleSocket == "" && *detach:
		return errors.New("process.terminal is true with --detach: give --console-socket SOCK to receive the pty's master")
	case !proc.Terminal && *consoleSocket != "":
		return fmt.Errorf("--console-socket %q given, but process.terminal is false: drop the flag or set process.terminal", *consoleSocket)
	}
	o := oci.ExecOptions{Process: oci.ProcessOf(proc), Seccomp: b.Seccomp, PreserveFDs: *preserveFDs}
	if *consoleSocket != "" {
		c, err := dialConsole(*consoleSocket)
		if err != nil {
			return err
		}
		defer c.Close()
		o.Console = c
	}
	var own *ownConsole
	if proc.Terminal && *consoleSocket == "" {
		if own, err = newOwnConsole(); err != nil {
			return err
		}
		defer own.finish()
		defer own.peer.Close()
		o.Console = own.peer
	}
	// A foreground exec (CRI-O streams exec this way) passes the signals
	// it gets on to the process, as runc's does: registered before the
	// process starts, so that none ends the runtime and leaves it behind.
	var sigs chan os.Signal
	if !*detach {
		sigs = make(chan os.Signal, 16)
		signal.Notify(sigs, forwardedSignals(proc.Terminal)...)
		if own != nil {
			signal.Notify(sigs, syscall.SIGWINCH)
		}
		defer signal.Stop(sigs)
	}
	p, err := oci.Exec(r, o)
	if err != nil {
		return err
	}
	if *pidFile != "" {
		if err := writePidFile(absPath(*pidFile), p.Pid); err != nil {
			p.Kill()
			p.Wait()
			return err
		}
	}
	if *detach {
		return nil
	}
	if own != nil {
		if err := own.start(e.stdin, e.stdout); err != nil {
			p.Kill()
			p.Wait()
			return err
		}
	}
	done := make(chan *os.ProcessState, 1)
	go func() { ps, _ := p.Wait(); done <- ps }()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGWINCH && own != nil {
				own.resize()
				continue
			}
			if err := p.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
				e.log.debugf("forward %v to the exec'd process %d: %v", s, p.Pid, err)
			}
		case ps := <-done:
			if ps == nil {
				return fmt.Errorf("wait for the exec'd process %d", p.Pid)
			}
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return exitStatus(128 + int(ws.Signal()))
			}
			return exitStatus(ps.ExitCode())
		}
	}
}

// forwardedSignals are the signals a foreground exec passes on. With a
// terminal, SIGWINCH is not among them: the holder of the pty's master
// resizes it (the engine through --console-socket, or the runtime itself
// from its stdin's size, ownConsole), and the kernel signals the
// terminal's foreground group.
func forwardedSignals(tty bool) []os.Signal {
	s := []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM, syscall.SIGCONT}
	if !tty {
		s = append(s, syscall.SIGWINCH)
	}
	return s
}

// exitStatus is a status the runtime exits with and says nothing about:
// the exec'd process's own, for exec in the foreground.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// readInput reads a file argument, "-" being stdin.
func readInput(path string, stdin io.Reader) ([]byte, error) {
	const max = 16 << 20
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err == nil && len(b) > max {
		err = fmt.Errorf("%q is larger than %d MiB", path, max>>20)
	}
	return b, err
}

func load(e *env, id string) (*oci.Record, error) {
	st, err := e.store(false)
	if err != nil {
		return nil, err
	}
	return st.Load(id)
}

func runPs(e *env, name string, args []string) error {
	fs := newFlags(name)
	format := fs.String("format", "table", "")
	fs.StringVar(format, "f", "table", "")
	rest, err := parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("--format %q: want table or json", *format)
	}
	if *format == "json" && len(rest) > 1 {
		return fmt.Errorf("ps arguments %q are for --format table only", rest[1:])
	}
	r, err := load(e, rest[0])
	if err != nil {
		return err
	}
	pids := oci.Processes(r)
	if *format == "json" {
		if pids == nil {
			pids = []int{}
		}
		b, err := json.Marshal(pids)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	return psTable(e.stdout, pids, rest[1:])
}

// psTable prints ps(1)'s table (ps -ef unless args are given) for the
// container's pids only, as runc does: containerd's Top parses it.
func psTable(w io.Writer, pids []int, args []string) error {
	if len(args) == 0 {
		args = []string{"-ef"}
	}
	prog, err := exec.LookPath("ps")
	if err != nil {
		prog = "/bin/ps" // PATH may be unset, as under podman
	}
	out, err := exec.Command(prog, args...).Output()
	if err != nil {
		return fmt.Errorf("run %s %q: %w", prog, args, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	if !sc.Scan() {
		return fmt.Errorf("%s %q printed nothing", prog, args)
	}
	header := sc.Text()
	col := slices.Index(strings.Fields(header), "PID")
	if col < 0 {
		return fmt.Errorf("%s %q printed no PID column", prog, args)
	}
	fmt.Fprintln(w, header)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if col < len(f) {
			if pid, err := strconv.Atoi(f[col]); err == nil && slices.Contains(pids, pid) {
				fmt.Fprintln(w, sc.Text())
			}
		}
	}
	return nil
}
