package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Env is what the CLI read from its environment for the state root.
type Env struct {
	// RuntimeDir is $XDG_RUNTIME_DIR; "" when unset or not a directory.
	RuntimeDir string
	// TempDir is $TMPDIR, or /tmp.
	TempDir string
	// Home is $HOME, or the passwd entry's home when HOME is unset; ""
	// when there is none. The fallback root is recorded there.
	Home string
	UID  int
}

// Root is the resolved state root of every rbox command.
type Root struct {
	Path string
	// Notice, when set, is one line for stderr: the usual root belongs to
	// another user and Path is a private fallback.
	Notice string
}

// recordFile is where, under the home directory, a fallback root is
// recorded for the next command to find.
const recordFile = ".cache/rbox/state-root"

// Resolve finds the state root: $XDG_RUNTIME_DIR/rbox, else
// $TMPDIR/rbox-UID. Another user can create $TMPDIR/rbox-UID before us,
// and in a sticky /tmp we cannot remove it; then the root is a fresh
// private directory made with mkdtemp in $TMPDIR, recorded under the home
// directory so that every command finds the same one. Every candidate is
// opened with OpenRoot.
func Resolve(env Env) (*Root, error) {
	if env.RuntimeDir != "" {
		dir := filepath.Join(env.RuntimeDir, "rbox")
		f, err := OpenRoot(dir, env.UID)
		if err != nil {
			var fe *ForeignError
			if errors.As(err, &fe) && !fe.yours(env.UID) {
				return nil, fmt.Errorf("%w: set XDG_RUNTIME_DIR to a private directory of yours", err)
			}
			return nil, err
		}
		f.Close()
		return &Root{Path: dir}, nil
	}
	tmp := env.TempDir
	if tmp == "" {
		tmp = "/tmp"
	}
	usual := filepath.Join(tmp, "rbox-"+strconv.Itoa(env.UID))
	f, err := OpenRoot(usual, env.UID)
	if err == nil {
		f.Close()
		return &Root{Path: usual}, nil
	}
	var fe *ForeignError
	if !errors.As(err, &fe) || fe.yours(env.UID) {
		return nil, err
	}
	if env.Home == "" {
		return nil, fmt.Errorf("%w, and with no home directory rbox has nowhere to record a private one: set XDG_RUNTIME_DIR to a private directory of yours", err)
	}
	dir, record, err := fallback(env, tmp, usual)
	if err != nil {
		return nil, fmt.Errorf("state directory %q belongs to uid %d; a private fallback failed: %w; set XDG_RUNTIME_DIR to a private directory of yours", usual, fe.Owner, err)
	}
	return &Root{Path: dir, Notice: fmt.Sprintf("%s belongs to uid %d, not to you, and cannot be removed by you: using %s instead (recorded in %s); set XDG_RUNTIME_DIR=DIR, a private directory of yours, to choose the root",
		usual, fe.Owner, dir, record)}, nil
}

// fallback returns the recorded fallback root, or makes and records a
// fresh one. The record's directory is held locked meanwhile, so that two
// first runs at once agree on one root.
func fallback(env Env, tmp, usual string) (dir, record string, err error) {
	record = filepath.Join(env.Home, recordFile)
	// A record that others could swap would undo the point of it.
	var st unix.Stat_t
	if err := unix.Stat(env.Home, &st); err != nil {
		return "", "", fmt.Errorf("home directory %q: %w", env.Home, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != env.UID || st.Mode&0o022 != 0 {
		return "", "", fmt.Errorf("home directory %q is not a directory of yours that only you can write", env.Home)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Dir(record)), 0o700); err != nil {
		return "", "", err
	}
	rd, err := OpenRoot(filepath.Dir(record), env.UID)
	if err != nil {
		return "", "", err
	}
	defer rd.Close()
	if err := unix.Flock(int(rd.Fd()), unix.LOCK_EX); err != nil {
		return "", "", fmt.Errorf("lock %q: %w", rd.Name(), err)
	}
	prefix := filepath.Base(usual) + "-"
	if dir, ok := readRecord(record, env.UID); ok && filepath.Dir(dir) == filepath.Clean(tmp) && strings.HasPrefix(filepath.Base(dir), prefix) {
		if f, err := openRoot(dir, env.UID, false); err == nil {
			f.Close()
			return dir, record, nil
		}
	}
	dir, err = os.MkdirTemp(tmp, prefix)
	if err != nil {
		return "", "", err
	}
	f, err := openRoot(dir, env.UID, false)
	if err != nil {
		return "", "", err
	}
	f.Close()
	// A new file renamed over the old: a symlink planted in its place is
	// replaced, never followed.
	w, err := os.CreateTemp(filepath.Dir(record), ".state-root-")
	if err == nil {
		_, err = fmt.Fprintln(w, dir)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(w.Name(), record)
		}
		if err != nil {
			os.Remove(w.Name())
		}
	}
	if err != nil {
		os.Remove(dir)
		return "", "", fmt.Errorf("record %q: %w", record, err)
	}
	return dir, record, nil
}

// readRecord reads the recorded root, if the record is a regular file of
// uid's that nobody else may write, opened without following a symlink.
func readRecord(path string, uid int) (string, bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != uid || st.Mode&0o022 != 0 {
		return "", false
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", false
	}
	dir := strings.TrimSpace(string(b))
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return "", false
	}
	return dir, true
}
