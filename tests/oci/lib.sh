# lib.sh: sourced by the OCI suites under tests/oci. The runtime under test
# is RUNTIME (an absolute path or a name on PATH; runc by default, later
# bin/rbox-runtime); the tools the suites build live in OCI_CACHE.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
GO=${GO:-go}
OCI_CACHE=${OCI_CACHE:-$REPO/.cache/oci}
case $OCI_CACHE in /*) ;; *) OCI_CACHE=$REPO/$OCI_CACHE ;; esac
RUNTIME_TOOLS_VERSION=v0.9.0
CRICTL_VERSION=v1.30.0
TEST_USER=${RBOX_TEST_USER:-rboxtest}
NOSUB_USER=${RBOX_NOSUB_USER:-rboxnosub}

# resolve_runtime: RUNTIME as an absolute path, checked executable.
resolve_runtime() {
	local r=${RUNTIME:-/usr/sbin/runc}
	case $r in
	/*) ;;
	*/*) r=$REPO/$r ;;
	*) r=$(command -v "$r" || true) ;;
	esac
	if [ -z "$r" ] || [ ! -x "$r" ]; then
		echo "$SUITE: RUNTIME=${RUNTIME:-} is not an executable: build it (make build) or name runc/crun" >&2
		exit 125
	fi
	RUNTIME=$r
	RUNTIME_NAME=$(basename "$r")
}

# need_test_user: the rootless parts need TEST_USER with a subordinate
# range (scripts/provision.sh makes one).
need_test_user() {
	if ! id "$TEST_USER" >/dev/null 2>&1 || ! grep -q "^$TEST_USER:" /etc/subuid; then
		echo "$SUITE: RBOX_TEST_USER=$TEST_USER is no user with a subordinate range in /etc/subuid: run make provision or name another" >&2
		exit 125
	fi
}

# mk_tmp: the suite's own temp dir T (0755: the test user reads the staged
# files), removed by cleanup.
mk_tmp() {
	T=$(mktemp -d "/tmp/rbox-oci-$SUITE.XXXXXX")
	chmod 0755 "$T"
}

PASSED=0
FAILED=0
FAILS=()
pass() { PASSED=$((PASSED + 1)); echo "PASS $1"; }
fail() { FAILED=$((FAILED + 1)); FAILS+=("$1"); echo "FAIL $1${2:+: $2}"; }
# check NAME CMD...: PASS when CMD exits 0.
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}
summary() {
	echo "$SUITE: $PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

# leftovers DIR: processes whose command line, cwd or root lies under DIR,
# and mounts under DIR, each printed; non-zero when there are any.
leftovers() {
	local dir=$1 found=0 p cmd
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		[ "${p#/proc/}" = "${BASHPID:-}" ] && continue
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		if [[ $cmd == *"$dir"* ]] || [[ $(readlink "$p/cwd" 2>/dev/null) == "$dir"* ]] ||
			[[ $(readlink "$p/root" 2>/dev/null) == "$dir"?* ]]; then
			echo "leftover process ${p#/proc/}: $cmd"
			found=1
		fi
	done
	if grep -F " $dir" /proc/self/mountinfo; then found=1; fi
	return $found
}

# rm_tmp: remove T, never across a mount: whatever is still mounted under
# it is detached first (and was reported by leftovers).
rm_tmp() {
	[ -n "${T:-}" ] && [ -d "$T" ] || return 0
	awk -v w="$T/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf --one-file-system "$T"
}

# as_user U CMD...: CMD as U with a clean environment (as a CI agent
# started through su would have), HOME and XDG dirs under T.
# With HIDE_UNIFIED=1 CMD runs in a mount namespace of its own without
# /sys/fs/cgroup/unified: a plain cgroup v1 layout for crun 1.8, which
# refuses this host's hybrid one (hugetlb on cgroup v2). Podman's pause
# process, started by the first command, keeps that view for the rest.
as_user() {
	local u=$1
	shift
	local hide=()
	if [ "${HIDE_UNIFIED:-}" = 1 ]; then
		hide=(unshare -m --propagation private sh -c
			'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; exec "$@"' sh)
	fi
	"${hide[@]}" runuser -u "$u" -- env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$UHOME" USER="$u" LOGNAME="$u" \
		LANG=C.UTF-8 XDG_RUNTIME_DIR="$UHOME/run" XDG_CONFIG_HOME="$UHOME/config" XDG_DATA_HOME="$UHOME/data" \
		XDG_CACHE_HOME="$UHOME/cache" TMPDIR="$UHOME/tmp" "$@"
}

# mk_user_home U: a home for U under T that as_user points everything at.
mk_user_home() {
	local u=$1
	UHOME=$T/home
	mkdir -p "$UHOME"/{run,config,data,cache,tmp}
	chmod 0700 "$UHOME/run"
	chown -R "$u:" "$UHOME"
}
