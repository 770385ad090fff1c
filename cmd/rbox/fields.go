package main

import (
	"errors"
	"strings"

	"github.com/rbox-sandbox/rbox/sandbox"
)

// specFlags names, for each sandbox.Spec field, the flag of rbox exec
// that sets it: sandbox's errors name fields (*sandbox.FieldError), and
// this table alone turns them into the words of this command line.
var specFlags = map[string]string{
	"Name":          "--name",
	"Rootfs":        "--rootfs",
	"Args":          "CMD",
	"Env":           "-e",
	"Cwd":           "-w",
	"User":          "-u",
	"Tty":           "-t",
	"Term":          "TERM",
	"Hostname":      "--hostname",
	"Net":           "--net",
	"MTU":           "--mtu",
	"Ports":         "-p",
	"Overlay":       "--overlay",
	"ReadOnly":      "--read-only",
	"Persist":       "--persist",
	"LayerSize":     "--layer-size",
	"Volumes":       "-v",
	"Tmpfs":         "--tmpfs",
	"IDMap":         "--idmap",
	"UIDMappings":   "uid mappings", // no flag: the OCI front end's
	"GIDMappings":   "gid mappings",
	"Timeout":       "--timeout",
	"StopTimeout":   "--stop-timeout",
	"AllowNewPrivs": "--allow-new-privs",
	"CapAdd":        "--cap-add",
	"CapDrop":       "--cap-drop",
	"Seccomp":       "--seccomp",
	"Limits":        "--memory, --memory-swap, --cpus, --pids-limit",
	"CgroupManager": "--cgroup-manager",
	"Stats":         "--stats",
	"Debug":         "--debug",
	"Layers":        "--image",
	"LayerLocks":    "--image",
}

func flagOf(field string) string {
	if f, ok := specFlags[field]; ok {
		return f
	}
	return field
}

// flagError words err's *sandbox.FieldError with flag names; the chain
// stays as it was for errors.As and errors.Is.
func flagError(err error) error {
	var fe *sandbox.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	return &flagWorded{err: err, msg: strings.Replace(err.Error(), fe.Error(), fe.Render(flagOf), 1)}
}

type flagWorded struct {
	err error
	msg string
}

func (e *flagWorded) Error() string { return e.msg }
func (e *flagWorded) Unwrap() error { return e.err }
