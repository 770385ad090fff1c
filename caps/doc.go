// Package caps names Linux capabilities, computes the set a workload gets
// from --cap-add and --cap-drop (docker/podman semantics), and says what
// capset(2) takes to apply it.
//
// Resolve, the name tables and CapsetData are pure and run anywhere (the
// supervisor validates flags with them, host side). The init's forked
// child applies the set to itself before execve (userns/forkexec.go)
// with raw syscalls over CapsetData's words; ApplyToThread does the same
// for one locked thread of a Go program (its tests show the kernel's
// rules below at work).
//
// What the workload ends up holding is decided at its execve, by the
// kernel's rules in capabilities(7):
//
//   - A process running as uid 0 inside the user namespace gets, on execve,
//     permitted = inheritable | bounding (root's file sets are treated as
//     full), and effective = permitted. So the bounding set (inheritable
//     stays empty) is what a root
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
