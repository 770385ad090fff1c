// Package userns creates a sandbox's namespaces and runs its init.
//
// The code here runs on both sides of the namespace boundary:
//
//   - Host side (start.go, sync.go): the supervisor re-executes the rbox
//     binary as "rbox __init" with CLONE_NEWUSER and the other namespace flags
//     (a multi-threaded Go process cannot unshare a user namespace, so the
//     namespaces must be created at clone time), sends it a Config over a
//     socketpair and later the "go" message, once the ID maps are written.
//   - Inside (init.go and the rest): the init is PID 1 of the new pid
//     namespace and root of the new user namespace. It builds the root
//     filesystem (mounts.go, dev.go), pivots into it, starts the workload
//     (exec.go), reaps zombies, forwards signals, cleans the ephemeral upper
//     layer and reports the exit status.
//
// The sync protocol is drawn in sync.go.
package userns
