package cgroupv2

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
)

// minMemory is docker's smallest --memory: below it the sandbox's own
// runtime (init, shell, libc) would be killed before the workload starts.
const minMemory int64 = 6 << 20

// Limits are the resource limits of one sandbox. The zero value limits
// nothing. Values come from ParseMemory, ParseMemorySwap, ParseCPUs and
// ParsePids; 0 means "not set" and Unlimited means "explicitly no limit".
type Limits struct {
	// Memory is memory.max in bytes.
	Memory int64
	// MemorySwap is docker's --memory-swap: memory plus swap. Unset (0) with
	// Memory set allows as much swap as memory (docker's default); equal to
	// Memory allows no swap; Unlimited allows any swap.
	MemorySwap int64
	// CPU is cpu.max.
	CPU CPUMax
	// Pids is pids.max: processes and threads together.
	Pids int64
}

// IsZero reports whether no limit was asked for. Without limits the sandbox
// still gets a cgroup when one is available, for the OOM report and Stats.
func (l Limits) IsZero() bool {
	return l.Memory == 0 && l.MemorySwap == 0 && l.CPU.IsZero() && l.Pids == 0
}

// Validate checks the combination of limits against each other and against
// this machine's CPU count.
func (l Limits) Validate() error {
	return l.validate(runtime.NumCPU())
}

func (l Limits) validate(numCPU int) error {
	if l.Memory > 0 && l.Memory < minMemory {
		return fmt.Errorf("--memory %s is too small: the minimum is %s", formatBytes(l.Memory), formatBytes(minMemory))
	}
	if l.Memory < 0 && l.Memory != Unlimited || l.MemorySwap < 0 && l.MemorySwap != Unlimited || l.Pids < 0 && l.Pids != Unlimited {
		return fmt.Errorf("negative limit in %+v: use -1 for no limit", l)
	}
	if l.MemorySwap != 0 && l.Memory <= 0 {
		return fmt.Errorf("--memory-swap needs --memory: it is the total of memory and swap")
	}
	if l.MemorySwap > 0 && l.MemorySwap < l.Memory {
		return fmt.Errorf("--memory-swap %s is less than --memory %s: it is the total of memory and swap, so it must be at least as large",
			formatBytes(l.MemorySwap), formatBytes(l.Memory))
	}
	if !l.CPU.IsZero() {
		if l.CPU.Quota < minCPUQuota || l.CPU.Period <= 0 {
			return fmt.Errorf("--cpus %g is too small: the minimum is 0.01", l.CPU.CPUs())
		}
		// Like docker: a quota beyond the machine's CPUs would silently limit
		// nothing, which reads as a working limit that is not one.
		if numCPU > 0 && l.CPU.Quota > int64(numCPU)*l.CPU.Period {
			return fmt.Errorf("--cpus %g is more than the %d CPUs available: use a value from 0.01 to %d", l.CPU.CPUs(), numCPU, numCPU)
		}
	}
	return nil
}

// swapMax is memory.swap.max (swap alone, without memory) for the limits, and
// whether it is to be written at all.
func (l Limits) swapMax() (int64, bool) {
	switch {
	case l.Memory <= 0:
		return 0, false
	case l.MemorySwap == Unlimited:
		return Unlimited, true
	case l.MemorySwap == 0:
		return l.Memory, true
	default:
		return l.MemorySwap - l.Memory, true
	}
}

// File is one cgroup interface file and the value to write to it.
type File struct {
	Name  string
	Value string
}

// Files is the plan of cgroup files to write for the limits, in order, on
// the workload's leaf (see Cgroup): every limit, so that the workload
// reads them in its /sys/fs/cgroup. An unlimited value is written as
// "max" so that a limit inherited from a reused cgroup is cleared.
func (l Limits) Files() []File {
	var fs []File
	if l.Memory != 0 {
		fs = append(fs, File{"memory.max", maxString(l.Memory)})
	}
	if swap, ok := l.swapMax(); ok {
		fs = append(fs, File{"memory.swap.max", maxString(swap)})
	}
	if !l.CPU.IsZero() {
		fs = append(fs, File{"cpu.max", l.CPU.String()})
	}
	if l.Pids != 0 {
		fs = append(fs, File{"pids.max", maxString(l.Pids)})
	}
	return fs
}

// parentFiles is the plan for the sandbox's cgroup above both leaves: the
// limits that cover the init as well (memory, swap, CPU). pids.max is on
// the workload's leaf alone: the init's threads are not the user's
// processes.
func (l Limits) parentFiles() []File {
	var fs []File
	for _, f := range l.Files() {
		if f.Name != "pids.max" {
			fs = append(fs, f)
		}
	}
	return fs
}

func maxString(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// Controllers lists the cgroup controllers the limits need, sorted.
func (l Limits) Controllers() []string {
	var cs []string
	if !l.CPU.IsZero() {
		cs = append(cs, "cpu")
	}
	if l.Memory != 0 || l.MemorySwap != 0 {
		cs = append(cs, "memory")
	}
	if l.Pids != 0 {
		cs = append(cs, "pids")
	}
	return cs
}

// Property is one systemd unit property: a name and a D-Bus value.
type property struct {
	Name  string
	Value any
}

// systemdProperties maps the limits to systemd's resource-control properties
// of a transient unit: the scope is the sandbox's cgroup, above the leaves.
// systemd writes "max" for math.MaxUint64 (infinity).
func (l Limits) systemdProperties() []property {
	u := func(v int64) uint64 {
		if v < 0 {
			return math.MaxUint64
		}
		return uint64(v)
	}
	var ps []property
	if l.Memory != 0 {
		ps = append(ps, property{"MemoryMax", u(l.Memory)})
	}
	if swap, ok := l.swapMax(); ok {
		ps = append(ps, property{"MemorySwapMax", u(swap)})
	}
	if !l.CPU.IsZero() {
		// systemd takes the quota as CPU time per second of wall time and
		// writes cpu.max with its own period, which is also 100 ms.
		ps = append(ps, property{"CPUQuotaPerSecUSec", uint64(l.CPU.Quota) * 1000000 / uint64(l.CPU.Period)})
	}
	// No TasksMax: pids.max goes on the workload's leaf (parentFiles).
	return ps
}

// missing returns the names in want that are not in have.
func missing(want, have []string) []string {
	var m []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			m = append(m, w)
		}
	}
	return m
}
