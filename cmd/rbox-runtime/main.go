// Command rbox-runtime is rbox as an OCI runtime: runc's command line, as
// podman (through conmon), containerd's runc shim and CRI-O call it.
//
// It is a binary of its own rather than a mode of bin/rbox chosen by
// argv[0]: the engines exec the runtime for every state, kill and delete,
// so its start cost is paid many times per container, and this binary
// links neither kong nor the D-Bus, rootlesskit and slirp packages whose
// package initialisation every rbox start runs (see the commit for the
// figures). runc's exec, kill and ps also take other arguments than
// rbox's commands of those names, so the two command sets could not
// share one top level anyway.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/oci"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitFailure is what every failure of the runtime exits with, as runc
// and crun do: the engines test for non-zero and read the message, and
// a workload's status never passes through this process's exit code.
const exitFailure = 1

func main() {
	// A container's init is this binary re-executed by create: it takes
	// no flags and never returns.
	if len(os.Args) == 2 {
		switch os.Args[1] {
		case oci.InitArg:
			oci.InitMain()
		case oci.ExecArg:
			oci.ExecMain()
		}
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is the whole command: argv after the program name, the standard
// streams and the environment; it returns the exit status. Errors are
// one line on stderr and, with --log, an entry in the log file.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	g, rest, err := parseGlobal(args)
	if err != nil {
		fmt.Fprintf(stderr, "rbox-runtime: %v\n", err)
		return exitFailure
	}
	log := openLog(g, stderr)
	defer log.close()
	if g.version {
		printVersion(stdout)
		return 0
	}
	if g.help || len(rest) == 0 {
		if !g.help {
			log.error("no command: see rbox-runtime --help")
			return exitFailure
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	c, ok := commands[rest[0]]
	if !ok {
		log.error(fmt.Sprintf("unknown command %q: see rbox-runtime --help", rest[0]))
		return exitFailure
	}
	e := &env{global: g, log: log, stdin: stdin, stdout: stdout, getenv: getenv}
	if err := c.run(e, rest[0], rest[1:]); err != nil {
		var code exitStatus
		if errors.As(err, &code) {
			return int(code)
		}
		if errors.Is(err, errHelp) {
			fmt.Fprintf(stdout, "usage: rbox-runtime %s %s\n", rest[0], c.usage)
			return 0
		}
		log.error(fmt.Sprintf("%s: %v", rest[0], err))
		return exitFailure
	}
	return 0
}

// env is what every command gets.
type env struct {
	global *global
	log    *logger
	stdin  io.Reader
	stdout io.Writer
	getenv func(string) string
}

func printVersion(w io.Writer) {
	// Three lines, as runc prints them: containerd's go-runc parses
	// "NAME version V", "commit: C", "spec: S".
	fmt.Fprintf(w, "rbox-runtime version %s\ncommit: %s\nspec: %s\ngo: %s\n", version, version, specs.Version, runtime.Version())
}

const usage = `rbox-runtime: rbox as an OCI runtime, with runc's command line.

usage: rbox-runtime [global flags] COMMAND [flags] ID [args]

global flags:
  --root DIR            state root (default $XDG_RUNTIME_DIR/rbox-runtime; as root /run/rbox-runtime)
  --log FILE            also write errors (and with --debug, debug lines) to FILE
  --log-format FORMAT   text or json
  --debug               debug lines in the log
  --systemd-cgroup      cgroupsPath is systemd's slice:prefix:name
  --cgroup-manager M    cgroupfs, systemd or disabled
  --rootless B          true, false or auto (rbox is always rootless-capable)
  --version             print the version

commands:
` + "" + `  create    create a container from a bundle (it waits for start)
  start     run the created container's process
  state     print the container's state JSON
  kill      send a signal to the container
  delete    delete a created or stopped container
  exec      run a process in a running container
  ps        list the container's processes
  pause     freeze the container
  resume    thaw the container
  update    change the container's cgroup limits
  features  print what rbox honours (runtime-spec features JSON)
`

// oneLine keeps a message on one line: the engines read the last line
// (containerd) or the whole text (podman) of what a runtime says.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
