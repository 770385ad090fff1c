package userns

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The system file systems' ops: the plan lays out /proc, /dev and /sys
// (sandbox/planops.go); these add what only the init can say when the
// kernel refuses one.

// mountProc attaches a new procfs, which shows the sandbox's pid
// namespace.
func mountProc(root *os.File, op Op) error {
	err := freshIn(root, op)
	if err == nil {
		return nil
	}
	if refusedAsRevealing(err) {
		return procFallback(root, op, err)
	}
	if errors.Is(err, errMountPoint) {
		return fmt.Errorf("%w: the image's %s must be a directory (or missing), not a symlink or a file; fix the image (rm %s; mkdir %s)", err, op.Target, op.Target, op.Target)
	}
	return fmt.Errorf("%w (a host /proc with parts covered, as in some containers, forbids a new procfs)", err)
}

// mountSysfs attaches a new sysfs: it shows the network namespace it was
// mounted in, and the kernel only lets us mount one for a namespace we
// own (the plan binds the host's /sys with --net host instead).
func mountSysfs(root *os.File, op Op) error {
	err := freshIn(root, op)
	if err != nil && refusedAsRevealing(err) {
		return sysFallback(root, op, err)
	}
	return err
}

// errMountPoint marks a mount point that could not be found or made in
// the image, as opposed to a mount the kernel refused.
var errMountPoint = errors.New("mount point")

// unwrapPathErr keeps only the errno of an error about a host path of the
// merged root: the message names the sandbox path already.
func unwrapPathErr(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
