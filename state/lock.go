package state

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// LockHeld reports whether someone holds the flock on path: a sandbox's
// supervisor holds ROOT/ID.lock for its whole run. A missing file is not
// held; one that cannot be opened counts as held, so that no sweep
// removes what it cannot judge.
func LockHeld(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil
}
