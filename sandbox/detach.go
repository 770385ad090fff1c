package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/childfd"
)

// SuperviseArg is the hidden entry of a detached supervisor: rbox's main
// dispatches it before the CLI parses anything, as it does the init.
const SuperviseArg = "__supervise"

// A detached supervisor's descriptors, by their names in its childfd
// table: the pipe it reads its Job from, and the one on which it reports
// how its start went.
const (
	fdJob    = "job"
	fdDetach = "detach"
)

// Job is what a detached supervisor is handed: the Plan, resolved once in
// the front end's process, and the host-side settings that are data. It
// parses no flags and reads no file the user named again.
type Job struct {
	Plan      *Plan        `json:"plan"`
	StateRoot string       `json:"stateRoot"`
	LayerRoot string       `json:"layerRoot,omitempty"`
	CgroupEnv cgroupv2.Env `json:"cgroupEnv"`
	// StatusJSON is the front end's: where its supervise entry writes how
	// the sandbox ended.
	StatusJSON string `json:"statusJSON,omitempty"`
}

// maxJob bounds what a detached supervisor reads: a Plan is a few KiB,
// its seccomp program included, even with many variables.
const maxJob = 16 << 20

// ReadJob is, in a detached supervisor, its Job and its report pipe. It
// takes the descriptor table out of our environment, so no child of ours
// inherits it.
func ReadJob() (Job, *os.File, error) {
	report, rerr := childfd.File(fdDetach)
	jf, jerr := childfd.File(fdJob)
	os.Unsetenv(childfd.Env)
	if rerr != nil || jerr != nil {
		if report != nil {
			report.Close()
		}
		return Job{}, nil, errors.New("this is rbox's detached supervisor; run rbox exec -d instead")
	}
	defer jf.Close()
	var j Job
	b, err := io.ReadAll(io.LimitReader(jf, maxJob))
	if err == nil {
		err = json.Unmarshal(b, &j)
	}
	if err == nil && j.Plan == nil {
		err = errors.New("no plan")
	}
	if err != nil {
		return Job{}, report, fmt.Errorf("read the detached supervisor's job: %w", err)
	}
	return j, report, nil
}

type detachReport struct {
	Name  string `json:"name,omitempty"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

// reportDetached tells the waiting parent that the workload runs (err nil)
// or why it could not start, with the status to exit with, then lets go
// of the pipe.
func reportDetached(f *os.File, name string, code int, err error) {
	r := detachReport{Name: name}
	if err != nil {
		r.Error, r.Code = err.Error(), code
		if r.Code == 0 {
			r.Code = exitFailure
		}
	}
	json.NewEncoder(f).Encode(r)
	f.Close()
}

// ReportDetachFailure is for a detached supervisor whose start failed:
// err as the front end words it, and the status to exit with.
func ReportDetachFailure(f *os.File, code int, err error) { reportDetached(f, "", code, err) }

// Detach starts a detached supervisor for j (rbox __supervise, in a
// session of its own), hands it j over a pipe, and waits until it
// reports that the workload runs; it returns the sandbox's name, or the
// status and error of a start that failed.
func Detach(j Job) (string, int, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return "", exitFailure, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", exitFailure, err
	}
	defer r.Close()
	jr, jw, err := os.Pipe()
	if err != nil {
		w.Close()
		return "", exitFailure, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		jr.Close()
		jw.Close()
		return "", exitFailure, err
	}
	defer null.Close()
	cmd := exec.Command("/proc/self/exe", SuperviseArg)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	var fds childfd.Table
	fds.Add(fdDetach, w)
	fds.Add(fdJob, jr)
	fds.Attach(cmd)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	jr.Close()
	if err != nil {
		jw.Close()
		return "", exitFailure, fmt.Errorf("start the detached supervisor: %w", err)
	}
	// The supervisor lives on; we do not wait for it.
	go cmd.Process.Release()
	_, werr := jw.Write(b)
	jw.Close()
	var rep detachReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		if werr != nil {
			err = werr
		}
		return "", exitFailure, fmt.Errorf("the detached supervisor ended before reporting: %w", err)
	}
	if rep.Error != "" {
		return "", rep.Code, errors.New(rep.Error)
	}
	return rep.Name, 0, nil
}
