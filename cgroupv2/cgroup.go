package cgroupv2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Cgroup is the cgroup of one running sandbox, made by a Manager's Create.
// Its methods run in the supervisor on the host side.
type Cgroup struct {
	path      string // the sandbox's cgroup directory: the limits of init and workload together
	workload  string // the workload's leaf below path (leaves.go)
	statsPath string // where the results are read; outlives the processes
	unit      string // the systemd scope, "" for cgroupfs
	destroy   func(ctx context.Context) error
	// pids is what the workload's leaf said when the workload ended
	// (WorkloadEnded), since systemd removes the leaf with the scope.
	pids *Stats
}

// Path is the sandbox's cgroup directory under /sys/fs/cgroup, which holds
// its limits; its processes are in the two leaves below (leaves.go).
func (c *Cgroup) Path() string { return c.path }

// Workload is the workload's leaf: the init starts the workload in it,
// and the workload's cgroup namespace is rooted there.
func (c *Cgroup) Workload() string { return c.workload }

// WorkloadEnded keeps the workload leaf's pids counters for Stats. Call it
// when the workload has ended and the init, which keeps the systemd scope
// and thereby the leaf alive, has not.
func (c *Cgroup) WorkloadEnded() { c.pids = c.workloadPids() }

// workloadPids reads the workload leaf's counters, nil when it is gone.
func (c *Cgroup) workloadPids() *Stats {
	if c.workload == "" {
		return nil
	}
	if _, err := os.Stat(c.workload); err != nil {
		return nil
	}
	s, err := readStats(c.workload)
	if err != nil {
		return nil
	}
	return &s
}

// Unit is the systemd scope's name, or "" when the cgroupfs manager made it.
func (c *Cgroup) Unit() string { return c.unit }

// OOMKilled reports whether the kernel's OOM killer killed a process of the
// sandbox (memory.events, oom_kill). Call it after the sandbox exited and
// before Destroy.
func (c *Cgroup) OOMKilled() (bool, error) {
	ev, err := readFile(filepath.Join(c.statsPath, "memory.events"), parseFlatKeyed)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// No memory controller here: nothing can have been OOM-killed by
			// this cgroup's limit.
			return false, nil
		}
		return false, fmt.Errorf("read OOM events of %q: %w", c.statsPath, err)
	}
	return ev["oom_kill"] > 0, nil
}

// Stats is what the sandbox used over its life. A field is zero when the
// kernel or the delegated controllers do not provide it.
type Stats struct {
	MemoryPeak uint64        // bytes, memory.peak (Linux 5.19)
	CPUUsage   time.Duration // cpu.stat usage_usec
	CPUUser    time.Duration // cpu.stat user_usec
	CPUSystem  time.Duration // cpu.stat system_usec
	PidsPeak   uint64        // processes and threads at once, pids.peak (Linux 6.1)
	OOMKills   uint64        // memory.events oom_kill
	PidsDenied uint64        // forks refused by pids.max, pids.events max (see Stats)
}

// Stats reads the sandbox's usage. Call it after the sandbox exited and
// before Destroy.
//
// Memory, CPU and OOM kills are the sandbox's, the init's included (they
// count against --memory and --cpus); peak pids and refused forks are the
// workload's leaf's, which --pids-limit counts, without the init's
// threads.
func (c *Cgroup) Stats() (Stats, error) {
	s, err := readStats(c.statsPath)
	if err != nil {
		return s, err
	}
	w := c.pids
	if w == nil {
		w = c.workloadPids()
	}
	if w != nil {
		s.PidsPeak, s.PidsDenied = w.PidsPeak, w.PidsDenied
	}
	return s, nil
}

func readStats(dir string) (Stats, error) {
	var s Stats
	optional := func(err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if cpu, err := readFile(filepath.Join(dir, "cpu.stat"), parseFlatKeyed); err == nil {
		s.CPUUsage = time.Duration(cpu["usage_usec"]) * time.Microsecond
		s.CPUUser = time.Duration(cpu["user_usec"]) * time.Microsecond
		s.CPUSystem = time.Duration(cpu["system_usec"]) * time.Microsecond
	} else if err := optional(err); err != nil {
		return s, err
	}
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"memory.peak", &s.MemoryPeak}, {"pids.peak", &s.PidsPeak}} {
		v, err := readFile(filepath.Join(dir, f.name), func(r io.Reader) (uint64, error) {
			v, _, err := parseSingleValue(r)
			return v, err
		})
		if err := optional(err); err != nil {
			return s, err
		}
		*f.dst = v
	}
	if ev, err := readFile(filepath.Join(dir, "memory.events"), parseFlatKeyed); err == nil {
		s.OOMKills = ev["oom_kill"]
	} else if err := optional(err); err != nil {
		return s, err
	}
	if ev, err := readFile(filepath.Join(dir, "pids.events"), parseFlatKeyed); err == nil {
		s.PidsDenied = ev["max"]
	} else if err := optional(err); err != nil {
		return s, err
	}
	return s, nil
}

// Destroy kills what is left in the sandbox's cgroup and removes it, and
// checks that the directory is gone. It is safe to call once the sandbox
// exited; calling it again is a no-op.
func (c *Cgroup) Destroy(ctx context.Context) error {
	if c.destroy == nil {
		return nil
	}
	err := c.destroy(ctx)
	if err == nil {
		c.destroy = nil
	}
	return err
}
