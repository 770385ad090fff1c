package main

import (
	"flag"
	"fmt"
	"io"
)

// command is one runc command: its flags are parsed by run itself.
type command struct {
	usage string
	run   func(e *env, name string, args []string) error
}

// commands are runc's commands as the engines call them.
var commands = map[string]command{
	"create": {usages["create"], runCreate}, "start": {usages["start"], runStart},
	"state": {usages["state"], runState}, "kill": {usages["kill"], runKill},
	"delete": {usages["delete"], runDelete}, "exec": {usages["exec"], runExec},
	"ps": {usages["ps"], runPs}, "pause": {usages["pause"], runPause},
	"resume": {usages["resume"], runResume}, "update": {usages["update"], runUpdate},
	"features": {usages["features"], runFeatures},
}

// usages are the commands' argument lines, apart from commands so that
// parse can name them without an initialisation cycle.
var usages = map[string]string{
	"create":   "[--bundle DIR] [--pid-file FILE] [--console-socket SOCK] [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID",
	"start":    "ID",
	"state":    "ID",
	"kill":     "[--all|-a] ID [SIGNAL]",
	"delete":   "[--force|-f] ID",
	"exec":     "--process FILE [--detach] [--pid-file FILE] [--tty] [--console-socket SOCK] [--preserve-fds N] ID [COMMAND...]",
	"ps":       "[--format table|json] ID [PS-ARGS...]",
	"pause":    "ID",
	"resume":   "ID",
	"update":   "--resources FILE|- ID",
	"features": "",
}

// newFlags is a command's flag set; errors are worded by parse.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses a command's flags and checks its positional arguments:
// at least min, at most max (-1: any).
func parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, flagError(fs.Name(), err)
	}
	rest := fs.Args()
	if len(rest) < min || (max >= 0 && len(rest) > max) {
		want := usages[fs.Name()]
		if len(rest) == 0 {
			return nil, fmt.Errorf("no container ID given (usage: rbox-runtime %s %s)", fs.Name(), want)
		}
		return nil, fmt.Errorf("%d arguments %q (usage: rbox-runtime %s %s)", len(rest), rest, fs.Name(), want)
	}
	return rest, nil
}
