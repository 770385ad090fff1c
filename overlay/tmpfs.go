package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DefaultLayerSize bounds a writable layer on a tmpfs (--layer-size): the
// layer lives in memory, charged to whoever runs rbox, so it is capped well
// below tmpfs's own default of half the RAM.
const DefaultLayerSize = "1g"

// TmpfsLayer puts the writable layer of an ephemeral overlay on a tmpfs
// that the init mounts in the sandbox's own mount namespace: the host sees
// only an empty mount point, and the layer vanishes with the namespace.
type TmpfsLayer struct {
	// Dir is the host directory the tmpfs is mounted on; upper and work
	// are made in it.
	Dir  string `json:"dir"`
	Size string `json:"size"`
}

// Filesystem magic numbers (statfs f_type) of the filesystems that cannot
// hold an overlay's upper layer: overlayfs itself (the state of an rbox or a
// container inside another), and network or userspace filesystems that lack
// the xattrs, whiteouts or d_type overlayfs needs.
var noUpper = map[int64]string{
	0x794c7630: "overlayfs",
	0x6969:     "NFS",
	0x65735546: "FUSE",
	0xff534d42: "CIFS",
	0xfe534d42: "SMB2",
}

// UnfitForUpper names the filesystem under dir when overlayfs cannot use
// it as an upper layer, and returns "" when it can (or statfs cannot say:
// the mount will).
func UnfitForUpper(dir string) string {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return ""
	}
	return noUpper[int64(fs.Type)]
}

// PrepareTmpfs makes the mount point of a tmpfs layer under dir and returns
// the layer's description and the upper and work paths the overlay will
// use once the tmpfs is mounted there.
func PrepareTmpfs(dir, size string) (t *TmpfsLayer, upper, work string, err error) {
	mp := filepath.Join(dir, "tmpfs")
	if err := os.Mkdir(mp, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, "", "", fmt.Errorf("create %q: %w", mp, errno(err))
	}
	return &TmpfsLayer{Dir: mp, Size: size}, filepath.Join(mp, "upper"), filepath.Join(mp, "work"), nil
}

// mountTmpfsLayer mounts the tmpfs and makes upper (with the mode of the
// image's root, which the merged root takes) and work in it. It runs in
// the init, in the sandbox's mount namespace.
func mountTmpfsLayer(c Config) error {
	t := c.Tmpfs
	st, err := os.Stat(c.Lower)
	if err != nil {
		return fmt.Errorf("rootfs %q: %w", c.Lower, err)
	}
	// No nosuid or nodev: the workload never sees this mount (the overlay
	// on top decides what runs), and overlayfs makes whiteouts as devices.
	data := "mode=0700,size=" + t.Size
	if err := unix.Mount("rbox-layer", t.Dir, "tmpfs", 0, data); err != nil {
		return fmt.Errorf("mount the writable layer's tmpfs (size %s) on %q: %w", t.Size, t.Dir, err)
	}
	mode := uint32(st.Mode().Perm())
	if st.Mode()&os.ModeSticky != 0 {
		mode |= unix.S_ISVTX
	}
	if err := unix.Mkdir(c.Upper, 0o700); err != nil {
		return fmt.Errorf("create %q: %w", c.Upper, err)
	}
	if err := unix.Chmod(c.Upper, mode); err != nil {
		return fmt.Errorf("chmod %q: %w", c.Upper, err)
	}
	if err := unix.Mkdir(c.Work, 0o700); err != nil {
		return fmt.Errorf("create %q: %w", c.Work, err)
	}
	return nil
}
