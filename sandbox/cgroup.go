package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/state"
)

// The sandbox's cgroup, on the host side. The supervisor picks the manager
// before it creates anything (a refusal leaves nothing behind), creates the
// cgroup once the init is cloned and waiting for "go", and after the
// sandbox ended reads the OOM kills and the usage, then destroys it. With
// no limits and no --stats none of this runs.

// cgroupTimeout bounds each talk with systemd: a D-Bus round trip and a job
// take milliseconds natively, but the user manager can be busy, and under
// emulation (the test VM) they take hundreds.
const cgroupTimeout = 30 * time.Second

// openCgroupManager returns the manager for a Spec that needs a cgroup,
// or an error of one line that names the reason and the fix.
func openCgroupManager(spec *Spec, o Options) (cgroupv2.Manager, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cgroupTimeout)
	defer cancel()
	m, err := cgroupv2.New(ctx, spec.CgroupManager, o.CgroupEnv)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", cgroupFlags(spec), oneLine(err))
	}
	return m, nil
}

// cgroupFlags names the flags that made rbox want a cgroup, for messages.
func cgroupFlags(spec *Spec) string {
	var fs []string
	l := spec.Limits
	if l.Memory != 0 {
		fs = append(fs, "--memory")
	}
	if l.MemorySwap != 0 {
		fs = append(fs, "--memory-swap")
	}
	if !l.CPU.IsZero() {
		fs = append(fs, "--cpus")
	}
	if l.Pids != 0 {
		fs = append(fs, "--pids-limit")
	}
	if spec.Stats != "" {
		fs = append(fs, "--stats")
	}
	return strings.Join(fs, ", ")
}

// oneLine joins an error's lines (a reason, then "hint: ...") into one, as
// rbox prints its own failures.
func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

func createCgroup(m cgroupv2.Manager, spec *Spec, name string, pid int) (*cgroupv2.Cgroup, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cgroupTimeout)
	defer cancel()
	cg, err := m.Create(ctx, name, spec.Limits, pid)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", cgroupFlags(spec), oneLine(err))
	}
	return cg, nil
}

// destroyCgroup removes the sandbox's cgroup, then whatever SIGKILLed
// supervisors of earlier sandboxes left (see cgroupv2.Sweep). Failures are
// warnings: the workload's status is what the user asked for.
func destroyCgroup(m cgroupv2.Manager, cg *cgroupv2.Cgroup, stateRoot string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), cgroupTimeout)
	defer cancel()
	if cg != nil {
		if err := cg.Destroy(ctx); err != nil {
			fmt.Fprintf(stderr, "rbox: warning: removing the sandbox's cgroup: %s\n", oneLine(err))
		}
	}
	if err := cgroupv2.Sweep(ctx, m, func(id string) bool { return lockHeld(stateRoot, id) }); err != nil {
		fmt.Fprintf(stderr, "rbox: warning: removing cgroups of killed sandboxes: %s\n", oneLine(err))
	}
}

// lockHeld reports whether the sandbox id has a live supervisor: its lock
// file exists and someone holds it. Cgroups of other state roots (another
// XDG_RUNTIME_DIR) look dead from here, but the sweep touches only empty
// cgroups, so the worst it can do to them is drop their statistics.
func lockHeld(root, id string) bool {
	if strings.ContainsAny(id, "/\x00") {
		return true // not one of our ids: leave it alone
	}
	return state.LockHeld(filepath.Join(root, id+".lock"))
}

// reportCgroup reads what happened in the cgroup once the sandbox ended:
// an OOM kill turns the status into 137 with one line that says so, and
// --stats prints the usage. It returns the status and the init's error,
// which an OOM kill explains and replaces.
func reportCgroup(cg *cgroupv2.Cgroup, spec *Spec, stderr io.Writer, wall time.Duration, code int, initErr error) (int, bool, error) {
	oom, err := cg.OOMKilled()
	if err != nil {
		fmt.Fprintf(stderr, "rbox: warning: %s\n", oneLine(err))
	}
	if oom {
		limit := ""
		if spec.Limits.Memory > 0 {
			limit = " (memory limit " + cgroupv2.HumanBytes(spec.Limits.Memory) + ")"
		}
		if code == 128+int(unix.SIGKILL) {
			// The workload, or the init and everything with it.
			fmt.Fprintf(stderr, "rbox: workload killed: out of memory%s\n", limit)
			initErr = nil
		} else {
			fmt.Fprintf(stderr, "rbox: warning: a process in the sandbox was killed: out of memory%s\n", limit)
		}
	}
	if spec.Stats == "" {
		return code, oom, initErr
	}
	s, err := cg.Stats()
	if err != nil {
		fmt.Fprintf(stderr, "rbox: warning: reading the sandbox's statistics: %s\n", oneLine(err))
		return code, oom, initErr
	}
	printStats(stderr, spec.Stats, s, wall)
	return code, oom, initErr
}

// StatsRecord is the line --stats=json prints on stderr at exit. Zero means
// the kernel or the delegated controllers did not say.
type StatsRecord struct {
	MemoryPeakBytes uint64 `json:"memoryPeakBytes"`
	CPUUsageUsec    int64  `json:"cpuUsageUsec"`
	CPUUserUsec     int64  `json:"cpuUserUsec"`
	CPUSystemUsec   int64  `json:"cpuSystemUsec"`
	PidsPeak        uint64 `json:"pidsPeak"`
	PidsDenied      uint64 `json:"pidsDenied"`
	OOMKills        uint64 `json:"oomKills"`
	WallUsec        int64  `json:"wallUsec"`
}

func printStats(w io.Writer, format string, s cgroupv2.Stats, wall time.Duration) {
	if format == StatsJSON {
		b, _ := json.Marshal(StatsRecord{
			MemoryPeakBytes: s.MemoryPeak, CPUUsageUsec: s.CPUUsage.Microseconds(),
			CPUUserUsec: s.CPUUser.Microseconds(), CPUSystemUsec: s.CPUSystem.Microseconds(),
			PidsPeak: s.PidsPeak, PidsDenied: s.PidsDenied, OOMKills: s.OOMKills,
			WallUsec: wall.Microseconds(),
		})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	fmt.Fprintf(w, "rbox: stats: peak memory %s, CPU %s (user %s, system %s) in %s, peak pids %d",
		cgroupv2.HumanBytes(int64(s.MemoryPeak)), secs(s.CPUUsage), secs(s.CPUUser), secs(s.CPUSystem), secs(wall), s.PidsPeak)
	if s.PidsDenied > 0 {
		fmt.Fprintf(w, ", forks refused %d", s.PidsDenied)
	}
	if s.OOMKills > 0 {
		fmt.Fprintf(w, ", OOM kills %d", s.OOMKills)
	}
	fmt.Fprintln(w)
}
