package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
)

// A tree whose owners the ID map does not show (root unpacked it, or
// another user owns it) is seen inside as the overflow ID. Root of the
// sandbox may read it as anyone may, but kernel overlayfs cannot copy such
// a file up (it would have to chown the copy to an unmapped ID), so the
// first write to it fails. fuse-overlayfs with squash_to_root can: it
// shows the tree as root's and makes its copies as the user.

// foreignOwner names an owner of the tree's root or of its /etc that the
// map does not show ("/etc is owned by uid 0"), or "". Only these two are
// looked at, not the whole tree, to keep the start path lean: they are
// what the first write of nearly any workload copies up.
func foreignOwner(rootfs string, plan idmap.Plan) string {
	for _, p := range []string{rootfs, filepath.Join(rootfs, "etc")} {
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		what := "the tree"
		if p != rootfs {
			what = "its /etc"
		}
		switch {
		case !idmap.MapsHost(plan.UID, st.Uid):
			return fmt.Sprintf("%s is owned by uid %d", what, st.Uid)
		case !idmap.MapsHost(plan.GID, st.Gid):
			return fmt.Sprintf("%s is owned by gid %d", what, st.Gid)
		}
	}
	return ""
}

// chooseOverlay settles the overlay driver for the tree: under auto a tree
// of foreign owners gets fuse-overlayfs (a notice says so) unless nothing
// is ever copied up: --read-only with the generated files in their own
// layer. It returns the notice or warning line to print, if any, and an
// error when the tree cannot be made writable.
func chooseOverlay(c *overlay.Config, spec *Spec, plan idmap.Plan) (string, error) {
	who := foreignOwner(spec.Rootfs, plan)
	if who == "" {
		return "", nil
	}
	c.SquashToRoot = true // only ever read by the fuse driver
	switch {
	case spec.ReadOnly && c.Generated != "":
		return "", nil
	case spec.Overlay == overlay.Kernel:
		return fmt.Sprintf("warning: --rootfs %q: %s, outside the sandbox's ID map: under --overlay kernel the workload cannot write to the tree's files (--overlay fuse can)", spec.Rootfs, who), nil
	case spec.Overlay == overlay.Fuse:
		return "", nil
	}
	if c.FuseOverlayFS == "" {
		// Under --read-only the generated files still go into the upper
		// here (no layer of their own), so offering --read-only again
		// would send the user round in a circle.
		if spec.ReadOnly {
			return "", fieldErr("Rootfs", spec.Rootfs, "{Rootfs} %q: %s, outside the sandbox's ID map, and kernel overlayfs cannot copy such files up for the generated /etc files: install fuse-overlayfs (apt-get install fuse-overlayfs)", spec.Rootfs, who)
		}
		return "", fieldErr("Rootfs", spec.Rootfs, "{Rootfs} %q: %s, outside the sandbox's ID map, and kernel overlayfs cannot copy such files up: install fuse-overlayfs (apt-get install fuse-overlayfs), or run with {ReadOnly}", spec.Rootfs, who)
	}
	c.Driver = overlay.Fuse
	return fmt.Sprintf("notice: --rootfs %q: %s, outside the sandbox's ID map: using fuse-overlayfs, which can copy its files up", spec.Rootfs, who), nil
}

// generatedLayer writes the generated /etc files into dir/etc (0644, the
// user's; etc/ with the image's /etc mode) for the overlay to stack above
// the image, and returns dir; or "" when they must be written into the
// writable layer as before: a --persist layer (its upper may hold copies
// of earlier runs, which would cover the layer's), or an image whose /etc
// is not a directory (a symlink, resolved inside the image by the init).
//
// As a lower layer the files cover the image's without a copy-up of /etc
// and without a mount (a bind would show the state directory's host path
// in the sandbox's mountinfo); a workload that edits one (sed -i too)
// copies the user's file up, which works whoever owns the tree.
func generatedLayer(dir string, spec *Spec, files []etcFile) (string, error) {
	if spec.Persist != "" || dir == "" {
		return "", nil
	}
	mode := os.FileMode(0o755)
	if fi, err := os.Lstat(filepath.Join(spec.Rootfs, "etc")); err == nil {
		if !fi.IsDir() {
			return "", nil
		}
		mode = fi.Mode().Perm()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	etc := filepath.Join(dir, "etc")
	if err := os.MkdirAll(etc, 0o700); err != nil {
		return "", fmt.Errorf("create %q: %w", etc, err)
	}
	// Owner rwx stays: the teardown removes the files by name.
	if err := os.Chmod(etc, mode|0o700); err != nil {
		return "", fmt.Errorf("chmod %q: %w", etc, err)
	}
	for _, f := range files {
		if err := writeGenerated(dir, f.Path, f.Content); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// writeGenerated writes one generated file into the layer dir. The mode is
// set explicitly: the user's umask must not make it unreadable to the
// sandbox's other users.
func writeGenerated(dir, name, content string) error {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if err == nil {
		_, err = f.WriteString(content)
		if err == nil {
			err = f.Chmod(0o644)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write the sandbox's %s: %w", name, err)
	}
	return nil
}
