// Package slirp gives a sandbox its network: the modes (none, host, slirp,
// pasta), the user-mode stack that connects a network namespace to the
// world without root (slirp4netns, run by rbox itself, or pasta, through
// rootlesskit's network driver), published ports (rootlesskit's builtin
// port driver), and the sandbox's resolv.conf.
//
// Each side runs where the namespaces put it. Parse, Check and Start run in
// the supervisor on the host; MakeTap, ConfigureChild and ServePorts run in the
// sandbox's init, inside its network namespace, before it pivots away from
// the host's filesystem (the port driver's socket lives there), called as
// the init's network op through ChildOp, which cmd/rbox hands to the init
// (userns imports nothing of this package).
package slirp
