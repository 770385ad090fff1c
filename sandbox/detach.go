package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/rbox-sandbox/rbox/childfd"
)

// fdDetach names, in a detached supervisor's childfd table, the pipe on
// which it reports how its start went.
const fdDetach = "detach"

// DetachReport is the report pipe when this process is a detached
// supervisor (started by Detach), or nil. It takes the table out of our
// environment, so no child of ours inherits it.
func DetachReport() *os.File {
	f, err := childfd.File(fdDetach)
	os.Unsetenv(childfd.Env)
	if err != nil {
		return nil
	}
	return f
}

type detachReport struct {
	Name  string `json:"name,omitempty"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

// reportDetached tells the waiting parent that the workload runs (err nil)
// or why it could not start, then lets go of the pipe.
func reportDetached(f *os.File, name string, err error) {
	r := detachReport{Name: name}
	if err != nil {
		r.Error, r.Code = err.Error(), 125
		var ee *ExitError
		if errors.As(err, &ee) {
			r.Code = ee.Code
		}
	}
	json.NewEncoder(f).Encode(r)
	f.Close()
}

// ReportDetachFailure is for a detached supervisor that failed before Run
// could report.
func ReportDetachFailure(f *os.File, err error) { reportDetached(f, "", err) }

// Detach starts the same rbox command line again as a detached supervisor
// in a session of its own and waits until it reports that the workload
// runs; it returns the sandbox's name. The child inherits our environment
// and working directory, so it builds the same Spec.
func Detach(argv []string) (string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", fail(err)
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return "", fail(err)
	}
	defer null.Close()
	cmd := exec.Command("/proc/self/exe", argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	var fds childfd.Table
	fds.Add(fdDetach, w)
	fds.Attach(cmd)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return "", fail(fmt.Errorf("start the detached supervisor: %w", err))
	}
	w.Close()
	// The supervisor lives on; we do not wait for it.
	go cmd.Process.Release()
	var rep detachReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return "", fail(fmt.Errorf("the detached supervisor ended before reporting: %w", err))
	}
	if rep.Error != "" {
		return "", &ExitError{Code: rep.Code, Err: errors.New(rep.Error)}
	}
	return rep.Name, nil
}
