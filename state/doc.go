// Package state owns rbox's per-user state root on the host side: where it
// is, and that it is really the user's. Every command opens the root
// through Resolve, so a directory another local user prepared in a shared
// /tmp (a meta.json naming one of our pids, a lock they hold, a listening
// enter socket) is never read, written or believed. It also holds the two
// checks that make a sandbox's records trustworthy: whether a sandbox's
// supervisor still holds its lock (LockHeld), and whether a recorded pid
// is still the process that was recorded (OpenProcess).
//
// Nothing here reads the environment: cmd/rbox passes XDG_RUNTIME_DIR,
// TMPDIR and HOME in an Env.
package state
