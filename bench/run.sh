#!/bin/bash
# run.sh [--smoke] [--out FILE] [--keep] [SECTION...]: rbox's benchmark
# harness. Sections: start net fs mem scale image runtime (default: all).
# Prints markdown tables on stdout, progress on stderr.
#
# As root it provisions the host (packages, the test user) and runs every
# measurement as that unprivileged user (RBOX_TEST_USER, default rboxtest)
# in a fresh temporary directory; as any other user it runs directly.
# --smoke runs each measurement once on small data: it checks that the
# harness works (CI), never how fast anything is, and fails only when a
# reference tool or the harness itself breaks.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
TEST_USER=${RBOX_TEST_USER:-rboxtest}
PACKAGES=(hyperfine bubblewrap crun runc podman rootlesskit iperf3 uidmap fuse-overlayfs fuse3
	slirp4netns passt busybox-static jq time util-linux procps iproute2 docker-registry skopeo curl)

SMOKE=0 KEEP=0 OUT="" SECTIONS=()
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) SMOKE=1 ;;
	--keep) KEEP=1 ;;
	--out) OUT=${2:?--out needs a file}; shift ;;
	-h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	start | net | fs | mem | scale | image | runtime) SECTIONS+=("$1") ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=(start net fs mem scale image runtime)

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

gobin() {
	command -v go 2>/dev/null || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } || die "go not found"
}

build_tool() { # build_tool DEST: the Go half, built with the module. No VCS
	# stamp: git refuses a checkout owned by another user (dubious ownership).
	(cd "$REPO" && CGO_ENABLED=0 "$(gobin)" build -buildvcs=false -o "$1" ./bench/benchtool) ||
		{ rm -rf "$WORK"; die "building bench/benchtool failed"; }
}

provision() {
	local missing=() p
	if [ -x "$REPO/scripts/provision.sh" ]; then
		"$REPO/scripts/provision.sh" || die "scripts/provision.sh failed"
	fi
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]} failed"
	fi
	id "$TEST_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$TEST_USER" || die "useradd $TEST_USER failed"
	grep -q "^$TEST_USER:" /etc/subuid || die "$TEST_USER has no range in /etc/subuid"
	# slirp4netns and pasta open /dev/net/tun, fuse-overlayfs /dev/fuse.
	for d in /dev/net/tun /dev/fuse; do [ -e "$d" ] && chmod 0666 "$d"; done
	return 0
}

# The work directory lives on tmpfs when there is room (BENCH_TMPDIR
# overrides): rbox keeps its upper layers in XDG_DATA_HOME (set under the
# work directory below), the image store too, and this machine's ext4 creates files slowly for
# non-root users (about 230 µs per creating openat), which would swamp
# every file-system figure.
pick_tmp() {
	if [ -n "${BENCH_TMPDIR:-}" ]; then
		echo "$BENCH_TMPDIR"
	elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
		[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt 3000000 ]; then
		echo /dev/shm
	else
		echo /tmp
	fi
}

finish() { # finish STATUS REPORT: copy the report out, clean up
	if [ -n "$OUT" ] && [ -s "$2" ]; then cp "$2" "$OUT" && log "report written to $OUT"; fi
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
	exit "$1"
}

# Root: provision, then rerun this script as the test user on a private
# work directory. The user's files live only there; the repo is only read.
if [ "$(id -u)" = 0 ] && [ -z "${BENCH_WORK:-}" ]; then
	provision
	WORK=$(mktemp -d "$(pick_tmp)/rbox-bench.XXXXXX") || die "mktemp failed"
	chmod 755 "$WORK"
	build_tool "$WORK/benchtool"
	chown -R "$TEST_USER:" "$WORK"
	args=()
	[ "$SMOKE" = 1 ] && args+=(--smoke)
	runuser -u "$TEST_USER" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 BENCH_WORK="$WORK" RBOX="${RBOX:-}" RBOX_RUNTIME="${RBOX_RUNTIME:-}" bash "$BENCH_DIR/run.sh" "${args[@]}" "${SECTIONS[@]}" \
		>"$WORK/report.md"
	rc=$?
	cat "$WORK/report.md"
	left=$(ps -u "$TEST_USER" -o pid=,stat=,comm= 2>/dev/null | awk '$2 !~ /^Z/ { print $1, $3 }')
	[ -z "$left" ] || log "warning: processes of $TEST_USER still running after the bench: $(echo $left)"
	finish "$rc" "$WORK/report.md"
fi

# The measuring side: this user, this work directory.
if [ -n "${BENCH_WORK:-}" ]; then
	WORK=$BENCH_WORK
else
	WORK=$(mktemp -d "$(pick_tmp)/rbox-bench.XXXXXX") || die "mktemp failed"
	build_tool "$WORK/benchtool"
fi
[ -n "$OUT" ] && exec > >(tee "$OUT")
export WORK SMOKE BENCH_DIR REPO
export TOOL=$WORK/benchtool RES=$WORK/results ROOTFS=$WORK/rootfs
export FIG=$RES/figures.tsv
export RBOX=${RBOX:-$REPO/bin/rbox}
export HOME=$WORK/home XDG_RUNTIME_DIR=$WORK/run
export XDG_CONFIG_HOME=$WORK/home/.config XDG_DATA_HOME=$WORK/home/.local/share XDG_CACHE_HOME=$WORK/home/.cache
mkdir -p "$RES" "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" || die "cannot prepare $WORK"
: >"$FIG"

# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
for s in start net fs mem scale image runtime; do
	# shellcheck source=/dev/null
	. "$BENCH_DIR/$s.sh"
done

report=$WORK/report-user.md
{
	if [ "$SMOKE" = 1 ]; then
		echo "## rbox bench (smoke: one run each on small data; these figures mean nothing)"
	else
		echo "## rbox bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
	fi
	echo
	machine
} >"$report"
cat "$report"

make_rootfs "$ROOTFS" || die "building the busybox rootfs failed"
rbox_probe

status=0
for s in "${SECTIONS[@]}"; do
	log "section $s"
	t0=$(date +%s)
	if ! ( "section_$s" ) >"$RES/$s.md"; then
		log "section $s FAILED (see above)"
		echo "**section $s failed: the harness or a reference tool is broken (stderr has details)**" >>"$RES/$s.md"
		status=1
	fi
	cat "$RES/$s.md"
	log "section $s took $(($(date +%s) - t0)) s"
done
"$TOOL" goals "$FIG" || status=1
cleanup_user
if [ -z "${BENCH_WORK:-}" ]; then
	OUT="" # tee has it already
	finish "$status" /dev/null
fi
exit "$status"
