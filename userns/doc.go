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
//     filesystem (mounts.go, dev.go), pivots into it, reports "ready" and
//     waits for "start", starts the workload (exec.go), reaps zombies,
//     forwards signals, cleans the ephemeral upper layer and reports the
//     exit status. It also serves rbox enter (enter.go).
//   - Both (sync.go): the protocol between the two, drawn there: framing,
//     the messages, and the receive of each side, which names what it
//     expects and turns anything else into a *SyncError.
package userns
