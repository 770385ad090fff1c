package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/state"
)

// The words of kill's errors are the ones the engines match to treat a
// kill of an ended container as done: containerd's runc shim matches
// "container not running", "no such process" and "process already
// finished"; CRI-O and podman look at "container not running" too.
var (
	ErrNotRunning = errors.New("container not running")
	ErrNoProcess  = errors.New("no such process")
)

// Signal sends sig to the container's process; with all, to every
// process of the container (its pid namespace, or the process's
// descendants when it has none of its own). The process is pinned by a
// pidfd and its start time checked first, so a reused pid is never
// signalled.
func Signal(r *Record, sig unix.Signal, all bool) error {
	switch r.status() {
	case specs.StateStopped:
		return fmt.Errorf("container %q: %w", r.ID, ErrNotRunning)
	case specs.StateCreating:
		return fmt.Errorf("container %q is still being created: %w", r.ID, ErrNotRunning)
	}
	pids := []int{r.Pid}
	if all {
		pids = Processes(r)
	}
	for _, pid := range pids {
		start := r.PidStart
		if pid != r.Pid {
			var err error
			if start, err = state.ProcStart(pid); err != nil {
				continue // it has ended since the scan
			}
		}
		pfd, err := state.OpenProcess(pid, start, "container process")
		if err != nil {
			if pid != r.Pid {
				continue
			}
			return fmt.Errorf("container %q: %w", r.ID, ErrNoProcess)
		}
		err = unix.PidfdSendSignal(pfd, sig, nil, 0)
		unix.Close(pfd)
		if err != nil && pid == r.Pid {
			if errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("container %q: %w", r.ID, ErrNoProcess)
			}
			return fmt.Errorf("signal container %q (pid %d): %w", r.ID, pid, err)
		}
	}
	return nil
}

// Processes lists the host pids of the container's processes, its own
// first; none once it has stopped.
func Processes(r *Record) []int {
	if r.status() == specs.StateStopped || r.Pid <= 0 {
		return nil
	}
	var out []int
	cg, _ := r.OpenCgroup()
	switch {
	case cg != nil && cg.made:
		// The cgroup holds exactly the container's processes, the ones
		// exec added included.
		out, _ = cg.Procs()
	case r.NewPIDNS:
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", r.Pid))
		if err != nil {
			return nil
		}
		for _, pid := range allPids() {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && l == ns {
				out = append(out, pid)
			}
		}
	default:
		out = descendants(r.Pid)
	}
	slices.Sort(out)
	if i := slices.Index(out, r.Pid); i > 0 {
		out = append(append([]int{r.Pid}, out[:i]...), out[i+1:]...)
	}
	return out
}

func allPids() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// descendants is pid and every process below it, by the parents in
// /proc/PID/stat.
func descendants(root int) []int {
	children := map[int][]int{}
	for _, pid := range allPids() {
		if pp, ok := parentOf(pid); ok {
			children[pp] = append(children[pp], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// Kill ends the container for delete: SIGKILL to every process of it,
// then a wait (up to timeout) until its own process has exited. The
// caller (conmon, the shim) reaps it; an exited zombie counts as gone.
func Kill(r *Record, timeout time.Duration) error {
	if r.status() == specs.StateStopped {
		return nil
	}
	pfd, err := state.OpenProcess(r.Pid, r.PidStart, "container process")
	if err != nil {
		return nil // it has ended since the status was read
	}
	defer unix.Close(pfd)
	if err := Signal(r, unix.SIGKILL, true); err != nil && !errors.Is(err, ErrNotRunning) && !errors.Is(err, ErrNoProcess) {
		return err
	}
	// A pidfd polls readable once its process has exited.
	fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("container %q (pid %d) did not end within %s of SIGKILL", r.ID, r.Pid, timeout)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == nil && n > 0 {
			return nil
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait for container %q: %w", r.ID, err)
		}
	}
}
