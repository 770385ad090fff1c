// Package cgroupv1 is the small cgroup v1 manager of rbox-runtime, for
// hosts that mount the v1 hierarchies under /sys/fs/cgroup (Debian's
// hybrid layout without systemd among them). It makes the container's
// cgroup in every v1 hierarchy the runtime uses (memory, cpu, cpuacct,
// cpuset, pids, freezer, devices, blkio and the others that are
// mounted), writes linux.resources of config.json into their files
// (Files, a pure translation that is table-tested), starts a process
// inside it, freezes and thaws it through freezer.state, lists its
// processes from cgroup.procs and removes it.
//
// Only root of the host's user namespace can do any of this on v1: an
// unprivileged user gets no v1 cgroup delegated, so rbox-runtime runs a
// rootless container without one (as crun does) and never calls this
// package then.
package cgroupv1
