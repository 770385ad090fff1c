package sandbox

import (
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
)

// Checks of the host's files that need the ID plan, made before anything
// starts so that a failure is one line naming the flag, not the errno of
// a step inside the namespaces.

// checkRootfsReadable refuses an image whose root or /etc the sandbox's
// root cannot read and search. That root has CAP_DAC_OVERRIDE only over
// files whose owner and group are mapped; over any other file it has
// exactly the user's own permissions.
func checkRootfsReadable(rootfs string, plan idmap.Plan) error {
	for _, p := range []string{rootfs, filepath.Join(rootfs, "etc")} {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue // missing, or a symlink the init resolves inside the image
		}
		if mappedOutside(plan.UID, st.Uid) && mappedOutside(plan.GID, st.Gid) {
			continue
		}
		if unix.Access(p, unix.R_OK|unix.X_OK) == nil {
			continue
		}
		return fieldErr("Rootfs", rootfs, "{Rootfs} %q: %q (owner uid %d, mode %04o) cannot be read by the sandbox's root, which has your permissions on files of IDs it does not map; make the image readable by you (chmod -R a+rX, or chown -R to you)", rootfs, p, st.Uid, st.Mode&0o7777)
	}
	return nil
}

// mappedOutside reports whether the host ID id is mapped by ms.
func mappedOutside(ms []idmap.Mapping, id uint32) bool {
	for _, m := range ms {
		if id >= m.Outside && uint64(id) < uint64(m.Outside)+uint64(m.Count) {
			return true
		}
	}
	return false
}

// The start writes a handful of files into the writable layer
// (/etc/hostname, /etc/hosts, mount points, the overlay's work
// directory); below these the overlay fails half-way, or comes up
// read-only when it cannot make its work directory.
const (
	minFreeInodes = 32
	minFreeBytes  = 256 << 10
)

// checkLayerSpace refuses a writable layer on a filesystem that is out of
// space or inodes: dir is the --persist directory (persist) or the state
// directory.
func checkLayerSpace(dir string, persist bool) error {
	what := "layer directory"
	if persist {
		what = "{Persist}"
	}
	// A --persist directory may not exist yet: its parent's filesystem
	// is the one it will be made on.
	if base, err := existingBase(dir); err == nil {
		dir = base
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return nil // the steps that use dir will say what is wrong
	}
	// Some filesystems (btrfs) report no inode counts at all.
	if fs.Files > 0 && fs.Ffree < minFreeInodes {
		return fieldErr("Persist", dir, what+": the filesystem of the writable layer %q has %d free inodes (df -i %q): free some, or "+elsewhere(persist), dir, fs.Ffree, dir)
	}
	if free := fs.Bavail * uint64(fs.Bsize); free < minFreeBytes {
		return fieldErr("Persist", dir, what+": the filesystem of the writable layer %q has %d KiB free (df %q): free some space, or "+elsewhere(persist), dir, free>>10, dir)
	}
	return nil
}

func elsewhere(persist bool) string {
	if persist {
		return "give {Persist} a directory on another filesystem"
	}
	return "use {Persist} DIR on another filesystem"
}
