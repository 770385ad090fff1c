package state

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Status is a sandbox's status in meta.json and rbox ps. rbox exec
// writes Running when it has started the init and Exited (kept only for a
// detached sandbox) when it ended; Creating and Created are for a
// front end that creates and starts apart (OCI create, then start: the
// init waits at the start barrier). OCI names each as its own states,
// Exited as "stopped".
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Exited   Status = "exited"
)

// OCI is the status as the OCI runtime spec's state names it.
func (s Status) OCI() string {
	if s == Exited {
		return "stopped"
	}
	return string(s)
}

// Meta is what rbox ps, wait, kill, logs and rm know of a sandbox; the
// supervisor writes it to ROOT/ID/meta.json when the workload starts and
// when it ends.
type Meta struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Command []string `json:"command"`
	Rootfs  string   `json:"rootfs"`
	// Layers are an image's layer directories (Spec.Layers): rbox rmi
	// names the sandbox that uses them.
	Layers        []string `json:"layers,omitempty"`
	Net           string   `json:"net"`
	Ports         []string `json:"ports,omitempty"`
	Detached      bool     `json:"detached,omitempty"`
	SupervisorPid int      `json:"supervisorPid"`
	// The start times (state.ProcStart) make each pid name one process:
	// nothing is signalled whose start time does not match.
	SupervisorStart uint64    `json:"supervisorStart,omitempty"`
	InitPid         int       `json:"initPid,omitempty"`
	InitStart       uint64    `json:"initStart,omitempty"`
	Created         time.Time `json:"created"`
	Status          Status    `json:"status"`
	ExitCode        *int      `json:"exitCode,omitempty"`
	Finished        time.Time `json:"finished,omitzero"`
}

func metaPath(dir string) string { return filepath.Join(dir, "meta.json") }

// WriteMeta replaces meta.json atomically, so a reader never sees half.
func WriteMeta(dir string, m *Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := metaPath(dir) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return os.Rename(tmp, metaPath(dir))
}

// ReadMeta reads dir's meta.json.
func ReadMeta(dir string) (*Meta, error) {
	b, err := os.ReadFile(metaPath(dir))
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", metaPath(dir), err)
	}
	return &m, nil
}
