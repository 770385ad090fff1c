package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

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
func WriteTree(w io.Writer, dir string, ids TreeIDs) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return treeErr(p, err)
		}
		if p == dir {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return treeErr(p, err)
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		target := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return treeErr(p, err)
			}
		}
		hdr, err := tar.FileInfoHeader(fi, target)
		if err != nil {
			return treeErr(p, err)
		}
		rel, _ := filepath.Rel(dir, p)
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		st := fi.Sys().(*syscall.Stat_t)
		uid, err := ids.ID(st.Uid, false)
		if err != nil {
			return fmt.Errorf("%q %w", p, err)
		}
		gid, err := ids.ID(st.Gid, true)
		if err != nil {
			return fmt.Errorf("%q %w", p, err)
		}
		hdr.Uid, hdr.Gid = int(uid), int(gid)
		if fi.Mode().IsRegular() && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = hdr.Name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return treeErr(p, err)
		}
		defer f.Close()
		if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
			return fmt.Errorf("read %q: %w (it changed while being imported?)", p, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func treeErr(p string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("read %q: permission denied: make it readable to you, or import a tarball that root made of the tree (tar -C DIR -cf - . | rbox image import - NAME)", p)
	}
	return fmt.Errorf("read %q: %w", p, err)
}
