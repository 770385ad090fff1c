package state

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ForeignError is a path that cannot serve as a private state root. Owner
// and Mode are those of the entry itself (a symlink's own, not its
// target's).
type ForeignError struct {
	Path  string
	Owner int
	Mode  uint32 // the st_mode bits
	// Problem says what is wrong, as a clause: "belongs to uid 1002".
	Problem string
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("state directory %q %s", e.Path, e.Problem)
}

// OpenRoot opens dir as a state root of the user uid: it creates it (mode
// 0700) when missing, then opens it with O_NOFOLLOW|O_DIRECTORY and checks
// the open descriptor, not the path, with fstat: a directory, owned by
// uid, with no permission for group or others. Anything else is a
// *ForeignError. The caller closes the descriptor.
func OpenRoot(dir string, uid int) (*os.File, error) { return openRoot(dir, uid, true) }

func openRoot(dir string, uid int, create bool) (*os.File, error) {
	if create {
		if err := unix.Mkdir(dir, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create state directory %q: %w", dir, err)
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		// A symlink (ELOOP) or a file (ENOTDIR): name its owner.
		var st unix.Stat_t
		if unix.Lstat(dir, &st) == nil {
			return nil, foreign(dir, &st, uid)
		}
		return nil, fmt.Errorf("open state directory %q: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("stat state directory %q: %w", dir, err)
	}
	if err := foreign(dir, &st, uid); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// foreign judges one stat result; nil means a private directory of uid.
func foreign(dir string, st *unix.Stat_t, uid int) error {
	e := &ForeignError{Path: dir, Owner: int(st.Uid), Mode: st.Mode}
	switch {
	case int(st.Uid) != uid:
		e.Problem = fmt.Sprintf("belongs to uid %d, not to you (uid %d)", st.Uid, uid)
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		e.Problem = "is a symlink: remove it"
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		e.Problem = "is not a directory: remove it"
	case st.Mode&0o077 != 0:
		e.Problem = fmt.Sprintf("has mode %04o, open to other users: chmod 700 it, or remove it", st.Mode&0o7777)
	default:
		return nil
	}
	return e
}

// yours tells a ForeignError that the user can fix (theirs, wrong type or
// mode) from one they cannot (another user's entry in a sticky /tmp).
func (e *ForeignError) yours(uid int) bool { return e.Owner == uid }
