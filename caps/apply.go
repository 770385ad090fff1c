package caps

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ApplyToThread makes set the only capabilities of the calling thread and
// of everything it later starts: it drops every other capability from the
// bounding set, sets permitted and effective to set, and clears the
// inheritable and ambient sets.
//
// Inheritable stays empty, as in runc and moby since CVE-2022-24769: a
// non-empty inheritable set lets a non-root process that executes a file
// with file-inheritable capabilities gain those (when no_new_privs is off)
// although it started with none. Root of the user namespace needs no
// inheritable set: its execve gives permitted = bounding.
//
// Capabilities are per thread. The caller must hold runtime.LockOSThread
// and must never unlock that thread (let the goroutine exit so the runtime
// discards it); otherwise the Go scheduler would run unrelated goroutines
// with reduced capabilities, and the workload might be forked from a thread
// that still holds all of them.
//
// The thread needs CAP_SETPCAP to shrink the bounding set, so the order
// matters: bounding first, capset second (which may drop CAP_SETPCAP).
func ApplyToThread(set Set) error { return apply(set) }

func apply(set Set) error {
	for n := 0; n <= Last; n++ {
		if set.Has(n) {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0)
		// EINVAL: the running kernel predates this capability, so no
		// thread can hold it anyway.
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop %s from the bounding set: %w", names[n], err)
		}
	}

	hdr, data := CapsetData(set)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities to [%s]: %w", set, err)
	}

	err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	// EINVAL: kernel older than 4.3, which has no ambient set to clear.
	if err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear the ambient capability set: %w", err)
	}
	return nil
}

// CapsetData is what capset(2) takes to make set the permitted and
// effective sets and to empty the inheritable set.
func CapsetData(set Set) (unix.CapUserHeader, [2]unix.CapUserData) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	// Version 3 takes two 32-bit words per set: capabilities 0-31, then 32-63.
	var data [2]unix.CapUserData
	for i := range data {
		w := uint32(set >> (32 * i))
		data[i] = unix.CapUserData{Effective: w, Permitted: w}
	}
	return hdr, data
}
