package state

import (
	"errors"
	"fmt"
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

// HoldShared takes a shared flock on each of paths, creating them if
// missing and waiting for an exclusive holder to let go; release lets go
// of them all (so does the process's exit). The image store's in-use
// locks are taken so by every sandbox that runs on the layers.
func HoldShared(paths []string) (release func(), err error) {
	var files []*os.File
	release = func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			release()
			return nil, err
		}
		files = append(files, f)
		for {
			err = unix.Flock(int(f.Fd()), unix.LOCK_SH)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err != nil {
			release()
			return nil, fmt.Errorf("lock %q: %w", p, err)
		}
	}
	return release, nil
}
