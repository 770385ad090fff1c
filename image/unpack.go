package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
)

// unpacker writes one layer's tar stream below root. It runs in the
// helper as mapped root; every path is resolved inside root (openat2
// RESOLVE_IN_ROOT through pathrs-lite) and the last component is made
// with *at calls that never follow a symlink.
type unpacker struct {
	root     *os.File
	flat     bool
	uids     []idmap.Mapping // the helper's own map, to name IDs it lacks
	gids     []idmap.Mapping
	dirs     []entry // directory metadata, applied last
	info     LayerInfo
	fixRange string // the fix for an ID outside the map
}

// unpack reads a tar stream into root.
func (u *unpacker) unpack(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the layer: %w", err)
		}
		e, err := planEntry(h, u.flat)
		if err != nil {
			return err
		}
		if err := u.apply(e, tr); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
	}
	// Deepest last-seen first, so a read-only parent is closed after its
	// children were filled and no child's creation moves its times.
	for i := len(u.dirs) - 1; i >= 0; i-- {
		if err := u.finishDir(u.dirs[i]); err != nil {
			return fmt.Errorf("entry %q: %w", u.dirs[i].path, err)
		}
	}
	return nil
}

func (u *unpacker) apply(e entry, body io.Reader) error {
	if e.kind == kIgnore {
		return nil
	}
	if e.kind == kDevice {
		u.info.DevicesSkipped++
		return nil
	}
	if !u.flat && e.kind != kWhiteout && e.kind != kOpaque {
		if !idmap.Contains(u.uids, uint32(e.uid)) {
			return fmt.Errorf("owned by uid %d, outside your subordinate ID range: %s", e.uid, u.fixRange)
		}
		if !idmap.Contains(u.gids, uint32(e.gid)) {
			return fmt.Errorf("owned by gid %d, outside your subordinate ID range: %s", e.gid, u.fixRange)
		}
	}
	u.info.Files++
	if e.kind == kOpaque {
		d, err := u.openDir(e.path)
		if err != nil {
			return err
		}
		defer d.Close()
		return unix.Fsetxattr(int(d.Fd()), "user.overlay.opaque", []byte("y"), 0)
	}
	if e.path == "." {
		u.dirs = append(u.dirs, e)
		return u.chown(int(u.root.Fd()), "", e)
	}
	parent, err := pathrs.MkdirAllHandle(u.root, e.dir, 0o755)
	if err != nil {
		return fmt.Errorf("make its directory: %w", err)
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	if e.kind != kDir {
		if err := removeAt(pfd, e.base); err != nil {
			return err
		}
	}
	switch e.kind {
	case kWhiteout:
		return unix.Mknodat(pfd, e.base, unix.S_IFCHR, 0)
	case kDir:
		if err := unix.Mkdirat(pfd, e.base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		// What exists must be a directory, not a symlink planted earlier.
		fd, err := unix.Openat(pfd, e.base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := u.chown(fd, "", e); err != nil {
			return err
		}
		u.dirs = append(u.dirs, e)
		return setXattrs(fd, e.xattrs)
	case kFile:
		fd, err := unix.Openat(pfd, e.base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), e.base)
		defer f.Close()
		n, err := io.Copy(f, body)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		u.info.Size += n
		// chown before chmod: chown clears setuid and setgid.
		if err := u.chown(fd, "", e); err != nil {
			return err
		}
		if err := unix.Fchmod(fd, e.mode); err != nil {
			return err
		}
		if err := setXattrs(fd, e.xattrs); err != nil {
			return err
		}
		return setTimes(pfd, e.base, e)
	case kSymlink:
		if err := unix.Symlinkat(e.link, pfd, e.base); err != nil {
			return err
		}
		if err := u.chown(pfd, e.base, e); err != nil {
			return err
		}
		return setTimes(pfd, e.base, e)
	case kHardlink:
		return u.hardlink(pfd, e)
	case kFIFO:
		if err := unix.Mknodat(pfd, e.base, unix.S_IFIFO|0o600, 0); err != nil {
			return err
		}
		if err := u.chown(pfd, e.base, e); err != nil {
			return err
		}
		if err := unix.Fchmodat(pfd, e.base, e.mode, 0); err != nil {
			return err
		}
		return setTimes(pfd, e.base, e)
	}
	return fmt.Errorf("unknown entry kind %d", e.kind)
}

// hardlink links to a file of this layer, found inside the root; the
// target is linked through its descriptor so that a symlink swapped in
// its place cannot redirect the link to a host file.
func (u *unpacker) hardlink(pfd int, e entry) error {
	t, err := openInRoot(u.root, e.link, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("hard link to %q, not in this layer: %w", e.link, err)
	}
	defer t.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(t.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hard link to the directory %q", e.link)
	}
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(t.Fd())), pfd, e.base, unix.AT_SYMLINK_FOLLOW)
}

// openInRoot resolves p inside root without following its last component.
func openInRoot(root *os.File, p string, flags int) (*os.File, error) {
	dir, base := split(p)
	parent, err := pathrs.OpenatInRoot(root, dir)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	if base == "" {
		// The handle is the file; reopening follows its /proc magic link.
		return pathrs.Reopen(parent, flags&^unix.O_NOFOLLOW)
	}
	fd, err := unix.Openat(int(parent.Fd()), base, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), base), nil
}

func (u *unpacker) openDir(p string) (*os.File, error) {
	h, err := pathrs.MkdirAllHandle(u.root, p, 0o755)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return pathrs.Reopen(h, unix.O_RDONLY|unix.O_DIRECTORY)
}

// finishDir sets a directory's mode and times, after its contents.
func (u *unpacker) finishDir(e entry) error {
	d := u.root
	if e.path != "." {
		var err error
		if d, err = openInRoot(u.root, e.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW); err != nil {
			return err
		}
		defer d.Close()
	}
	if err := unix.Fchmod(int(d.Fd()), e.mode); err != nil {
		return err
	}
	return setTimes(int(d.Fd()), "", e)
}

// chown gives the entry its owner: the tar IDs as they are (the map puts
// them on the subordinate IDs), or nothing when flat (all the user's).
func (u *unpacker) chown(fd int, name string, e entry) error {
	if u.flat {
		return nil
	}
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags = unix.AT_EMPTY_PATH
	}
	return unix.Fchownat(fd, name, e.uid, e.gid, flags)
}

func setTimes(fd int, name string, e entry) error {
	if e.mtime.IsZero() {
		return nil
	}
	at := e.atime
	if at.IsZero() {
		at = e.mtime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(e.mtime.UnixNano())}
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags = unix.AT_EMPTY_PATH
	}
	return unix.UtimesNanoAt(fd, name, ts, flags)
}

func setXattrs(fd int, xs map[string]string) error {
	for k, v := range xs {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			return fmt.Errorf("set xattr %q: %w", k, err)
		}
	}
	return nil
}

// removeAt removes what an earlier entry of the layer left at name, a
// tree included; it never follows a symlink.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = removeContents(fd)
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

func removeContents(dirfd int) error {
	dup, err := unix.Dup(dirfd)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(dup), "dir")
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, removeAt(dirfd, n))
	}
	return errors.Join(errs...)
}
