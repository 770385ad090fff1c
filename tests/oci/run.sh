#!/bin/bash
# run.sh: the OCI suites named in OCI_SUITES (default all four) against
# RUNTIME, one after another, each one's own summary, then one line per
# suite and the closing count of suites passed.
set -uo pipefail
SUITE=ocitest
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "ocitest: run as root (the rootless parts run as $TEST_USER)" >&2; exit 125; }
resolve_runtime
need_test_user
export RUNTIME RBOX_TEST_USER=$TEST_USER
suites=${OCI_SUITES:-validation podman podman-bats containerd}
declare -A res
passed=0 failed=0
for s in $suites; do
	[ -x "$REPO/tests/oci/$s.sh" ] || { echo "ocitest: OCI_SUITES names $s: want validation, podman, podman-bats or containerd" >&2; exit 125; }
done
for s in $suites; do
	echo "== $s ($RUNTIME)"
	t0=$SECONDS
	if timeout -k 30 5400 "$REPO/tests/oci/$s.sh"; then res[$s]="ok ($((SECONDS - t0)) s)"; passed=$((passed + 1)); else
		res[$s]="FAILED ($((SECONDS - t0)) s)"; failed=$((failed + 1)); fi
done
for s in $suites; do echo "ocitest: $s ${res[$s]}"; done
echo "ocitest: $passed passed, $failed failed"
[ "$failed" = 0 ]
