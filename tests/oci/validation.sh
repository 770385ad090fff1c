#!/bin/bash
# validation.sh [root|rootless|both]: every runtime-tools validation
# program (validation/* of opencontainers/runtime-tools v0.9.0, built by
# deps.sh) against RUNTIME, as root and rootless (inside `podman unshare`
# as the test user), and a table: program, ok/total assertions, pass or
# fail. A program passes fully when it exits 0 with a non-empty TAP plan
# whose every assertion is ok. The runtime is called through a wrapper
# that adds --root under the suite's temp dir, so nothing it records lands
# in the host's state and what is left can be seen; RUNTIME_FLAGS are more
# global flags for it, HIDE_UNIFIED=1 hides the cgroup v2 half of the
# hybrid layout from it (crun), PROGS='linux_cgroups_.*|delete_.*' (an
# extended regular expression matching whole names) selects programs.
# Fails when fewer programs pass fully than MIN_ROOT / MIN_ROOTLESS
# (default: the runtime's own counts here, runc's for any other runtime;
# docs/OCI.md), or
# when a process or mount is left.
set -euo pipefail
SUITE=validation
. "$(dirname "$0")/lib.sh"
mode=${1:-both}
case $mode in root | rootless | both) ;; *)
	echo "validation.sh: mode $mode: want root, rootless or both" >&2
	exit 125
	;;
esac
[ "$(id -u)" = 0 ] || { echo "validation.sh: run as root (the rootless half runs as $TEST_USER)" >&2; exit 125; }
resolve_runtime
[ "$mode" = root ] || need_test_user
# The guard: what each runtime passes fully on this host (docs/OCI.md),
# so that a program it stops passing fails the suite. rbox-runtime's
# guard is the issue's bar, crun's counts here (it measured 34 and 23);
# runs differ by one program at times under load (pidfile, hooks_stdin).
case $RUNTIME_NAME in
rbox-runtime) min_root=32 min_rootless=22 ;;
crun) min_root=32 min_rootless=22 ;;
*) min_root=28 min_rootless=18 ;; # runc's, the issue's reference
esac
MIN_ROOT=${MIN_ROOT:-$min_root}
MIN_ROOTLESS=${MIN_ROOTLESS:-$min_rootless}
PROG_TIMEOUT=${PROG_TIMEOUT:-120}
src=$OCI_CACHE/runtime-tools/bin
[ -x "$src/runtimetest" ] || { echo "validation.sh: $src/runtimetest missing: run make oci-deps" >&2; exit 125; }
out=$OCI_CACHE/results/$SUITE-$RUNTIME_NAME
rm -rf "$out"
mkdir -p "$out"

mk_tmp
cleanup() {
	local pidf
	pidf=${UHOME:-/nonexistent}/run/libpod/tmp/pause.pid
	[ -s "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null || true
	rm_tmp
}
trap cleanup EXIT
mkdir "$T/bin"
cp "$src"/* "$T/bin/"
cp "$RUNTIME" "$T/bin/real-runtime"
# The wrapper: state under the caller's own dir ($STATE), the call logged.
cat >"$T/bin/runtime" <<WRAP
#!/bin/sh
echo "\$*" >>"\$STATE.calls"
exec $T/bin/real-runtime --root "\$STATE" ${RUNTIME_FLAGS:-} "\$@"
WRAP
# The loop that runs in each mode: one line per program, NAME RC OK NOTOK PLAN.
cat >"$T/bin/run-all" <<'RUN'
#!/bin/bash
set -u
bin=$1 work=$2 tmo=$3 progs=${4:-.*}
mkdir -p "$work/tmp" "$work/logs" "$work/state"
cd "$work"
# HIDE_UNIFIED=1: no /sys/fs/cgroup/unified in the runner's own mount
# namespace, so that a runtime sees a plain cgroup v1 layout (crun
# 1.8 refuses this host's hybrid one, where hugetlb sits on cgroup v2).
# As root it is unmounted; in the user namespace, where that mount is
# locked, an empty read-only tmpfs covers it.
if [ "${HIDE_UNIFIED:-}" = 1 ] && mountpoint -q /sys/fs/cgroup/unified; then
	umount /sys/fs/cgroup/unified 2>/dev/null ||
		mount -t tmpfs -o ro,size=4k,mode=0755 rbox-hide-unified /sys/fs/cgroup/unified || exit 1
fi
# Copies, not links: the programs copy runtimetest into each bundle and
# would copy a link as a link.
cp "$bin/runtimetest" "$bin"/rootfs-*.tar.gz .
# run_one NAME: one program, its TAP in logs/; prints RC OK NOTOK PLAN, PLAN
# the sum of the plans it printed (linux_cgroups_cpus prints two streams,
# 1..112 and an empty 1..0).
run_one() {
	local n=$1 rc
	STATE=$work/state/$n RUNTIME=$bin/runtime TMPDIR=$work/tmp timeout -k 5 "$tmo" "$bin/$n" >"logs/$n.tap" 2>"logs/$n.err" </dev/null
	rc=$?
	echo "$rc $(grep -c '^ok' "logs/$n.tap") $(grep -c '^not ok' "logs/$n.tap") \
		$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "logs/$n.tap" | awk '{s += $1} END {print NR ? s : "-"}')"
}
for p in "$bin"/*; do
	n=$(basename "$p")
	case $n in runtimetest | runtime | real-runtime | run-all | rootfs-*) continue ;; esac
	[[ $n =~ ^($progs)$ ]] || continue
	read -r rc ok nok plan < <(run_one "$n")
	# A program that fails is run once more (killsig races its own kill
	# and delete on a loaded machine); a pass then is marked.
	try=1
	if [ "${RETRY:-1}" = 1 ] && { [ "$rc" != 0 ] || [ "$nok" != 0 ]; }; then
		mv "logs/$n.tap" "logs/$n.1.tap"
		mv "logs/$n.err" "logs/$n.1.err"
		read -r rc ok nok plan < <(run_one "$n")
		try=2
	fi
	# Mounts a program left under the work dir (a shared rootfs
	# propagation brings the container's mounts back out): counted, then
	# detached so the next program starts clean. The runner has a mount
	# namespace of its own, so none of them reaches the host's.
	mnts=$(grep -cF " $work/" /proc/self/mountinfo)
	if [ "$mnts" != 0 ]; then
		grep -F " $work/" /proc/self/mountinfo >"logs/$n.mounts"
		awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
	fi
	# Containers a program left (it failed before its own delete): deleted
	# through the runtime, counted.
	left=0
	for c in "$work/state/$n"/*/; do
		[ -d "$c" ] || continue
		left=$((left + 1))
		STATE=$work/state/$n "$bin/runtime" delete --force "$(basename "$c")" >/dev/null 2>&1
	done
	echo "$n $rc $ok $nok $plan $mnts $left $try"
done
RUN
chmod 0755 "$T/bin"/*

leftover_state() { # DIR: containers a runtime still records
	local d=$1 left
	left=$(find "$d" -mindepth 2 -maxdepth 2 2>/dev/null | head -20)
	[ -z "$left" ] || { echo "leftover containers in $d:"; echo "$left"; return 1; }
}

status=0
declare -A R_root R_rootless
full_root=0 full_rootless=0 total=0
run_mode() {
	local m=$1 work=$T/$1 res
	if [ "$m" = root ]; then
		mkdir -p "$work"
		res=$(HIDE_UNIFIED="${HIDE_UNIFIED:-}" unshare -m --propagation private "$T/bin/run-all" "$T/bin" "$work" "$PROG_TIMEOUT" "${PROGS:-}")
	else
		mk_user_home "$TEST_USER"
		mkdir -p "$work"
		chown "$TEST_USER:" "$work"
		res=$(as_user "$TEST_USER" HIDE_UNIFIED="${HIDE_UNIFIED:-}" timeout 3600 podman unshare "$T/bin/run-all" "$T/bin" "$work" "$PROG_TIMEOUT" "${PROGS:-}")
	fi
	cp -r "$work/logs" "$out/$m"
	printf '%s\n' "$res" >"$out/$m/results"
	local n rc ok nok plan mnts left try cell
	while read -r n rc ok nok plan mnts left try; do
		local v="FAIL"
		# A program passes fully when it exits 0 and every assertion of a
		# non-empty plan is ok. The hooks programs print their error as a
		# YAML block and an empty plan (1..0) and exit 0: not a pass.
		[ "$rc" = 0 ] && [ "$nok" = 0 ] && [ "$plan" != - ] && [ "$plan" -ge 1 ] && [ "$ok" = "$plan" ] && v=PASS
		[ "$rc" = 124 ] || [ "$rc" = 137 ] && v=TIMEOUT
		cell="$v $ok/$((ok + nok))"
		[ "$mnts" = 0 ] || cell="$cell +${mnts}mnt"
		[ "$left" = 0 ] || cell="$cell +${left}ctr"
		[ "$try" = 1 ] || [ "$v" != PASS ] || cell="$cell (2nd)"
		if [ "$m" = root ]; then R_root[$n]=$cell; else R_rootless[$n]=$cell; fi
		if [ $v = PASS ]; then
			if [ "$m" = root ]; then full_root=$((full_root + 1)); else full_rootless=$((full_rootless + 1)); fi
		fi
	done <<<"$res"
	total=$(grep -c . <<<"$res")
	leftover_state "$work/state" || status=1
}
[ "$mode" = rootless ] || run_mode root
[ "$mode" = root ] || run_mode rootless

printf '%-34s %-18s %-18s\n' program root rootless
for p in $(ls "$T/bin" | grep -v -e '^runtimetest$' -e '^runtime$' -e '^real-runtime$' -e '^run-all$' -e '^rootfs-'); do
	[[ $p =~ ^(${PROGS:-.*})$ ]] || continue
	printf '%-34s %-18s %-18s\n' "$p" "${R_root[$p]:--}" "${R_rootless[$p]:--}"
done
echo "(ok/total TAP assertions; +Nmnt: mounts the program left in the runner's mount namespace, detached;
 +Nctr: containers it left, deleted with the runtime's delete --force;
 (2nd): failed once, passed when run again)"
echo "logs: $out/{root,rootless}/NAME.{tap,err}"
[ "$mode" = rootless ] || echo "validation ($RUNTIME_NAME, root): $full_root of $total fully passing (at least $MIN_ROOT wanted)"
[ "$mode" = root ] || echo "validation ($RUNTIME_NAME, rootless): $full_rootless of $total fully passing (at least $MIN_ROOTLESS wanted)"
[ "$mode" = rootless ] || [ "$full_root" -ge "$MIN_ROOT" ] || status=1
[ "$mode" = root ] || [ "$full_rootless" -ge "$MIN_ROOTLESS" ] || status=1
pidf=${UHOME:-/nonexistent}/run/libpod/tmp/pause.pid
[ -s "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null && sleep 0.5
if ! leftovers "$T"; then status=1; fi
runs=$total
[ "$mode" = both ] && runs=$((2 * total))
passed=$((full_root + full_rootless))
echo "validation: $passed passed, $((runs - passed)) failed"
exit $status
