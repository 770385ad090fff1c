package main

// The detailed help of each command (kong's HelpProvider): shown by
// rbox CMD --help below the one-line summary, above the flags.

func (execCmd) Help() string {
	return `Runs CMD as root of a new user namespace (your own uid outside) over a
copy-on-write view of the image; the image directory is never written.
Exit status: the command's, 128+N for signal N, 124 after --timeout,
125 for rbox's own failures. Errors that a host problem explains end
with "hint: run rbox check (probe NAME)".

Examples:
  rbox exec --rootfs ./img -- sh                         # a throwaway shell
  rbox exec -t --rootfs ./img -- sh                      # with a terminal
  rbox exec --rootfs ./img -u user -w /home/user -- id   # as the image's user
  rbox exec --rootfs ./img -v "$PWD:/src:ro" -e CI=1 -- make -C /src
  rbox exec --rootfs ./img --persist ./layer -- sh       # keep what it writes
  rbox exec -d --name web --rootfs ./img -- httpd -f     # in the background
  rbox exec -p 8080:80 --rootfs ./img -- httpd -f -p 80  # host port 8080, all addresses
  rbox exec -p 127.0.0.1:5353:53/udp --rootfs ./img -- ./dns   # loopback only, UDP
  rbox exec --net none --rootfs ./img -- ./build.sh      # no network but lo
  rbox exec --net slirp:allow-host-loopback --rootfs ./img -- nc 10.0.2.2 5432  # host's 127.0.0.1
  rbox exec --rootfs ./img --timeout 5m --status-json st.json -- ./ci.sh`
}

func (psCmd) Help() string {
	return `Examples:
  rbox ps                # running sandboxes
  rbox ps -a             # exited detached sandboxes too
  rbox ps --json | jq -r '.[].name'`
}

func (enterCmd) Help() string {
	return `Runs CMD in the running sandbox NAME: its namespaces, root, cgroup,
capabilities, no_new_privs and seccomp filter, started by the sandbox's
init as the workload was. Environment, directory and user default to the
workload's. Exit status and signals as for rbox exec; if rbox enter is
killed, CMD is killed too.

Examples:
  rbox enter web -- ps                    # what runs in "web"
  rbox enter -t web -- sh                 # a shell with a terminal
  rbox enter -u user -w /tmp -e DEBUG=1 web -- ./probe.sh`
}

func (logsCmd) Help() string {
	return `Examples:
  rbox logs web          # what the detached sandbox "web" printed so far
  rbox logs -f web       # and keep following it while it runs`
}

func (killCmd) Help() string {
	return `Examples:
  rbox kill web          # SIGTERM to the workload
  rbox kill -s KILL web
  rbox kill -s HUP web`
}

func (waitCmd) Help() string {
	return `Exits with the workload's status, as rbox exec would have.

Examples:
  rbox wait web; echo "web exited with $?"`
}

func (rmCmd) Help() string {
	return `Removes the state of exited detached sandboxes, their writable layer
included unless it was a --persist directory.

Examples:
  rbox rm web
  rbox rm $(rbox ps -a --json | jq -r '.[] | select(.running | not) | .name')`
}

func (removeLayerCmd) Help() string {
	return `Files that the sandbox gave to subordinate IDs cannot be deleted by
you directly; this deletes them as root of a user namespace with your map.

Examples:
  rbox remove-layer ./layer`
}

func (checkCmd) Help() string {
	return `Prints one line per probe, "ok" or "not ok" with the exact fix below
it, then which features work here (exec, full ID map, overlay, slirp,
limits). The probes that matter are tried for real: a throwaway sandbox's
namespaces, your full ID map written by newuidmap and newgidmap, and
kernel overlayfs and fuse-overlayfs mounted in a user namespace. Exits 0
when rbox exec with default flags works here, 1 when it cannot.

Examples:
  rbox check
  rbox check --json | jq '.probes[] | select(.status == "fail")'`
}

func (versionCmd) Help() string {
	return `Examples:
  rbox version
  rbox --version`
}

func (completionCmd) Help() string {
	return `The script completes commands, flags, enum values, files and
directories, and the names of your sandboxes (from rbox ps -a).

Examples:
  source <(rbox completion bash)                    # in ~/.bashrc
  rbox completion zsh > "${fpath[1]}/_rbox"         # zsh, then restart it
  rbox completion fish > ~/.config/fish/completions/rbox.fish`
}

func (cli) Help() string {
	return `Examples:
  rbox check                                   # can this host run sandboxes? how to fix it
  rbox exec --rootfs ./img -- sh               # a throwaway shell in the image
  rbox exec -d --name web -p 8080:80 --rootfs ./img -- httpd -f -p 80
  rbox ps; rbox logs web; rbox kill web; rbox rm web

"rbox CMD --help" shows each command's flags and examples.`
}
