package cgroupv2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"
)

// Cgroup is the cgroup of one running sandbox, made by a Manager's Create.
// Its methods run in the supervisor on the host side.
type Cgroup struct {
	path      string // the sandbox's cgroup directory: limits, the init lives here
	statsPath string // where the results are read; outlives the processes
	unit      string // the systemd scope, "" for cgroupfs
	destroy   func(ctx context.Context) error
}

// Path is the sandbox's cgroup directory under /sys/fs/cgroup, which holds
// its limits and its processes.
func (c *Cgroup) Path() string { return c.path }

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
func (c *Cgroup) Stats() (Stats, error) {
	s, err := readStats(c.statsPath)
	if err != nil || c.path == c.statsPath {
		return s, err
	}
	// Before Linux 6.10 pids.events counts only where the limit was hit,
	// the scope, not its slice: read it there too while the scope exists.
	if ev, err := readFile(filepath.Join(c.path, "pids.events"), parseFlatKeyed); err == nil {
		s.PidsDenied = max(s.PidsDenied, ev["max"])
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
