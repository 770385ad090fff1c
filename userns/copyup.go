package userns

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyTree copies the tree below the directory src into the directory dst
// (the root of a new tmpfs, for OCI's tmpcopyup): directories, regular
// files, symlinks, with their modes and owners. It descends by descriptor
// with O_NOFOLLOW, so no symlink of the image leads it elsewhere; other
// kinds of file (devices, sockets) are left out.
func copyTree(src, dst int) error {
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	if err := copyMeta(dst, "", &st); err != nil {
		return err
	}
	return copyDir(src, dst)
}

func copyDir(src, dst int) error {
	d, err := unix.Openat(src, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(d), "copy")
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := copyEntry(src, dst, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func copyEntry(src, dst int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, 0o700); err != nil {
			return err
		}
		s, err := unix.Openat(src, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(s)
		t, err := unix.Openat(dst, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(t)
		if err := copyDir(s, t); err != nil {
			return err
		}
		return copyMeta(t, "", &st)
	case unix.S_IFREG:
		in, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		fin := os.NewFile(uintptr(in), name)
		defer fin.Close()
		out, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		fout := os.NewFile(uintptr(out), name)
		defer fout.Close()
		if _, err := io.Copy(fout, fin); err != nil {
			return err
		}
		return copyMeta(out, "", &st)
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(src, name, buf)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(string(buf[:n]), dst, name); err != nil {
			return err
		}
		return copyMeta(dst, name, &st)
	}
	return nil
}

// copyMeta gives the copy (fd itself, or name in the directory fd) the
// original's owner and, but for a symlink, its mode. An owner outside the
// sandbox's ID map cannot be given and stays root's.
func copyMeta(fd int, name string, st *unix.Stat_t) error {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if err := unix.Fchownat(fd, name, int(st.Uid), int(st.Gid), flags); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOVERFLOW) {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	if name == "" {
		// fchmodat cannot take AT_EMPTY_PATH; the descriptor's
		// /proc/self/fd link is the file.
		return unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), st.Mode&0o7777)
	}
	return unix.Fchmodat(fd, name, st.Mode&0o7777, 0)
}
