// Package fetch reads images from registries, OCI layouts, oci-archives
// and docker-archives through go-containerregistry, on the host as the
// user, and hands them to image.Store.Pull.
//
// It is linked only into rbox-pull, not into rbox: go-containerregistry's
// packages and their dependencies cost 0.31 ms of package init in every
// process that links them (GODEBUG=inittrace=1, median of 15 runs of
// rbox exec --rootfs: 0.40 ms → 0.71 ms), and rbox exec runs two.
package fetch
