// Package overlay prepares a sandbox's copy-on-write root filesystem.
//
// Prepare runs on the host side, in the supervisor: it creates the upper and
// work directories (in the sandbox's private state directory, or in the
// user's --persist directory). Mount runs inside the sandbox's user and mount
// namespaces, in the init: it mounts kernel overlayfs (Linux >= 5.11 allows
// that in a user namespace, with user.* xattrs) or, where the kernel refuses,
// runs fuse-overlayfs; the init calls it as its overlay op through MountOp,
// which cmd/rbox hands to the init (userns imports nothing of this
// package). The image directory is only ever a lower layer: no
// code path here opens it for writing.
package overlay
