package userns

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// reapStale removes the directories the supervisor could not: what
// killed sandboxes left, or a --persist layer being deleted. It runs before
// the pivot, by path, and keeps no descriptor: a descriptor of a host
// directory held by the init is a way out of the sandbox through
// /proc/1/fd for any workload allowed to ptrace it.
func reapStale(cfg *Config) error {
	var errs []error
	for _, dir := range cfg.Reap {
		if err := removeAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %q: %w", dir, err))
		}
	}
	return errors.Join(errs...)
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
