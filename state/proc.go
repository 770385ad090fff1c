package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// A pid alone does not name a process: once it exits, the pid is reused.
// meta.json therefore records each pid with the process's start time, and
// nothing is signalled before a pidfd pins the process and the start time
// read after pinning matches the record.

// ProcStart is pid's start time in clock ticks since boot, field 22 of
// /proc/PID/stat.
func ProcStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStart(b)
}

// parseStart reads the start time out of a /proc/PID/stat line. The
// command name (field 2) may hold spaces and parentheses, so the fields
// are counted from its last ')'.
func parseStart(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat line: no command name")
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (the state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("malformed /proc stat line: %d fields after the command name", len(fields))
	}
	v, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed /proc stat start time: %w", err)
	}
	return v, nil
}

// OpenProcess returns a pidfd of pid once it is verified to be the
// process recorded with start: the start time is read after the pidfd
// pins the process, and the process is checked alive after that read, so
// the pid cannot have been reused in between. what names the process in
// errors ("supervisor").
func OpenProcess(pid int, start uint64, what string) (int, error) {
	if pid <= 0 || start == 0 {
		return -1, fmt.Errorf("the record names no %s it can prove (pid %d, start time %d)", what, pid, start)
	}
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("%s %d: %w", what, pid, err)
	}
	got, err := ProcStart(pid)
	if err == nil && unix.PidfdSendSignal(pfd, 0, nil, 0) != nil {
		err = errors.New("it has just exited")
	}
	if err != nil {
		unix.Close(pfd)
		return -1, fmt.Errorf("%s %d: %w", what, pid, err)
	}
	if got != start {
		unix.Close(pfd)
		return -1, fmt.Errorf("pid %d is not the recorded %s any more (it started at tick %d, the record says %d): refusing to signal it", pid, what, got, start)
	}
	return pfd, nil
}
