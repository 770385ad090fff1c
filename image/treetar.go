package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"syscall"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
)

// TreeIDs decides the image ID of each host owner of a tree given to
// rbox image import. Whose tree it is decides how its IDs read:
//
//   - Own (the tree's root is the user's: unpacked by rbox, podman
//     unshare, or by hand): the map is run backwards, so the user is root
//     and a subordinate ID is the image ID it stands for; any other owner
//     has no meaning in the image and is refused.
//   - otherwise (root's tree: debootstrap, a distribution's rootfs,
//     /opt/images/x): the IDs are the image's own, as root's tools wrote
//     them, so host root is image root and uid N stays N; the unpacker
//     then puts N where rbox exec -u N runs. N beyond the map is refused.
//
// Flat (no subordinate IDs): the unpacker gives every file to the user,
// so every ID passes.
type TreeIDs struct {
	Own  bool
	Flat bool
	Plan idmap.Plan
	User string // for the fix in messages
}

// ID maps one host uid (gid with gid) to the image's, or explains why not.
func (t TreeIDs) ID(host uint32, gid bool) (uint32, error) {
	ms, kind := t.Plan.UID, "uid"
	if gid {
		ms, kind = t.Plan.GID, "gid"
	}
	if t.Flat {
		return host, nil
	}
	size := idmap.Size(ms)
	if t.Own {
		for _, m := range ms {
			if host >= m.Outside && host-m.Outside < m.Count {
				return m.Inside + host - m.Outside, nil
			}
		}
		return 0, fmt.Errorf("belongs to %s %d, neither you nor one of your subordinate IDs, so it has no ID in the image: chown it to you or to an ID of your range", kind, host)
	}
	if uint64(host) < size {
		return host, nil
	}
	return 0, fmt.Errorf("belongs to %s %d, beyond your map of %d %ss (0-%d): chown it below %d, or give %s a larger range in /etc/subuid and /etc/subgid", kind, host, size, kind, size-1, size, t.User)
}

// WriteTree writes the tree under dir as a tar stream to w: every entry
// but dir itself, never following a symlink, owners mapped by ids, hard
// links kept (by inode), sockets left out (nothing can carry one).
//
// The tree may be another user's, who can change it while it is read. So
// the walk goes by descriptors, never by path: each entry is opened with
// O_PATH|O_NOFOLLOW relative to its parent's descriptor, judged by fstat
// of that descriptor, and only a directory or regular file so judged is
// reopened (through the descriptor) to be read. A directory swapped for a
// symlink after its parent was listed is then written as that symlink and
// never entered: a walk by path would follow it and copy whatever it
// leads to, the user's own private files, into the image.
func WriteTree(w io.Writer, dir string, ids TreeIDs) error {
	root, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return treeErr(dir, err)
	}
	defer root.Close()
	t := &treeWalk{tw: tar.NewWriter(w), ids: ids, links: map[[2]uint64]string{}}
	if err := t.dir(root, dir, ""); err != nil {
		return err
	}
	return t.tw.Close()
}

type treeWalk struct {
	tw    *tar.Writer
	ids   TreeIDs
	links map[[2]uint64]string // first name of each multiply linked file
}

// dir writes the entries of the open directory d, host path p, whose name
// in the archive is rel ("" for the tree's root), depth first in name
// order.
func (t *treeWalk) dir(d *os.File, p, rel string) error {
	names, err := d.Readdirnames(-1)
	if err != nil {
		return treeErr(p, err)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := t.entry(d, filepath.Join(p, n), path.Join(rel, n), n); err != nil {
			return err
		}
	}
	return nil
}

// entry writes the entry name of the directory parent.
func (t *treeWalk) entry(parent *os.File, p, rel, name string) error {
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return treeErr(p, &os.PathError{Op: "open", Path: p, Err: err})
	}
	h := os.NewFile(uintptr(fd), p)
	defer h.Close()
	fi, err := h.Stat()
	if err != nil {
		return treeErr(p, err)
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil
	}
	target := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = readlinkFD(fd); err != nil {
			return treeErr(p, err)
		}
	}
	hdr, err := tar.FileInfoHeader(fi, target)
	if err != nil {
		return treeErr(p, err)
	}
	hdr.Name = rel
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	st := fi.Sys().(*syscall.Stat_t)
	uid, err := t.ids.ID(st.Uid, false)
	if err != nil {
		return fmt.Errorf("%q %w", p, err)
	}
	gid, err := t.ids.ID(st.Gid, true)
	if err != nil {
		return fmt.Errorf("%q %w", p, err)
	}
	hdr.Uid, hdr.Gid = int(uid), int(gid)
	if fi.Mode().IsRegular() && st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := t.links[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			t.links[key] = hdr.Name
		}
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		d, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return treeErr(p, err)
		}
		defer d.Close()
		return t.dir(d, p, rel)
	case hdr.Typeflag == tar.TypeReg:
		f, err := pathrs.Reopen(h, unix.O_RDONLY)
		if err != nil {
			return treeErr(p, err)
		}
		defer f.Close()
		if _, err := io.CopyN(t.tw, f, hdr.Size); err != nil {
			return fmt.Errorf("read %q: %w (it changed while being imported?)", p, err)
		}
	}
	return nil
}

// readlinkFD reads the target of the symlink that fd (O_PATH) is.
func readlinkFD(fd int) (string, error) {
	for n := 256; ; n *= 2 {
		b := make([]byte, n)
		m, err := unix.Readlinkat(fd, "", b)
		if err != nil {
			return "", err
		}
		if m < n {
			return string(b[:m]), nil
		}
	}
}

func treeErr(p string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("read %q: permission denied: make it readable to you, or import a tarball that root made of the tree (tar -C DIR -cf - . | rbox image import - NAME)", p)
	}
	return fmt.Errorf("read %q: %w", p, err)
}
