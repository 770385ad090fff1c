package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/sandbox"
)

type psCmd struct {
	All  bool `short:"a" help:"Show exited detached sandboxes too."`
	JSON bool `name:"json" help:"Print a JSON array."`
}

func (c *psCmd) run() (int, error) {
	root, err := stateRoot()
	if err != nil {
		return exitFailure, err
	}
	all, err := sandbox.List(root)
	if err != nil {
		return exitFailure, err
	}
	var shown []*sandbox.Info
	for _, i := range all {
		if i.Running || c.All {
			shown = append(shown, i)
		}
	}
	if c.JSON {
		if shown == nil {
			shown = []*sandbox.Info{}
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return 0, enc.Encode(shown)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tID\tPID\tSTATUS\tUPTIME\tNET\tPORTS\tROOTFS\tCOMMAND")
	now := time.Now()
	for _, i := range shown {
		status := "running"
		if !i.Running {
			status = fmt.Sprintf("exited (%d)", *i.ExitCode)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, i.ID, i.InitPid, status,
			i.Uptime(now).Round(time.Second), i.Net, strings.Join(i.Ports, ","), i.Rootfs, strings.Join(i.Command, " "))
	}
	return 0, w.Flush()
}

type killCmd struct {
	Signal string `short:"s" default:"TERM" help:"Signal name or number (TERM, KILL, HUP, 9, ...)."`
	Name   string `arg:"" help:"Sandbox name or ID."`
}

func (c *killCmd) run() (int, error) {
	sig, err := parseSignal(c.Signal)
	if err != nil {
		return exitFailure, err
	}
	root, err := stateRoot()
	if err != nil {
		return exitFailure, err
	}
	return 0, sandbox.Kill(root, c.Name, sig)
}

// parseSignal accepts SIGTERM, TERM, term or 15.
func parseSignal(s string) (unix.Signal, error) {
	if v, err := strconv.Atoi(s); err == nil {
		// Only the plain spelling: "+9" or "09" are more likely typos.
		if v > 0 && v <= 64 && strconv.Itoa(v) == s {
			return unix.Signal(v), nil
		}
	} else {
		name := strings.ToUpper(s)
		if !strings.HasPrefix(name, "SIG") {
			name = "SIG" + name
		}
		if sig := unix.SignalNum(name); sig != 0 {
			return sig, nil
		}
	}
	return 0, fmt.Errorf("invalid signal %q: use a name such as TERM, KILL or HUP, or a number from 1 to 64", s)
}

type waitCmd struct {
	Name string `arg:"" help:"Sandbox name or ID."`
}

func (c *waitCmd) run() (int, error) {
	root, err := stateRoot()
	if err != nil {
		return exitFailure, err
	}
	code, err := sandbox.Wait(root, c.Name)
	if err != nil {
		return exitFailure, err
	}
	return code, nil
}

type rmCmd struct {
	Names []string `arg:"" help:"Exited sandboxes to remove."`
}

func (c *rmCmd) run() (int, error) {
	root, err := stateRoot()
	if err != nil {
		return exitFailure, err
	}
	for _, n := range c.Names {
		if err := sandbox.Remove(root, n, sandbox.Options{}); err != nil {
			return exitFailure, err
		}
	}
	return 0, nil
}

type logsCmd struct {
	Follow bool   `short:"f" help:"Keep printing while the sandbox runs."`
	Name   string `arg:"" help:"Sandbox name or ID."`
}

func (c *logsCmd) run() (int, error) {
	root, err := stateRoot()
	if err != nil {
		return exitFailure, err
	}
	i, err := sandbox.Find(root, c.Name)
	if err != nil {
		return exitFailure, err
	}
	f, err := os.Open(i.LogPath())
	if err != nil {
		return exitFailure, fmt.Errorf("sandbox %q has no log (only detached sandboxes keep one): %w", i.Name, err)
	}
	defer f.Close()
	for {
		if _, err := io.Copy(os.Stdout, f); err != nil {
			return exitFailure, err
		}
		if !c.Follow {
			return 0, nil
		}
		if j, err := sandbox.Find(root, i.ID); err != nil || !j.Running {
			_, err := io.Copy(os.Stdout, f) // what came in meanwhile
			return 0, err
		}
		// Off the start path, a short sleep is the simplest follow.
		time.Sleep(100 * time.Millisecond)
	}
}

type enterCmd struct {
	Tty     bool     `short:"t" help:"Give the process a terminal (a pty inside the sandbox)."`
	Env     []string `short:"e" help:"Set a variable (KEY=VALUE; KEY alone copies it from your environment)." sep:"none" placeholder:"KEY=VALUE"`
	Workdir string   `short:"w" help:"Working directory inside the sandbox (default: the workload's)." placeholder:"DIR"`
	User    string   `short:"u" help:"Run as USER[:GROUP] or UID[:GID] of the sandbox (default: the workload's)."`
	Name    string   `arg:"" help:"Sandbox name or ID."`
	Command []string `arg:"" passthrough:"partial" help:"Command and arguments." placeholder:"-- CMD [ARGS...]"`
}

func (c *enterCmd) run() (int, error) {
	args := c.Command
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	e := &sandbox.EnterSpec{Args: args, Cwd: c.Workdir, User: c.User, Tty: c.Tty}
	for _, kv := range c.Env {
		v, ok, err := parseEnv(kv, os.LookupEnv)
		if err != nil {
			return exitFailure, err
		}
		if ok {
			e.Env = append(e.Env, v)
		}
	}
	root, err := stateRoot()
	if err != nil {
		return exitFailure, err
	}
	return sandbox.Enter(root, c.Name, e, sandbox.Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
}
