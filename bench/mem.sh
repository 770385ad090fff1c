# mem.sh: section 4, peak RSS of each tool's own processes. Each tool runs
# `sleep 1` in the busybox rootfs; when the sleep appears, benchtool memtree
# reads VmHWM (the peak resident set so far) from /proc/PID/status of the
# launched process and of every descendant, on the host side. The sleep
# itself is left out. Setup is over by then; teardown is not counted.

# mem_tool NAME [-also COMM]... [-anywhere] [-noargs] LAUNCH... : run
# LAUNCH /bin/sleep 1 (LAUNCH alone with -noargs: the sleep is in its
# config) in the background and print one table line per process of its
# tree, and of -also daemons. -anywhere: the sleep is not below LAUNCH
# (podman's container hangs below conmon).
mem_tool() {
	local name=$1 opts=() pid out rc sleep=(/bin/sleep 1)
	shift
	while :; do
		case $1 in
		-also) opts+=(-also "$2"); shift 2 ;;
		-anywhere) opts+=(-anywhere); shift ;;
		-noargs) sleep=(); shift ;;
		*) break ;;
		esac
	done
	"$@" "${sleep[@]}" >/dev/null 2>"$RES/mem-$name.err" &
	pid=$!
	out=$("$TOOL" memtree -pid "$pid" -want sleep "${opts[@]}" -timeout 20s 2>&1)
	rc=$?
	wait "$pid"
	if [ $rc != 0 ]; then
		echo "| $name | – | – | – | not available: $(oneline "$out $(cat "$RES/mem-$name.err")") |"
		return 1
	fi
	echo "$out" | awk -F'\t' -v tool="$name" -v fig="$FIG" '
		/^#/ || $1 == "sleep" { next }
		{
			role = ($3 == 0) ? "launcher" : ($4 == "true" ? "pid 1 / init (ancestor of the workload)" : "helper")
			if ($3 < 0) role = "daemon outside the tree"
			if (tool ~ /^rbox/ && $3 == 0) role = "supervisor"
			if (tool ~ /^rbox/ && $3 == 1 && $4 == "true") role = "init"
			printf "| %s | %s | %s | %.1f | %.1f |\n", tool, $1, role, $5 / 1024, $6 / 1024
			if (tool == "rbox" && role == "supervisor") printf "mem.rbox.supervisor.hwm_kib\t%d\n", $5 >> fig
			if (tool == "rbox" && role == "init") printf "mem.rbox.init.hwm_kib\t%d\n", $5 >> fig
		}' | sort
}

# time_maxrss NAME CMD...: GNU time's maximum RSS over the whole run of
# CMD, teardown included: the largest of CMD and the descendants it waited
# for, since the kernel folds reaped children into it.
time_maxrss() {
	local name=$1 kib
	shift
	[ -x /usr/bin/time ] || return 0
	if kib=$(/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1) && [ -n "$kib" ]; then
		awk -v t="$name" -v k="$kib" 'BEGIN { printf "| %s | whole tree, /usr/bin/time | largest process over the run, exit included | %.1f | – |\n", t, k / 1024 }'
	fi
}

section_mem() {
	local R=$ROOTFS fail=0
	echo "### peak RSS (VmHWM) while the workload runs"
	echo
	echo "| tool | process | role | VmHWM MiB | VmRSS MiB |"
	echo "|---|---|---|--:|--:|"
	mem_tool floor unshare --user --map-root-user --pid --fork --mount --uts --ipc chroot "$R" || fail=1
	mem_tool bwrap bwrap --unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-net \
		--bind "$R" / --proc /proc --dev /dev || fail=1
	[ -f "$WORK/oci/crun/config.json" ] || oci_bundle crun "$WORK/oci/crun" 2>/dev/null
	if [ -f "$WORK/oci/crun/config.json" ]; then
		# The bundle of the start section, with the sleep as its process.
		mkdir -p "$WORK/oci/crun-sleep" && jq '.process.args = ["/bin/sleep", "1"]' "$WORK/oci/crun/config.json" >"$WORK/oci/crun-sleep/config.json"
		mem_tool crun -noargs unshare -rm "$BENCH_DIR/crunwrap.sh" crun --root "$WORK/oci/crun-state" run -b "$WORK/oci/crun-sleep" bench-mem 2>/dev/null
	fi
	mkdir -p "$WORK/podman"
	mem_tool podman -also conmon -also catatonit -anywhere "${PODMAN[@]}" run --rm --network none --rootfs "$R"
	if [ "$RBOX_OK" = 1 ]; then
		mem_tool rbox "$RBOX" exec --net none --rootfs "$R" --
		mem_tool rbox-fuse "$RBOX" exec --net none --overlay fuse --rootfs "$R" --
	else
		echo "| rbox | – | – | – | $RBOX_WHY |"
	fi
	time_maxrss bwrap bwrap --unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-net \
		--bind "$R" / --proc /proc --dev /dev /bin/true
	[ "$RBOX_OK" = 1 ] && time_maxrss rbox "$RBOX" exec --net none --rootfs "$R" -- /bin/true
	echo
	echo "crun: the launcher is crun itself (the wrapper execs it). podman: conmon and the rootless pause process (catatonit) outlive the tree and are listed as daemons; runc is gone by then. VmHWM counts shared pages (libc, the Go runtime's text) in full."
	echo
	[ "$fail" = 0 ]
}
