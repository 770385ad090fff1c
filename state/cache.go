package state

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ReadCache reads the file name in the state root dir of the current
// user, a cache that another rbox run wrote with WriteCache. The root is
// checked as OpenRoot checks it and the file is opened relative to it
// without following symlinks; a missing file is an error that
// errors.Is(err, os.ErrNotExist).
func ReadCache(dir, name string) ([]byte, error) {
	root, err := openRoot(dir, os.Getuid(), false)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fd, err := unix.Openat(int(root.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir + "/" + name, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir+"/"+name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("cache %q is not a regular file", f.Name())
	}
	// A cache is a line or two; more is not one of ours.
	return io.ReadAll(io.LimitReader(f, 64<<10))
}

// WriteCache replaces the file name in the state root dir with data: a
// new file (mode 0600) renamed over the old one, so that a reader sees
// the old content or the new, never a part.
func WriteCache(dir, name string, data []byte) error {
	root, err := OpenRoot(dir, os.Getuid())
	if err != nil {
		return err
	}
	defer root.Close()
	dfd := int(root.Fd())
	tmp := "." + name + "." + strconv.Itoa(os.Getpid())
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("write cache %q: %w", dir+"/"+name, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("write cache %q: %w", dir+"/"+name, err)
	}
	return nil
}
