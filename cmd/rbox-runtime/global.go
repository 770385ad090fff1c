package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// global holds runc's global flags, given before the command. Engines
// pass them as --name VALUE and as --name=VALUE; Go's flag package takes
// both, and one dash as well as two.
type global struct {
	root          string
	logFile       string
	logFormat     string
	logLevel      string
	debug         bool
	systemdCgroup bool
	cgroupManager string
	rootless      triState
	criu          string
	version       bool
	help          bool
}

// triState is --rootless: true, false or auto; bare --rootless is true.
type triState string

func (t *triState) String() string { return string(*t) }
func (t *triState) Set(v string) error {
	switch v {
	case "true", "false", "auto":
		*t = triState(v)
		return nil
	}
	return fmt.Errorf("want true, false or auto")
}
func (t *triState) IsBoolFlag() bool { return true }

// parseGlobal reads the global flags and returns the command line from
// the command on.
func parseGlobal(args []string) (*global, []string, error) {
	g := &global{logFormat: "text", rootless: "auto"}
	fs := flag.NewFlagSet("rbox-runtime", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.root, "root", "", "")
	fs.StringVar(&g.logFile, "log", "", "")
	fs.StringVar(&g.logFormat, "log-format", "text", "")
	fs.StringVar(&g.logLevel, "log-level", "", "")
	fs.BoolVar(&g.debug, "debug", false, "")
	fs.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "")
	fs.StringVar(&g.cgroupManager, "cgroup-manager", "", "")
	fs.Var(&g.rootless, "rootless", "")
	fs.StringVar(&g.criu, "criu", "", "")
	fs.BoolVar(&g.version, "version", false, "")
	fs.BoolVar(&g.version, "v", false, "")
	fs.BoolVar(&g.help, "help", false, "")
	fs.BoolVar(&g.help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, nil, flagError("", err)
	}
	switch g.logFormat {
	case "text", "json":
	default:
		return nil, nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
	switch g.cgroupManager {
	case "", "cgroupfs", "systemd", "disabled":
	default:
		return nil, nil, fmt.Errorf("--cgroup-manager %q: want cgroupfs, systemd or disabled", g.cgroupManager)
	}
	if g.cgroupManager == "systemd" {
		g.systemdCgroup = true
	}
	if g.logLevel == "debug" {
		g.debug = true
	}
	return g, fs.Args(), nil
}

// errHelp is a command's -h or --help.
var errHelp = errors.New("help requested")

// flagError words the flag package's errors as rbox does: the flag, the
// problem, where to look.
func flagError(cmd string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	msg := err.Error()
	see := "rbox-runtime --help"
	if cmd != "" {
		see = "rbox-runtime " + cmd + " --help"
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		dashes := "--"
		if len(name) == 1 {
			dashes = "-"
		}
		return fmt.Errorf("unknown flag %s%s (see %s)", dashes, name, see)
	}
	return fmt.Errorf("%s (see %s)", msg, see)
}
