# lib.sh: helpers shared by the sections (sourced by run.sh, bash).
# Every measured command runs as the current, unprivileged user.

# Sizes: the full bench against the smoke run (one run each, small data).
if [ "$SMOKE" = 1 ]; then
	ROUNDS=1 RUNS=1 WARMUP=0
else
	# Five rounds of twenty runs: each round runs every command in a
	# rotated order, so slow drifts of the machine spread over all rows.
	ROUNDS=${BENCH_ROUNDS:-5} RUNS=${BENCH_RUNS:-20} WARMUP=${BENCH_WARMUP:-3}
fi

log() { printf 'bench: %s\n' "$*" >&2; }

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }

machine() {
	local cpu mem os
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
	os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
	echo "| machine | |"
	echo "|---|---|"
	echo "| OS, kernel | $os, Linux $(uname -r) |"
	echo "| CPU | $(nproc) × ${cpu:-unknown}, $mem RAM |"
	echo "| cgroups | $(stat -f -c %T /sys/fs/cgroup) at /sys/fs/cgroup$([ -d /sys/fs/cgroup/unified ] && echo ', cgroup2 at /sys/fs/cgroup/unified (hybrid)') |"
	echo "| work directory | $WORK on $(stat -f -c %T "$WORK") |"
	echo "| user | $(id -un) ($(id -u)), subuid $(grep "^$(id -un):" /etc/subuid | head -1 | cut -d: -f2-) |"
	echo "| tools | hyperfine $(pkgver hyperfine), bubblewrap $(pkgver bubblewrap), crun $(pkgver crun), runc $(pkgver runc), podman $(pkgver podman), rootlesskit $(pkgver rootlesskit), slirp4netns $(pkgver slirp4netns), passt/pasta $(pkgver passt), fuse-overlayfs $(pkgver fuse-overlayfs), iperf3 $(pkgver iperf3), busybox $(pkgver busybox-static) |"
	echo "| rbox | $([ -x "$RBOX" ] && "$RBOX" version 2>/dev/null | head -1 || echo "not built ($RBOX)") |"
	echo
}

# make_rootfs DIR: a minimal busybox rootfs owned by this user.
make_rootfs() {
	local dir=$1 bb=/bin/busybox a
	"$bb" --list >/dev/null 2>&1 || { log "$bb is not busybox: apt-get install busybox-static"; return 1; }
	rm -rf "$dir"
	mkdir -p "$dir" && cd "$dir" || return 1
	mkdir -p bin sbin etc proc dev sys tmp && chmod 1777 tmp || return 1
	cp "$bb" bin/busybox || return 1
	for a in $("$bb" --list); do
		[ "$a" = busybox ] || ln -s busybox "bin/$a"
	done
	printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >etc/passwd
	printf 'root:x:0:\nnogroup:x:65534:\n' >etc/group
	cd - >/dev/null
}

# oneline TEXT: the first line of TEXT, safe inside a table cell.
oneline() { printf '%s' "$1" | head -1 | tr '\t|' '  ' | cut -c1-120; }

# rbox_probe sets RBOX_OK and RBOX_WHY: rbox rows run only when bin/rbox
# exists and a trial run works.
rbox_probe() {
	RBOX_OK=0
	if [ ! -x "$RBOX" ]; then
		RBOX_WHY="not available: $RBOX not built (make build)"
	elif err=$(timeout 60 "$RBOX" exec --net none --rootfs "$ROOTFS" -- /bin/true 2>&1 >/dev/null); then
		RBOX_OK=1 RBOX_WHY=""
	else
		RBOX_WHY="not available: trial run failed: $(oneline "$err")"
	fi
	log "rbox: ${RBOX_WHY:-works}"
}

# Rows of a hyperfine section. row_init SECT starts one; row NAME LABEL
# CMD... adds a command after a trial run (a failing trial makes the row
# "not available" with the reason); row_required does the same but a
# failing trial is a harness failure; row_na NAME LABEL REASON records a
# row that cannot run. Commands must not need a shell: hyperfine -N splits
# them on blanks (paths here have none).
row_init() {
	ROW_SECT=$1 ROW_NAMES=() ROW_CMDS=()
	: >"$RES/$1.rows"
}
row_na() { printf '%s\t%s\t%s\n' "$1" "$2" "$(oneline "$3")" >>"$RES/$ROW_SECT.rows"; }
row() {
	local name=$1 label=$2 err
	shift 2
	if err=$(timeout 120 "$@" 2>&1 >/dev/null); then
		printf '%s\t%s\t\n' "$name" "$label" >>"$RES/$ROW_SECT.rows"
		ROW_NAMES+=("$name")
		ROW_CMDS+=("$*")
		return 0
	fi
	row_na "$name" "$label" "not available: trial failed: $err"
	log "$ROW_SECT/$name: trial failed: $(oneline "$err")"
	return 1
}
row_required() {
	row "$@" || { log "$ROW_SECT/$1 is a reference row and must work"; return 1; }
}
# row_rbox NAME LABEL CMD...: an rbox row, or its reason for not running.
row_rbox() {
	if [ "$RBOX_OK" = 1 ]; then row "$@"; else row_na "$1" "$2" "$RBOX_WHY"; fi
	return 0
}

# hf_run TITLE [benchtool flags]: ROUNDS hyperfine runs over the section's
# rows, each in a rotated order, then the table.
hf_run() {
	local title=$1 n=${#ROW_NAMES[@]} r i j args jsons=()
	shift
	if [ "$n" -gt 0 ]; then
		for ((r = 0; r < ROUNDS; r++)); do
			args=()
			for ((i = 0; i < n; i++)); do
				j=$(((i + r) % n))
				args+=(-n "${ROW_NAMES[j]}" "${ROW_CMDS[j]}")
			done
			log "$ROW_SECT: round $((r + 1))/$ROUNDS"
			# hyperfine's outlier warnings are noise here (the tables say
			# what is noisy); its errors are shown.
			timeout 900 hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" \
				--export-json "$RES/$ROW_SECT-r$r.json" "${args[@]}" >/dev/null 2>"$RES/$ROW_SECT-r$r.err" ||
				{ cat "$RES/$ROW_SECT-r$r.err" >&2; log "$ROW_SECT: hyperfine failed"; return 1; }
			jsons+=("$RES/$ROW_SECT-r$r.json")
		done
	fi
	"$TOOL" hyperfine -title "$title" -rows "$RES/$ROW_SECT.rows" -figures "$FIG" -prefix "$ROW_SECT" "$@" "${jsons[@]}"
}

# fig KEY VALUE: record a figure for the goals table.
fig() { printf '%s\t%s\n' "$1" "$2" >>"$FIG"; }

# user_procs: "pid comm" of this user's live processes, without the
# caller's own command substitution. Zombies are left out: this machine's
# PID 1 reaps orphans lazily (bwrap's pid 1 and podman's pause process
# linger as zombies for a moment after their parent exits).
user_procs() {
	local me=$BASHPID
	ps -u "$(id -u)" -o pid=,ppid=,stat=,comm= | awk -v me="$me" '$1 != me && $2 != me && $3 !~ /^Z/ { print $1 " " $4 }'
}

# Podman keeps a pause process and storage owned by subordinate IDs: stop
# the one and remove the other from inside podman's user namespace.
PODMAN_SHM_LOCK=/dev/shm/libpod_rootless_lock_$(id -u)
PODMAN_SHM_LOCK_OURS=1
[ -e "$PODMAN_SHM_LOCK" ] && PODMAN_SHM_LOCK_OURS=0
PODMAN=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/runroot" --runtime runc
	--cgroup-manager cgroupfs --events-backend file)
cleanup_user() {
	local pid
	if [ -d "$WORK/podman" ]; then
		"${PODMAN[@]}" unshare rm -rf "$WORK/podman/root" 2>/dev/null
		for f in "$XDG_RUNTIME_DIR"/libpod/tmp/pause.pid; do
			[ -f "$f" ] && pid=$(cat "$f") && kill "$pid" 2>/dev/null
		done
		rm -rf "$WORK/podman" 2>/dev/null
		# Podman's lock lives in /dev/shm whatever --root says.
		[ "$PODMAN_SHM_LOCK_OURS" = 1 ] && rm -f "$PODMAN_SHM_LOCK"
	fi
	return 0
}
