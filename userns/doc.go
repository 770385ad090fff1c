// Package userns creates a sandbox's namespaces and runs its init.
//
// The code here runs on both sides of the namespace boundary:
//
//   - Host side (start.go): the supervisor re-executes the rbox binary as
//     "rbox __init" with CLONE_NEWUSER and the other namespace flags
//     (CloneFlags; a multi-threaded Go process cannot unshare a user
//     namespace, so the namespaces must be created at clone time), hands
//     it the sync socket by name (package childfd), then "go" once the ID
//     maps are written, the Config, and "start" to release the workload.
//   - Inside (init.go and the rest): the init is PID 1 of the new pid
//     namespace and root of the new user namespace. It builds the root
//     filesystem by applying the plan's list of operations in order
//     (Config.Ops, op.go; applied in apply.go, mounts.go, dev.go,
//     harden.go, cgroup.go), pivots into it as the list says, reports
//     "ready" and waits for "start", starts the workload (exec.go), reaps
//     zombies, forwards signals and reports the exit status. It also
//     serves rbox enter (enter.go). It decides no policy: the two ops
//     whose code lives elsewhere (the overlay mount, the network's child
//     side) are functions the caller hands to Main (Externals), so this
//     package imports neither overlay nor slirp.
//   - The reaper (reaper.go, "rbox __reap") is an entry point of its own:
//     it shares the init's first steps and the sync protocol, removes the
//     directories it is given as mapped root, and builds nothing.
//   - Both (sync.go): the protocol between the two, drawn there: framing,
//     the messages, and the receive of each side, which names what it
//     expects and turns anything else into a *SyncError.
package userns
