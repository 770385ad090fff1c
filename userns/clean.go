package userns

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// layers holds descriptors of the ephemeral upper and work directories,
// opened before the pivot: afterwards no path leads back to them.
type layers struct {
	fds  []int
	once sync.Once
}

func openLayers(cfg *Config) (*layers, error) {
	l := &layers{}
	for _, dir := range cfg.Reap {
		if err := removeAll(dir); err != nil {
			debugf(cfg, "removing stale %q: %v", dir, err)
		}
	}
	if !cfg.Ephemeral {
		return l, nil
	}
	for _, dir := range []string{cfg.Rootfs.Upper, cfg.Rootfs.Work} {
		fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0)
		if err != nil {
			return nil, failure(125, "open %q: %w", dir, err)
		}
		l.fds = append(l.fds, fd)
	}
	return l, nil
}

// clean empties the writable layer. The overlay may still be mounted as our
// root; nothing will look at it again.
func (l *layers) clean() {
	l.once.Do(func() {
		for _, fd := range l.fds {
			removeContents(fd)
			unix.Close(fd)
		}
	})
}

// removeAll removes a directory tree by path, as mapped root.
func removeAll(dir string) error {
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	err = removeContents(fd)
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Rmdir(dir)
}

// removeContents deletes everything below the directory fd, descending by
// descriptor with O_NOFOLLOW so that no symlink a workload planted can turn
// the walk elsewhere.
func removeContents(dirfd int) error {
	dup, err := unix.Dup(dirfd)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(dup), "dir")
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("read directory: %w", err)
	}
	var errs []error
	for _, name := range names {
		err := unix.Unlinkat(dirfd, name, 0)
		if err == nil || errors.Is(err, unix.ENOENT) {
			continue
		}
		if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
			errs = append(errs, err)
			continue
		}
		sub, err := unix.Openat(dirfd, name, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, removeContents(sub))
		unix.Close(sub)
		errs = append(errs, unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR))
	}
	return errors.Join(errs...)
}
