// Package idmap plans and applies the ID mappings of a sandbox's user
// namespace.
//
// It runs on the host side, in the supervisor. A plan maps container ID 0 to
// the invoking user and container IDs 1..N to the user's subordinate ranges
// from /etc/subuid and /etc/subgid. The plan is pure data (tested with tables
// and fuzzing); Apply turns it into newuidmap/newgidmap invocations against
// the child's pid, or, for the single mapping, writes /proc/PID/uid_map itself,
// which an unprivileged process may do for its own ID alone.
package idmap
