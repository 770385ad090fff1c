// Package state owns rbox's per-user state root on the host side: where it
// is, and that it is really the user's. Every command opens the root
// through Resolve, so a directory another local user prepared in a shared
// /tmp (a meta.json naming one of our pids, a lock they hold, a listening
// enter socket) is never read, written or believed. It also holds the two
// checks that make a sandbox's records trustworthy: whether a sandbox's
// supervisor still holds its lock (LockHeld), and whether a recorded pid
// is still the process that was recorded (OpenProcess).
//
// Each sandbox's share of the root is a Box: ROOT/ID/ (meta.json, a
// detached sandbox's log, layer/), the lock ROOT/ID.lock its supervisor
// holds for the run, and the name ROOT/names/NAME. NewBox makes them and
// sweeps what killed supervisors left; Meta is the record rbox ps, wait,
// kill, logs and rm read, with a Status that also names the OCI states
// (creating, created, running, stopped).
//
// Nothing here reads the environment: cmd/rbox passes XDG_RUNTIME_DIR,
// TMPDIR and HOME in an Env.
package state
