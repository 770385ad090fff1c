package overlay

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// BindRoot is the way out when neither driver mounts and the sandbox asked
// for no writable layer (--read-only): the image, one directory, is bound
// read-only as it is, recursively, and rbox's generated files are bound
// read-only over the image's own. Nothing of the image is copied. What a
// read-only tree cannot get is a new mount point: a generated file the
// image lacks is left out (said once), a mount point the sandbox needs
// and the image lacks fails the start, on one line.
type BindRoot struct {
	// Files are the generated files (/etc/hosts, /etc/hostname,
	// /etc/resolv.conf), absolute paths inside the image.
	Files []File `json:"files,omitempty"`
	// MountPoints are the paths inside the image that the sandbox's later
	// mounts (/proc, /dev, /sys, /tmp, volumes) are attached on.
	MountPoints []string `json:"mountPoints,omitempty"`
}

// File is one generated file.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// bindAttrs are the bound image's: read-only, as the sandbox asked, and no
// devices, as the overlay has none.
const bindAttrs = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV

// mountBind binds the image read-only on target, then the generated files
// over the image's. why is what refused both drivers, for the messages.
// It returns the notice to print.
func mountBind(c Config, target, why string) (string, error) {
	b := c.Bind
	if len(c.Lowers) > 1 {
		return "", fmt.Errorf("no overlay here (%s), and an image of %d layers cannot be one read-only bind: only an overlay merges layers", why, len(c.Lowers))
	}
	lower := c.Lower
	if len(c.Lowers) == 1 {
		lower = c.Lowers[0]
	}
	img, err := os.OpenFile(lower, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open the image %q: %w", lower, err)
	}
	defer img.Close()
	// Checked before anything is mounted: a start that would fail on a
	// missing mount point fails here, on one line naming them all.
	var lacks []string
	for _, p := range b.MountPoints {
		if f, err := pathrs.OpenatInRoot(img, p); err != nil {
			lacks = append(lacks, p)
		} else {
			f.Close()
		}
	}
	if len(lacks) > 0 {
		return "", fmt.Errorf("no overlay here (%s), and the image %q has no %s, where the sandbox mounts: a read-only bind of it cannot get new mount points; add them to the image", why, lower, strings.Join(lacks, ", "))
	}
	tree, err := unix.OpenTree(int(img.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return "", fmt.Errorf("bind the image %q: open_tree: %w", lower, err)
	}
	defer unix.Close(tree)
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: bindAttrs}); err != nil {
		return "", fmt.Errorf("bind the image %q: make it read-only: %w", lower, err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return "", fmt.Errorf("bind the image %q on %q: %w", lower, target, err)
	}
	missing, err := bindFiles(target, b.Files)
	if err != nil {
		unix.Unmount(target, unix.MNT_DETACH)
		return "", err
	}
	n := fmt.Sprintf("no overlay here (%s): the read-only root is the image %q bound as it is", why, lower)
	if len(missing) > 0 {
		n += fmt.Sprintf("; it has no %s, so the sandbox goes without rbox's (an empty file in the image gets it)", strings.Join(missing, ", "))
	}
	return n, nil
}

// bindFiles writes the generated files into a tmpfs that is never
// attached (the sandbox's mountinfo shows no host path for them) and binds
// each, read-only, over the image's file at its path in the bound root at
// target. It returns the paths the image lacks: a read-only tree cannot
// get a mount point.
func bindFiles(target string, files []File) ([]string, error) {
	if len(files) == 0 {
		return nil, nil
	}
	root, err := os.OpenFile(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the bound root %q: %w", target, err)
	}
	defer root.Close()
	var missing []string
	var points []*os.File
	defer func() {
		for _, p := range points {
			p.Close()
		}
	}()
	var present []File
	for _, f := range files {
		h, err := pathrs.OpenatInRoot(root, f.Path)
		var st unix.Stat_t
		if err == nil && unix.Fstat(int(h.Fd()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			points = append(points, h)
			present = append(present, f)
			continue
		}
		if h != nil {
			h.Close()
		}
		missing = append(missing, f.Path)
	}
	if len(present) == 0 {
		return missing, nil
	}
	fs, err := filesMount(present)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fs)
	for i, f := range present {
		name := fileName(i, f)
		t, err := unix.OpenTree(fs, name, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("bind the sandbox's %s: open_tree: %w", f.Path, err)
		}
		err = unix.MountSetattr(t, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: bindAttrs | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC})
		if err == nil {
			err = unix.MoveMount(t, "", int(points[i].Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
		}
		unix.Close(t)
		if err != nil {
			return nil, fmt.Errorf("bind the sandbox's %s: %w", f.Path, err)
		}
	}
	return missing, nil
}

// fileName is the name of the i-th generated file in their tmpfs, which
// the sandbox's mountinfo shows as the bind's root.
func fileName(i int, f File) string { return fmt.Sprintf("%d-%s", i, path.Base(f.Path)) }

// filesMount makes the detached tmpfs that holds the generated files,
// 0644 each (the user's umask must not make them unreadable).
func filesMount(files []File) (int, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("the generated files' tmpfs: fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	for _, o := range [][2]string{{"mode", "0755"}, {"size", "1m"}} {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return -1, fmt.Errorf("the generated files' tmpfs: %s=%s: %w", o[0], o[1], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("the generated files' tmpfs: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("the generated files' tmpfs: fsmount: %w", err)
	}
	for i, f := range files {
		if err := writeAt(mfd, fileName(i, f), f.Content); err != nil {
			unix.Close(mfd)
			return -1, fmt.Errorf("write the sandbox's %s: %w", f.Path, err)
		}
	}
	return mfd, nil
}

// writeAt creates the file name in the directory dir with content.
func writeAt(dir int, name, content string) error {
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		return err
	}
	return f.Chmod(0o644)
}

// The words of a refusal, for the messages of Mount.

// kernelCause says why the kernel refused the overlay, where its errno
// alone does not: the kernel logs the reasons of a refused lower layer
// (stacking depth, mounts it cannot clone) only to dmesg.
func kernelCause(c Config, err error) string {
	switch {
	case errors.Is(err, unix.EPERM):
		return "overlayfs is refused in this user namespace (Linux 5.11 or later allows it, unless the distribution turned it off)"
	case errors.Is(err, unix.ENODEV):
		return "this kernel has no overlayfs"
	case !errors.Is(err, unix.EINVAL):
		return ""
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range c.lowers() {
		if below := mountsBelow(string(mounts), l); below != "" {
			return fmt.Sprintf("the lower %q has mounts below it (%s), locked in this user namespace (they came from outside it), which overlayfs cannot clone", l, below)
		}
	}
	for _, l := range c.lowers() {
		var fs unix.Statfs_t
		if unix.Statfs(l, &fs) == nil && noUpper[int64(fs.Type)] == "overlayfs" {
			return fmt.Sprintf("the lower %q is on overlayfs, which stacks at most two deep", l)
		}
	}
	return ""
}

// mountsBelow names the first mount points strictly below dir in a
// mountinfo table, or "".
func mountsBelow(mountinfo, dir string) string {
	dir = path.Clean(dir)
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	var below []string
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp != dir && strings.HasPrefix(mp, prefix) {
			below = append(below, mp)
		}
	}
	switch {
	case len(below) == 0:
		return ""
	case len(below) > 3:
		return strings.Join(below[:3], ", ") + fmt.Sprintf(" and %d more", len(below)-3)
	}
	return strings.Join(below, ", ")
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return s[0] <= '3'
}
