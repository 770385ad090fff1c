// Package cgroupv2 puts a sandbox in a cgroup v2 of its own, with the
// resource limits the user asked for (--memory, --memory-swap, --cpus,
// --pids-limit), and reports what happened there afterwards: whether the
// kernel OOM-killed a process and what the sandbox used (peak memory, CPU
// time, peak number of tasks).
//
// It runs on the host side of the namespace boundary, in the supervisor, as
// the unprivileged user. An unprivileged user can only write to a cgroup
// subtree that was delegated to it, so there are two managers:
//
//   - systemd: asks the user's own systemd (over the session D-Bus) for a
//     transient scope rbox-NAME.scope with Delegate=yes, the limits as unit
//     properties and OOMPolicy=continue, inside a per-sandbox slice
//     app-rbox-NAME.slice. The slice exists so that the statistics survive
//     the sandbox: systemd stops a scope and removes its cgroup as soon as its
//     last process exits, but it leaves an idle slice alone, and the slice's
//     memory.events, memory.peak and cpu.stat count its children.
//   - cgroupfs: when the process already sits in a writable delegated cgroup
//     (for example under `systemd-run --user --scope -p Delegate=yes`, or in a
//     container that was given its own cgroup namespace), it creates
//     CURRENT/rbox-NAME there directly.
//
// Either way the sandbox's cgroup gets two leaves (leaves.go): the init's,
// and the workload's, which holds pids.max, so that --pids-limit counts the
// workload's processes alone; memory and CPU are limited above both.
//
// Auto picks systemd when the user's bus answers, else cgroupfs when the
// current cgroup is delegated, else it fails with the exact reason (a cgroup
// v1 or hybrid host, no user bus, a controller that is not delegated) and the
// fix. The package never reads flags or environment variables itself: the
// caller passes the manager kind, the limits and the bus variables.
//
// Parsing is kept apart from the files and syscalls: ParseMemory, ParseCPUs
// and ParsePids read what users type, and the cgroup files (memory.events,
// cpu.stat, /proc/self/cgroup, ...) are parsed from an io.Reader, so all of it
// is table-tested and fuzzed without a cgroup v2 host. What needs systemd and
// a pure cgroup v2 hierarchy is tested for real in a VM (tests/vm, RBOX_VM=1).
package cgroupv2
