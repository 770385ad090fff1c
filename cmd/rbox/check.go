package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/hostcheck"
	"github.com/rbox-sandbox/rbox/image"
)

type checkCmd struct {
	JSON bool `name:"json" help:"Print the report as JSON."`
}

// exitCheckFailed is rbox check's status when rbox exec with default
// flags cannot work here.
const exitCheckFailed = 1

func (c *checkCmd) run() (int, error) {
	// The probes' throwaway layers go where rbox exec's would: into the
	// resolved root, never a directory another user prepared.
	root, err := stateRoot()
	if err != nil {
		return exitFailure, err
	}
	h := hostcheck.Default(os.Getenv("PATH"), root, cgroupv2.Env{
		BusAddress: os.Getenv("DBUS_SESSION_BUS_ADDRESS"),
		RuntimeDir: os.Getenv("XDG_RUNTIME_DIR"),
	})
	if d, err := image.DefaultRoot(); err == nil {
		h.DataDir = filepath.Dir(d)
	}
	r := hostcheck.Run(context.Background(), h)
	if c.JSON {
		err = r.WriteJSON(os.Stdout)
	} else {
		err = r.WriteText(os.Stdout)
	}
	if err != nil {
		return exitFailure, err
	}
	if !r.ExecWorks {
		return exitCheckFailed, nil
	}
	return 0, nil
}
