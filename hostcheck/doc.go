// Package hostcheck probes the host for what rbox needs and says, for each
// problem, the exact fix: rbox check prints its report, and rbox exec ends
// an error it can trace to a probe with a "hint:" line naming that probe.
//
// It runs on the host side, as the unprivileged user. Most probes are pure
// functions of the files they read (sysctls, /etc/subuid, helper modes),
// all named in Host so that tests point them at fixtures. The probes that
// matter most are also tried for real: a throwaway user namespace, kernel
// overlayfs and fuse-overlayfs mounted in one over a temporary directory,
// and newuidmap/newgidmap writing the full ID map of a waiting child. Those
// tries re-execute the rbox binary in a hidden helper mode (HelperArg),
// which cmd/rbox dispatches before the CLI parses anything, as it does for
// the sandbox's init.
package hostcheck
