#!/bin/bash
# podman-bats.sh: podman's own system tests (test/system of the podman the
# host runs, from Debian's source package, fetched by deps.sh) with
# PODMAN='podman --runtime RUNTIME', rootless as the test user, on the
# busybox rootfs imported as the suite's test image so that nothing is
# pulled: the image variables name localhost, and any other pull meets a
# blocked registry and a proxy on a closed loopback port. Prints the pass
# count of each file; fails when a file passes fewer tests than its MIN:
# runc's count on the reference host, the issue's bar for any runtime,
# which rbox-runtime reaches exactly, so one test less is a regression
# (docs/OCI.md; skipped tests are not counted as passed). FILTER=REGEX
# runs only the tests whose names match (bats --filter), to compare one
# test across runtimes; such a run has no MIN.
set -euo pipefail
SUITE=podman-bats
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "podman-bats.sh: run as root (the tests run as $TEST_USER)" >&2; exit 125; }
resolve_runtime
need_test_user
FILES=${FILES:-030-run 045-start 050-stop 055-rm 075-exec 130-kill}
# runc 1.1.5 and rbox-runtime, 2026-12-01: the same counts.
declare -A MIN=([030-run]=28 [045-start]=5 [050-stop]=9 [055-rm]=7 [075-exec]=5 [130-kill]=5)
src=$OCI_CACHE/podman-src/test/system
[ -f "$src/helpers.bash" ] || { echo "podman-bats.sh: $src missing: run make oci-deps" >&2; exit 125; }
command -v bats >/dev/null || { echo "podman-bats.sh: bats missing: scripts/provision.sh packages" >&2; exit 125; }
out=$OCI_CACHE/results/$SUITE-$RUNTIME_NAME
rm -rf "$out"
mkdir -p "$out"
mk_tmp
mk_user_home "$TEST_USER"
stop_pause() {
	local f=$UHOME/run/libpod/tmp/pause.pid
	[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	rm -f "$f"
}
cleanup() {
	as_user "$TEST_USER" timeout 60 podman rm -af -t 0 >/dev/null 2>&1 || true
	as_user "$TEST_USER" timeout 60 podman pod rm -af -t 0 >/dev/null 2>&1 || true
	stop_pause
	rm_tmp
}
trap cleanup EXIT

mkdir -p "$T/bin"
cp "$RUNTIME" "$T/bin/$RUNTIME_NAME"
cp -r "$src" "$T/system"
chmod -R a+rX "$T/bin" "$T/system"
mkdir -p "$UHOME/config/containers"
cat >"$UHOME/config/containers/containers.conf" <<CONF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime_supports_json = ["$RUNTIME_NAME"]
runtime_supports_nocgroup = ["$RUNTIME_NAME"]

[engine.runtimes]
$RUNTIME_NAME = ["$T/bin/$RUNTIME_NAME"]
CONF
cat >"$UHOME/config/containers/registries.conf" <<'CONF'
unqualified-search-registries = []
[[registry]]
location = "quay.io"
blocked = true
[[registry]]
location = "docker.io"
blocked = true
CONF
chown -R "$TEST_USER:" "$UHOME"

# The test image: the busybox rootfs made as like podman's testimage as
# build-testimage makes it (/home/podman/testimage-id dated 1600000000 and
# /home/podman/pause, WORKDIR, CMD, the two labels), under the names the
# helpers read, so the tests find it locally and pull nothing.
IMG_REGISTRY=localhost IMG_USER=rbox IMG_NAME=testimage IMG_TAG=20220615
export_image() {
	local r=$UHOME/rootfs
	as_user "$TEST_USER" sh "$REPO/testdata/mkrootfs.sh" "$r" >/dev/null
	as_user "$TEST_USER" mkdir -p "$r/home/podman"
	as_user "$TEST_USER" sh -c "echo $IMG_TAG >'$r/home/podman/testimage-id' && touch --date=@1600000000 '$r/home/podman/testimage-id'"
	as_user "$TEST_USER" sh -c "printf '%s\n' '#!/bin/sh' 'echo Confirmed: testimage pause invoked as \$0' 'while :; do' '    sleep 0.1' 'done' >'$r/home/podman/pause' && chmod 0755 '$r/home/podman/pause'"
	tar -C "$r" -c . | as_user "$TEST_USER" timeout 120 podman import \
		--change 'WORKDIR /home/podman' \
		--change 'CMD ["/bin/echo", "This container is intended for podman CI testing"]' \
		--change 'LABEL created_by=test/system/build-testimage' \
		--change "LABEL created_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		- "$IMG_REGISTRY/$IMG_USER/$IMG_NAME:$IMG_TAG" >/dev/null
}
export_image
echo "podman-bats: $(podman --version), runtime $RUNTIME ($("$RUNTIME" --version 2>/dev/null | head -1))"

status=0
total_ok=0
total_fail=0
printf '%-12s %-8s %-8s %s\n' file passed skipped failed
# run_bats FILE TAP [FILTER]: one bats run of FILE as the test user.
run_bats() {
	local rc=0
	(cd "$T/system" && as_user "$TEST_USER" HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY= \
		PODMAN="podman --runtime $T/bin/$RUNTIME_NAME" PODMAN_TIMEOUT="${PODMAN_TIMEOUT:-120}" \
		PODMAN_TEST_IMAGE_REGISTRY=$IMG_REGISTRY PODMAN_TEST_IMAGE_USER=$IMG_USER PODMAN_TEST_IMAGE_NAME=$IMG_NAME \
		PODMAN_TEST_IMAGE_TAG=$IMG_TAG BATS_TMPDIR="$UHOME/tmp" \
		timeout -k 10 "${FILE_TIMEOUT:-2400}" bats --tap ${3:+--filter "$3"} "$1.bats") >"$2" 2>&1 || rc=$?
	return $rc
}
count_ok() { grep -E '^ok ' "$1" | grep -vEc '# (skip|SKIP)' || true; }
for f in $FILES; do
	rc=0
	run_bats "$f" "$out/$f.tap" "${FILTER:-}" || rc=$?
	ok=$(count_ok "$out/$f.tap")
	skip=$(grep -E '^ok ' "$out/$f.tap" | grep -Ec '# (skip|SKIP)' || true)
	nok=$(grep -c '^not ok' "$out/$f.tap" || true)
	plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out/$f.tap" | head -1)
	# The failed tests once more, by name (an anchored, escaped --filter),
	# as the validation suite reruns a failed program: several of these
	# tests time podman against the clock ("--timeout", "start --all") and
	# lose on a loaded machine. A test passing on the rerun counts, and
	# the table says so.
	again=0
	if [ "$nok" -gt 0 ] && [ -z "${FILTER:-}" ] && [ "$rc" != 124 ]; then
		re=$(sed -n 's/^not ok [0-9]* //p' "$out/$f.tap" | sed 's/[][\.*^$+?(){}|]/\\&/g' | paste -sd'|')
		run_bats "$f" "$out/$f.rerun.tap" "^($re)\$" || true
		again=$(count_ok "$out/$f.rerun.tap")
		ok=$((ok + again))
		nok=$((nok - again))
	fi
	printf '%-12s %-8s %-8s %s%s\n' "$f" "$ok/${plan:-?}" "$skip" "$nok" "$([ "$again" = 0 ] || echo " ($again passed on the rerun)")"
	[ "$rc" = 124 ] && echo "  $f: timed out"
	total_ok=$((total_ok + ok))
	total_fail=$((total_fail + nok))
	[ -n "${FILTER:-}" ] || [ "$ok" -ge "${MIN[$f]:-0}" ] || { echo "  $f: $ok passed, want at least ${MIN[$f]}"; status=1; }
done
echo "tap logs: $out/FILE.tap"
as_user "$TEST_USER" timeout 60 podman rm -af -t 0 >/dev/null 2>&1 || true
as_user "$TEST_USER" timeout 60 podman pod rm -af -t 0 >/dev/null 2>&1 || true
stop_pause
sleep 0.5
if ! leftovers "$T"; then status=1; fi
echo "podman-bats: $total_ok passed, $total_fail failed"
exit $status
