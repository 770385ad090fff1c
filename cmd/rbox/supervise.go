package main

import (
	"fmt"
	"os"
	"time"

	"github.com/rbox-sandbox/rbox/hostcheck"
	"github.com/rbox-sandbox/rbox/sandbox"
)

// supervise is the hidden entry of a detached supervisor (rbox exec -d
// starts it through sandbox.Detach): it reads its Job, planned by the
// rbox that detached, from a descriptor, and parses no flags and no
// --env-file again. It reports its start on the report pipe and writes
// --status-json when the sandbox ends.
func supervise() int {
	start := time.Now()
	job, report, err := sandbox.ReadJob()
	if err != nil {
		if report != nil {
			sandbox.ReportDetachFailure(report, exitFailure, err)
		}
		fmt.Fprintf(os.Stderr, "rbox: %v\n", err)
		return exitFailure
	}
	var status sandbox.Status
	// The status is written before rbox wait returns.
	written := false
	if job.StatusJSON != "" {
		status.Done = func(code int) {
			written = writeStatus(job.StatusJSON, newRunStatus(&status, start, time.Now(), code, nil)) == nil
		}
	}
	code, err := sandbox.Run(job.Plan, sandbox.Options{
		StateRoot: job.StateRoot,
		LayerRoot: job.LayerRoot,
		Detached:  report,
		Status:    &status,
		CgroupEnv: job.CgroupEnv,
		Words:     flagOf,
		Stdin:     os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	})
	err = hostcheck.Hint(flagError(err))
	code = exitStatus(code, err)
	if err != nil {
		// Closed already when the workload had started: then this goes
		// nowhere, as the sandbox's own end is not the parent's business.
		sandbox.ReportDetachFailure(report, code, err)
	}
	if job.StatusJSON != "" && !written {
		writeStatus(job.StatusJSON, newRunStatus(&status, start, time.Now(), code, err))
	}
	return code
}
