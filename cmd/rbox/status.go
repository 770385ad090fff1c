package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/sandbox"
)

// runStatus is the --status-json document: how a run ended, for machines.
type runStatus struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
	// ExitCode is rbox's exit status: the workload's, 128+N for signal
	// N, 124 after --timeout, 125-127 for rbox's own failures.
	ExitCode int `json:"exitCode"`
	// Signal names the signal that ended the workload (its status was
	// 128+N), "" otherwise.
	Signal   string `json:"signal,omitempty"`
	TimedOut bool   `json:"timedOut"`
	// OOMKilled is null when the sandbox had no cgroup of its own (no
	// limits, no --stats); else true when the kernel's OOM killer ended a
	// process in it.
	OOMKilled *bool `json:"oomKilled"`
	// Error is rbox's own failure, as printed on stderr.
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Durations in milliseconds: from rbox's start to the workload's
	// (setup), the workload's run, and the whole.
	SetupMs int64 `json:"setupMs"`
	RunMs   int64 `json:"runMs"`
	TotalMs int64 `json:"totalMs"`
}

func newRunStatus(st *sandbox.Status, start, end time.Time, code int, err error) runStatus {
	s := runStatus{
		Name: st.Name, ID: st.ID, ExitCode: code, TimedOut: st.TimedOut, OOMKilled: st.OOMKilled,
		Started: start, Finished: end, TotalMs: end.Sub(start).Milliseconds(),
	}
	if err != nil {
		s.Error = err.Error()
	}
	if !st.WorkloadStarted.IsZero() {
		s.SetupMs = st.WorkloadStarted.Sub(start).Milliseconds()
		s.RunMs = end.Sub(st.WorkloadStarted).Milliseconds()
		if c := st.WorkloadCode; c > 128 && c < 128+65 && (err == nil || st.TimedOut) {
			s.Signal = unix.SignalName(unix.Signal(c - 128))
		}
	}
	return s
}

// writeStatus writes the document whole or not at all: a reader never
// sees half a file.
func writeStatus(path string, s runStatus) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rbox-status-*")
	if err != nil {
		return fmt.Errorf("--status-json %q: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("--status-json %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--status-json %q: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--status-json %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--status-json %q: %w", path, err)
	}
	return nil
}
