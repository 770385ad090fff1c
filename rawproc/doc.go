// Package rawproc holds what rbox's three hand-written children share:
// the workload's (userns/forkexec.go), the init's (userns/cloneinit.go)
// and the OCI runtime's joining step (oci/spawn.go). Each clones a child
// that may do nothing but raw syscalls over memory its parent prepared,
// and each child reports a failing step and its errno the same way.
//
// The parent side: Signals.Clone (the runtime's handlers found, every
// signal blocked on the locked thread across the clone, the mask put back),
// MapResult (the shared page of a child that writes its own copy of our
// memory), Wait (the reaping of a child that failed) and AllCaps. The
// child side, every function nosplit and norace, as
// syscall.forkAndExecInChild1 is: Signals.Reset, Caps.Set, Ambient.Raise,
// Execve, Exit, Fail.
//
// The clones themselves stay with their callers: their flags differ, and
// the init's (CLONE_VM) needs an assembly syscall that its caller calls
// directly (userns/vfork_*.s).
package rawproc
