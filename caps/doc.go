// Package caps names Linux capabilities, computes the set a workload gets
// from --cap-add and --cap-drop (docker/podman semantics), and applies that
// set to one thread.
//
// Resolve and the name tables are pure and run anywhere (the supervisor
// validates flags with them, host side). ApplyToThread runs inside the
// namespaces, in the init, on the locked thread that then starts the
// workload: capabilities are per thread, and a child forked from that
// thread inherits them.
//
// What the workload ends up holding is decided at its execve, by the
// kernel's rules in capabilities(7):
//
//   - A process running as uid 0 inside the user namespace gets, on execve,
//     permitted = inheritable | bounding (root's file sets are treated as
//     full), and effective = permitted. So the bounding set that
//     ApplyToThread writes (inheritable stays empty) is what a root
//     workload holds. Those
//     capabilities are relative to the user namespace: they never grant
//     anything over the host's resources.
//   - A workload running as a non-zero uid gets no capabilities at all:
//     changing uid away from 0 clears permitted and effective, and execve of
//     a file without file capabilities grants none (ambient is cleared, and
//     no_new_privs keeps setuid and file capabilities from raising them).
//
// The bounding set also caps what any later execve can gain, so dropping
// from it is the part that cannot be undone inside the sandbox.
package caps
