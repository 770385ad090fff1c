package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// The --persist directory holds the writable layer for good. Two things
// must stay true of it:
//
//   - it is not inside the image, nor the image inside it, nor does a
//     read-write volume reach it: otherwise the layer's files (and the
//     workload's) land in the image, or the workload gets at the layer's
//     own directories;
//   - no one else can enter it. Root in the sandbox is the user, so a
//     workload can chmod 4755 a file of its own in DIR/upper; were DIR
//     traversable, another local user could run that file with the
//     user's euid. rbox creates DIR 0700 and refuses one that group or
//     others can traverse.
//
// Overlaps are judged by device and inode of opened directories, walking
// up through "..", never by comparing path strings: a symlink, a ".." or a
// second path to the same directory cannot hide one. (A bind mount of a
// directory below the image's root still can: ".." at a mount's root
// leads to where it is mounted. Only a user's own mount namespaces have
// such mounts.)

// dirID names a directory independently of the path it was reached by.
type dirID struct{ dev, ino uint64 }

func idOf(fd int) (dirID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return dirID{}, err
	}
	return dirID{uint64(st.Dev), st.Ino}, nil
}

// ancestry returns the IDs of the directory p and of every directory above
// it, up to the root.
func ancestry(p string) ([]dirID, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var ids []dirID
	// A path has at most PATH_MAX/2 components; the bound only guards
	// against a filesystem that answers ".." wrongly.
	for i := 0; i < 2048; i++ {
		id, err := idOf(fd)
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
		if len(ids) > 0 && ids[len(ids)-1] == id {
			break // the root is its own parent
		}
		ids = append(ids, id)
		up, err := unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return nil, err
		}
		fd = up
	}
	unix.Close(fd)
	return ids, nil
}

func contains(ids []dirID, id dirID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// existingBase is the deepest existing directory on the way to p (p
// itself when it exists), with symlinks followed as mkdir will follow
// them. A dangling symlink on the way is refused: mkdir would not create
// its target, and where that target would be is not for rbox to guess.
func existingBase(p string) (string, error) {
	for {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return "", fmt.Errorf("%q is not a directory", p)
			}
			return p, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if _, lerr := os.Lstat(p); lerr == nil {
			return "", fmt.Errorf("%q is a symlink to a missing path", p)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", err
		}
		p = parent
	}
}

// overlap reports whether directory a is inside directory b or b inside a
// (or they are one), by their ancestries. a may not exist yet: then its
// deepest existing parent stands for it, and b cannot be inside it.
func overlap(a, b string) (bool, error) {
	base, err := existingBase(a)
	if err != nil {
		return false, err
	}
	up, err := ancestry(base)
	if err != nil {
		return false, err
	}
	bUp, err := ancestry(b)
	if err != nil {
		return false, err
	}
	if contains(up, bUp[0]) {
		return true, nil
	}
	return base == a && contains(bUp, up[0]), nil
}

// dirOf is the directory to compare for a volume source: the source if it
// is a directory, else the directory that really holds the file.
func dirOf(src string) (string, error) {
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(real); err == nil && !st.IsDir() {
		return filepath.Dir(real), nil
	}
	return real, nil
}

// planPersist makes the --persist directory absolute and refuses one that
// is not a directory, overlaps the image, or others can enter.
func planPersist(s *Spec) error {
	if s.Persist == "" {
		return nil
	}
	abs, err := filepath.Abs(s.Persist)
	if err != nil {
		return fieldErr("Persist", s.Persist, "{Persist} %q: %w", s.Persist, err)
	}
	if st, err := os.Stat(abs); err == nil && !st.IsDir() {
		return fieldErr("Persist", s.Persist, "{Persist} %q is not a directory: give a directory (it is created if missing)", s.Persist)
	}
	over, err := overlap(abs, s.Rootfs)
	if err != nil {
		return fieldErr("Persist", s.Persist, "{Persist} %q: %w", s.Persist, unwrapPath(err, abs))
	}
	if over {
		return fieldErr("Persist", s.Persist, "{Persist} %q overlaps the rootfs %q: keep the writable layer outside the image", s.Persist, s.Rootfs)
	}
	if st, err := os.Stat(abs); err == nil {
		if err := checkLayerMode(st, s.Persist); err != nil {
			return err
		}
	}
	s.Persist = abs
	return nil
}

// checkVolumesAgainstLayer refuses a read-write volume that is, holds or
// lies in the --persist directory: through it the workload could loosen
// DIR's mode or write into the overlay's work directory. A read-only one
// can do neither.
func checkVolumesAgainstLayer(s *Spec) error {
	if s.Persist == "" {
		return nil
	}
	for _, v := range s.Volumes {
		if v.ReadOnly {
			continue
		}
		dir, err := dirOf(v.Source)
		if err != nil {
			return fieldErr("Volumes", v.Source+":"+v.Target, "invalid {Volumes} %s:%s: %w", v.Source, v.Target, unwrapPath(err, v.Source))
		}
		over, err := overlap(s.Persist, dir)
		if err != nil {
			return fieldErr("Persist", s.Persist, "{Persist} %q: %w", s.Persist, unwrapPath(err, s.Persist))
		}
		if over {
			return fieldErr("Volumes", v.Source+":"+v.Target, "invalid {Volumes} %s:%s: the host path overlaps the {Persist} directory %q; mount it :ro or keep the layer out of it", v.Source, v.Target, s.Persist)
		}
	}
	return nil
}

// checkLayerMode refuses a layer directory that is not the user's own or
// that group or others can traverse. Refused, not tightened: rbox changes
// no mode of a directory it did not create, and the user who made DIR
// 0755 (or shares it) decides; the fix is one chmod, named in the error.
func checkLayerMode(st os.FileInfo, name string) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fieldErr("Persist", name, "{Persist} %q: no owner and mode to check", name)
	}
	if int(sys.Uid) != os.Getuid() {
		return fieldErr("Persist", name, "{Persist} %q belongs to uid %d, not you: use a directory of your own", name, sys.Uid)
	}
	if mode := st.Mode().Perm(); mode&0o011 != 0 {
		return fieldErr("Persist", name, "{Persist} %q has mode %04o: other users could reach files the sandbox makes there (a setuid one, say); chmod 700 %q, or give a new path and rbox creates it 0700", name, mode, name)
	}
	return nil
}

// lockPersist creates DIR 0700 if missing, opens it, checks it on the
// open descriptor (owner, mode), and holds an exclusive lock on it for the
// run.
func lockPersist(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fieldErr("Persist", dir, "{Persist} %q: %w", dir, unwrapPath(err, dir))
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fieldErr("Persist", dir, "{Persist} %q: %w", dir, unwrapPath(err, dir))
	}
	st, err := f.Stat()
	if err == nil {
		err = checkLayerMode(st, dir)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fieldErr("Persist", dir, "{Persist} %q is in use by another rbox sandbox: wait for it or use another directory", dir)
	}
	return func() { f.Close() }, nil
}

// unwrapPath drops the path of an *os.PathError when it is the one the
// caller names already, so a message says it once.
func unwrapPath(err error, named string) error {
	var pe *os.PathError
	if errors.As(err, &pe) && filepath.Clean(pe.Path) == filepath.Clean(named) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// closeLayer makes an existing layer directory 0700, through a descriptor
// opened without following a final symlink, after checking it is the
// user's.
func closeLayer(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if int(st.Uid) != os.Getuid() {
		return fmt.Errorf("it belongs to uid %d, not you", st.Uid)
	}
	return unix.Fchmod(fd, 0o700)
}
