#!/bin/bash
# podman.sh: rootless podman (Debian's 4.3, conmon) as the test user with
# RUNTIME named in containers.conf ([engine.runtimes], runtime_supports_json,
# runtime_supports_nocgroup), on an image imported from the busybox rootfs,
# under both storage drivers (vfs: a plain directory as root.path;
# overlay: a mounted overlay). Everything (config, storage, run dirs) lives
# in the suite's temp dir. One PASS/FAIL line per scenario and driver.
set -euo pipefail
SUITE=podman
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "podman.sh: run as root (podman runs as $TEST_USER)" >&2; exit 125; }
resolve_runtime
need_test_user
DRIVERS=${DRIVERS:-vfs overlay}
IMAGE=localhost/rbox-busybox
mk_tmp
mk_user_home "$TEST_USER"
stop_pause() { # the rootless pause process that holds podman's user namespace
	local f=$UHOME/run/libpod/tmp/pause.pid
	[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	rm -f "$f"
}
cleanup() {
	for d in $DRIVERS; do P "$d" rm -af -t 0 >/dev/null 2>&1 || true; done
	stop_pause
	rm_tmp
}
trap cleanup EXIT

mkdir -p "$T/bin"
cp "$RUNTIME" "$T/bin/$RUNTIME_NAME"
chmod 0755 "$T/bin" "$T/bin/$RUNTIME_NAME"
mkdir -p "$UHOME/config/containers"
cat >"$UHOME/config/containers/containers.conf" <<CONF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime_supports_json = ["ocitest"]
runtime_supports_nocgroup = ["ocitest"]

[engine.runtimes]
ocitest = ["$T/bin/$RUNTIME_NAME"]
CONF
chown -R "$TEST_USER:" "$UHOME"

# P DRIVER ARGS...: podman as the test user on DRIVER's storage, bounded.
P() {
	local d=$1
	shift
	as_user "$TEST_USER" timeout -k 5 "${PODMAN_TIMEOUT:-60}" podman --runtime ocitest --storage-driver "$d" \
		--root "$UHOME/storage-$d" --runroot "$UHOME/run/r-$d" "$@"
}
# PT DRIVER CMD: a podman command line under script(1), on a terminal.
# script's stdin stays open until the command ends: at an EOF on it script
# hangs the terminal up, and podman then loses a short command's output
# (2 runs in 6 with runc here).
PT() {
	local d=$1 sp rc=0
	shift
	rm -f "$T/stdin"
	mkfifo "$T/stdin"
	sleep 120 >"$T/stdin" &
	sp=$!
	as_user "$TEST_USER" timeout -k 5 60 script -qec "podman --runtime ocitest --storage-driver $d --root $UHOME/storage-$d --runroot $UHOME/run/r-$d $*" /dev/null <"$T/stdin" || rc=$?
	kill "$sp" 2>/dev/null || true
	wait "$sp" 2>/dev/null || true
	return $rc
}
expect_rc() { # WANT CMD...: CMD exits WANT
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || { echo "  exit $rc, want $want: $(head -c 300 "$T/out")"; return 1; }
}
# expect_err WANT PATTERN CMD...: CMD exits WANT and says why. Podman maps
# any failure of the runtime's create to 126, so the code alone would
# pass a runtime that fails everything.
expect_err() {
	local want=$1 pat=$2
	shift 2
	expect_rc "$want" "$@" || return 1
	grep -qiE "$pat" "$T/out" || { echo "  exit $want, but not /$pat/: $(head -c 300 "$T/out")"; return 1; }
}
expect_out() { # WANT CMD...: CMD exits 0 and prints WANT (a grep -E pattern)
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>&1 || rc=$?
	[ "$rc" = 0 ] && grep -qE "$want" "$T/out" || { echo "  exit $rc, want /$want/: $(head -c 300 "$T/out")"; return 1; }
}

as_user "$TEST_USER" sh "$REPO/testdata/mkrootfs.sh" "$UHOME/rootfs" >/dev/null
uid=$(id -u "$TEST_USER")
host_ifs=$(awk -F: 'NR > 2 {gsub(/ /, "", $1); print $1}' /proc/net/dev | sort | tr '\n' ' ')
echo "podman: $(podman --version), runtime $RUNTIME ($("$RUNTIME" --version 2>/dev/null | head -1))"

scenarios() {
	local d=$1 c=web-$1
	if ! tar -C "$UHOME/rootfs" -c . | P "$d" import - "$IMAGE" >/dev/null 2>"$T/import.err"; then
		fail "$d: import the busybox rootfs" "$(head -c 300 "$T/import.err")"
		return
	fi
	check "$d: run --rm echo hi" expect_out '^hi' P "$d" run --rm "$IMAGE" echo hi
	check "$d: exit code 3" expect_rc 3 P "$d" run --rm "$IMAGE" sh -c 'exit 3'
	check "$d: exit code 126 (/etc/hosts as a command)" expect_err 126 'hosts.*permission denied' P "$d" run --rm "$IMAGE" /etc/hosts
	check "$d: exit code 127 (/nonexistent)" expect_err 127 'nonexistent.*(no such file|not found)' P "$d" run --rm "$IMAGE" /nonexistent
	check "$d: run -it under script" expect_out '/dev/pts/[0-9]+' PT "$d" run --rm -it "$IMAGE" tty
	check "$d: run -d" expect_out '^[0-9a-f]{64}' P "$d" run -d --name "$c" "$IMAGE" \
		sh -c 'trap "echo usr1 >/tmp/usr1" USR1; while :; do sleep 0.1; done'
	check "$d: ps shows it running" expect_out "Up .* $c" P "$d" ps
	check "$d: exec" expect_out '^in-container' P "$d" exec "$c" echo in-container
	check "$d: exec -it under script" expect_out '/dev/pts/[0-9]+' PT "$d" exec -it "$c" tty
	kill_usr1() {
		P "$d" kill -s USR1 "$c" >/dev/null || return 1
		for _ in $(seq 50); do
			P "$d" exec "$c" cat /tmp/usr1 2>/dev/null | grep -q usr1 && return 0
			sleep 0.2
		done
		echo "  the container's trap did not see USR1"
		return 1
	}
	check "$d: kill -s USR1" kill_usr1
	stop_t2() { # sh as pid 1 ignores TERM: stop waits 2 s, then kills
		local t0=$SECONDS
		P "$d" stop -t 2 "$c" >/dev/null || return 1
		local took=$((SECONDS - t0))
		[ "$took" -ge 2 ] && [ "$took" -le 15 ] || { echo "  stop -t 2 took ${took}s"; return 1; }
		P "$d" inspect -f '{{.State.Status}}' "$c" | grep -qx exited || { echo "  not exited"; return 1; }
	}
	check "$d: stop -t 2" stop_t2
	restart() {
		P "$d" restart "$c" >/dev/null || return 1
		P "$d" inspect -f '{{.State.Status}}' "$c" | grep -qx running || { echo "  not running after restart"; return 1; }
		P "$d" exec "$c" true
	}
	check "$d: restart" restart
	rm_f() {
		P "$d" rm -f -t 0 "$c" >/dev/null || return 1
		[ -z "$(P "$d" ps -aq)" ] || { echo "  containers left: $(P "$d" ps -a)"; return 1; }
	}
	check "$d: rm -f" rm_f
	net_host() {
		local got
		got=$(P "$d" run --rm --network host "$IMAGE" awk -F: 'NR > 2 {gsub(/ /, "", $1); print $1}' /proc/net/dev | sort | tr '\n' ' ')
		[ "$got" = "$host_ifs" ] || { echo "  interfaces '$got', host's '$host_ifs'"; return 1; }
	}
	check "$d: --network host" net_host
	check "$d: --read-only refuses a write to /" expect_err 1 'read-only file system' P "$d" run --rm --read-only "$IMAGE" touch /x
	check "$d: --read-only leaves /tmp writable" expect_rc 0 P "$d" run --rm --read-only "$IMAGE" touch /tmp/x
	check "$d: --userns=keep-id" expect_out "^$uid\$" P "$d" run --rm --userns=keep-id "$IMAGE" id -u
	none_left() {
		local left
		left=$(P "$d" ps -aq) || return 1
		[ -z "$left" ] || { echo "  containers left: $left"; return 1; }
	}
	check "$d: no container left" none_left
}
for d in $DRIVERS; do scenarios "$d"; done

for d in $DRIVERS; do P "$d" rm -af -t 0 >/dev/null 2>&1 || true; done
stop_pause
sleep 0.5
if leftovers "$T"; then pass "nothing left (processes, mounts)"; else fail "nothing left (processes, mounts)"; fi
summary
