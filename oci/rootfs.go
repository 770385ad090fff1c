package oci

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The container's mounts are a list of operations applied in order on
// the root: config.json's mounts as Bundle.Mounts gives them, the
// devices, the pivot, then the masks and the read-only paths. Each is one
// function of the Mount kind; a kind the kernel refuses in a user
// namespace falls back to what the host has (sysfs: an rbind of /sys;
// cgroup v1: an rbind of the host's /sys/fs/cgroup; devices: a bind of
// the host's node).

// mountRoot makes the engine's root.path the root of a new mount tree
// and mounts the config's mounts on it, in order.
func (in *initState) mountRoot() error {
	b := in.b
	// Nothing mounted in the container propagates back to the host, and
	// pivot_root refuses a shared root or parent and a bind of an
	// unbindable tree fails: linux.rootfsPropagation is applied to the
	// new root after the pivot.
	// In the caller's own namespace (no mount namespace in the config)
	// its / is left as it is.
	if !in.sharedMount {
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make / a slave: %w", err)
		}
	}
	root := b.Root.Path
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if in.sharedMount && errors.Is(err, unix.EPERM) {
			return fmt.Errorf("root.path %q: bind it: %w: linux.namespaces has no mount namespace, so the mounts are made in the caller's, which it may not mount in: add {\"type\": \"mount\"} (and a user namespace)", root, err)
		}
		return fmt.Errorf("root.path %q: bind it: %w", root, err)
	}
	for i, m := range b.Mounts {
		if err := mountOne(root, m); err != nil {
			return fmt.Errorf("mounts[%d] (%s on %q): %w", i, m.Type, m.Destination, err)
		}
	}
	return mountDevices(root, b.Devices)
}

// inRoot resolves p inside root as if root were /: symlinks are followed
// but never out of it. The result is a host path under root.
func inRoot(root, p string) (string, error) {
	cur := "/"
	parts := strings.Split(path.Clean("/"+p), "/")
	for links := 0; len(parts) > 0; {
		part := parts[0]
		parts = parts[1:]
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		st, err := os.Lstat(filepath.Join(root, next))
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("%q: %w", p, unix.ELOOP)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return filepath.Join(root, cur), nil
}

// mountPoint makes dest (a directory, or a file for a bind of one).
func mountPoint(dest string, file bool) error {
	if st, err := os.Lstat(dest); err == nil {
		if file && st.IsDir() || !file && !st.IsDir() {
			return fmt.Errorf("%q: mount point is a %s, the source is not", dest, map[bool]string{true: "directory", false: "file"}[st.IsDir()])
		}
		return nil
	}
	if !file {
		return os.MkdirAll(dest, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// lockedFlags are the flags of the mount at p that a user namespace may
// not clear on a remount: a bind remount must repeat them.
func lockedFlags(p string) uintptr {
	var st unix.Statfs_t
	if unix.Statfs(p, &st) != nil {
		return 0
	}
	var f uintptr
	for _, x := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_RDONLY, unix.MS_RDONLY},
	} {
		if uintptr(st.Flags)&x.st != 0 {
			f |= x.ms
		}
	}
	return f
}

const remountable = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME | unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC | unix.MS_MANDLOCK

// bindRemount applies flags to the bind at dest, keeping the flags it is
// locked with unless the config asks to clear them (which then fails as
// it would with runc).
func bindRemount(dest string, flags, clear uintptr) error {
	want := flags & remountable
	if want == 0 && clear == 0 {
		return nil
	}
	f := (lockedFlags(dest)&^clear | want) & remountable
	if err := unix.Mount("", dest, "", unix.MS_BIND|unix.MS_REMOUNT|f, ""); err != nil {
		return fmt.Errorf("remount %q: %w", dest, err)
	}
	return nil
}

// recursiveReadOnly makes every mount at and under dest read-only.
func recursiveReadOnly(dest string) error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	return unix.MountSetattr(-1, dest, unix.AT_RECURSIVE|unix.AT_SYMLINK_NOFOLLOW, &attr)
}

func mountOne(root string, m Mount) error {
	dest, err := inRoot(root, m.Destination)
	if err != nil {
		return err
	}
	switch m.Kind {
	case MountBind:
		st, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		if err := mountPoint(dest, !st.IsDir()); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, dest, "", unix.MS_BIND|m.Flags&unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %q: %w", m.Source, err)
		}
		if err := bindRemount(dest, m.Flags, m.Clear); err != nil {
			return err
		}
	case MountSysfs:
		if err := mountPoint(dest, false); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, dest, "sysfs", m.Flags, m.Data); err != nil {
			// A user namespace that does not own the network namespace
			// may not mount a sysfs: show the host's, read-only.
			if err := unix.Mount("/sys", dest, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("rbind /sys: %w", err)
			}
			if m.Flags&unix.MS_RDONLY != 0 {
				return recursiveReadOnly(dest)
			}
		}
	case MountCgroup:
		if err := mountPoint(dest, false); err != nil {
			return err
		}
		if m.Type == "cgroup2" {
			if err := unix.Mount(m.Source, dest, "cgroup2", m.Flags, m.Data); err == nil {
				break
			}
		}
		// cgroup v1 (the hierarchies of a hybrid host), or a cgroup2
		// the kernel refused: the host's tree, read-only as asked.
		if err := unix.Mount("/sys/fs/cgroup", dest, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("rbind /sys/fs/cgroup: %w", err)
		}
		if m.Flags&unix.MS_RDONLY != 0 {
			return recursiveReadOnly(dest)
		}
	case MountTmpfs:
		if err := mountPoint(dest, false); err != nil {
			return err
		}
		var old int = -1
		if m.CopyUp {
			if old, err = unix.Open(dest, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				return fmt.Errorf("tmpcopyup: %w", err)
			}
			defer unix.Close(old)
		}
		if err := unix.Mount(m.Source, dest, "tmpfs", m.Flags&^unix.MS_RDONLY, m.Data); err != nil {
			return err
		}
		if old >= 0 {
			if err := copyTree(fmt.Sprintf("/proc/self/fd/%d", old), dest); err != nil {
				return fmt.Errorf("tmpcopyup: %w", err)
			}
		}
		if m.Flags&unix.MS_RDONLY != 0 {
			if err := unix.Mount("", dest, "", unix.MS_REMOUNT|m.Flags, m.Data); err != nil {
				return err
			}
		}
	case MountDevpts:
		if err := mountPoint(dest, false); err != nil {
			return err
		}
		err := unix.Mount(m.Source, dest, "devpts", m.Flags, m.Data)
		if errors.Is(err, unix.EINVAL) && strings.Contains(m.Data, "gid=") {
			// gid=5 (tty) is not mapped in a namespace of one ID.
			err = unix.Mount(m.Source, dest, "devpts", m.Flags, dropOption(m.Data, "gid="))
		}
		if err != nil {
			return err
		}
	case MountMqueue:
		if err := mountPoint(dest, false); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, dest, "mqueue", m.Flags, m.Data); err != nil {
			if err := unix.Mount("/dev/mqueue", dest, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("mqueue, and a bind of the host's /dev/mqueue: %w", err)
			}
		}
	default: // proc, overlay
		if err := mountPoint(dest, false); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, dest, string(m.Kind), m.Flags, m.Data); err != nil {
			return err
		}
	}
	for _, p := range m.Propagation {
		if err := unix.Mount("", dest, "", p, ""); err != nil {
			return fmt.Errorf("propagation: %w", err)
		}
	}
	return nil
}

func dropOption(data, prefix string) string {
	var keep []string
	for _, o := range strings.Split(data, ",") {
		if !strings.HasPrefix(o, prefix) {
			keep = append(keep, o)
		}
	}
	return strings.Join(keep, ",")
}

// copyTree copies what was at a tmpfs's destination into it
// (tmpcopyup), keeping modes and owners.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, _ := info.Sys().(*unix.Stat_t)
		switch {
		case rel == ".":
			os.Chmod(dst, info.Mode().Perm())
		case d.IsDir():
			if err := os.Mkdir(dst, info.Mode().Perm()); err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(t, dst); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := copyFile(p, dst, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // device nodes and sockets are not copied
		}
		if st != nil {
			os.Lchown(dst, int(st.Uid), int(st.Gid))
		}
		return nil
	})
}

func copyFile(from, to string, mode fs.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

// defaultDevices are the nodes every container has (runtime-spec
// "Default Devices").
var defaultDevices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}

// mountDevices makes the default devices and linux.devices: by mknod
// where allowed, else as a bind of the host's node at the same path.
func mountDevices(root string, devs []specs.LinuxDevice) error {
	seen := map[string]bool{}
	for _, d := range devs {
		seen[d.Path] = true
		if err := makeDevice(root, d.Path, &d); err != nil {
			return fmt.Errorf("linux.devices %q: %w", d.Path, err)
		}
	}
	for _, p := range defaultDevices {
		if !seen[p] {
			if err := makeDevice(root, p, nil); err != nil {
				return fmt.Errorf("device %q: %w", p, err)
			}
		}
	}
	dev := filepath.Join(root, "dev")
	for link, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		os.Symlink(target, filepath.Join(dev, link))
	}
	if _, err := os.Stat(filepath.Join(dev, "pts", "ptmx")); err == nil {
		p := filepath.Join(dev, "ptmx")
		if st, err := os.Lstat(p); err == nil && st.Mode()&fs.ModeSymlink == 0 {
			// A node of the host's devpts: the container's own is pts/ptmx.
			if unix.Mount(filepath.Join(dev, "pts", "ptmx"), p, "", unix.MS_BIND, "") != nil {
				return fmt.Errorf("bind /dev/pts/ptmx on /dev/ptmx")
			}
		} else {
			os.Symlink("pts/ptmx", p)
		}
	}
	return nil
}

func makeDevice(root, p string, d *specs.LinuxDevice) error {
	dest, err := inRoot(root, p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if d != nil {
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode) & 0o7777
		}
		var t uint32
		switch d.Type {
		case "c", "u":
			t = unix.S_IFCHR
		case "b":
			t = unix.S_IFBLK
		case "p":
			t = unix.S_IFIFO
		}
		os.Remove(dest)
		err := unix.Mknod(dest, t|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
		if err == nil {
			// mknod applies the runtime's umask; fileMode is the node's.
			if err := unix.Chmod(dest, mode); err != nil {
				return err
			}
			if d.UID != nil || d.GID != nil {
				uid, gid := -1, -1
				if d.UID != nil {
					uid = int(*d.UID)
				}
				if d.GID != nil {
					gid = int(*d.GID)
				}
				os.Chown(dest, uid, gid)
			}
			return nil
		}
		if !errors.Is(err, unix.EPERM) {
			return err
		}
	}
	if err := mountPoint(dest, true); err != nil {
		return err
	}
	if err := unix.Mount(p, dest, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind the host's %q: %w", p, err)
	}
	return nil
}

// pivot makes the root the process's /, then hides the masked paths and
// makes the read-only ones (and with root.readonly, /) read-only.
func (in *initState) pivot() error {
	b := in.b
	root := b.Root.Path
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("root.path %q: %w", root, err)
	}
	if in.sharedMount {
		// pivot_root would change the root of every process of the
		// caller's namespace: only this one's changes.
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot to %q: %w", root, err)
		}
	} else {
		if err := unix.PivotRoot(".", "."); err != nil {
			return fmt.Errorf("pivot_root to %q: %w", root, err)
		}
		// The old root is stacked under the new one; make it a slave so
		// its unmount does not reach the host, then detach it.
		if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("old root: %w", err)
		}
		if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
			return fmt.Errorf("detach the old root: %w", err)
		}
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if p, ok := propagationFlags[b.RootfsPropagation]; ok {
		if err := unix.Mount("", "/", "", p, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %q: %w", b.RootfsPropagation, err)
		}
	}
	// Before the read-only paths, /proc/sys among them.
	for k, v := range b.Sysctl {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("linux.sysctl %s: %w", k, err)
		}
	}
	for _, p := range b.ReadonlyPaths {
		if err := readOnlyPath(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths %q: %w", p, err)
		}
	}
	for _, p := range b.MaskedPaths {
		if err := maskPath(p); err != nil {
			return fmt.Errorf("linux.maskedPaths %q: %w", p, err)
		}
	}
	if b.Root.Readonly {
		if err := bindRemount("/", unix.MS_RDONLY, 0); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	return nil
}

func readOnlyPath(p string) error {
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return bindRemount(p, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, 0)
}

func maskPath(p string) error {
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0k")
	}
	return unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
}
