#!/bin/bash
# integration.sh: run the integration suite against bin/rbox as an
# unprivileged user. As root (CI, a fresh machine) it stages the binaries and
# a rootfs where the test users can read them and runs the suite as those
# users, never as root; as a user it runs the suite directly.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
strict=${RBOX_TEST_STRICT:-}
[ "${CI:-}" = true ] && strict=1
# The tests that only the user without subordinate ranges runs.
nosub_tests=(TestNoSubID TestCheckNoSubID TestNoSubIDImage)
# The tests that need a set-up by root, run below on their own.
root_tests=(TestImageDiskFull)
run_flags=(-test.v -test.count=1 -test.timeout=20m -test.skip "^($(IFS='|'; echo "${nosub_tests[*]}|${root_tests[*]}"))\$")
[ -n "${RUN:-}" ] && run_flags+=(-test.run "$RUN")

summarize() { # count top-level results of a -test.v log
	local log=$1
	local pass fail
	pass=$(grep -c '^--- PASS' "$log" || true)
	fail=$(grep -c '^--- FAIL' "$log" || true)
	echo "integration: $pass passed, $fail failed (integration, attack, caps, seccomp)"
	[ "$fail" = 0 ] && grep -q '^PASS$' "$log" && ! grep -q -e '^FAIL$' -e '^LEFTOVERS' "$log"
}

if [ "$(id -u)" != 0 ]; then
	make -s testdata
	CGO_ENABLED=0 $GO test -c -o bin/integration.test ./tests/integration
	CGO_ENABLED=0 $GO test -c -o bin/attack.test ./tests/attack
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	debian=""
	[ -x testdata/debian/bin/sh ] && debian=$PWD/testdata/debian
	for t in integration attack; do
		RBOX_BIN=$PWD/bin/rbox RBOX_ROOTFS=$PWD/testdata/rootfs RBOX_TEST_STRICT=$strict RBOX_DEBIAN_ROOTFS=$debian \
			bin/$t.test "${run_flags[@]}" 2>&1 | tee -a "$log" || true
	done
	summarize "$log"
	exit
fi

TEST_USER=${RBOX_TEST_USER:-rboxtest}
NOSUB_USER=${RBOX_NOSUB_USER:-rboxnosub}
stage=$(mktemp -d /tmp/rbox-it.XXXXXX)
cleanup() { rm -rf "$stage"; }
trap cleanup EXIT
chmod 0755 "$stage"
CGO_ENABLED=0 $GO test -c -o "$stage/integration.test" ./tests/integration
# The hostile-workload suite, and the unit tests that need an unprivileged
# user to create user namespaces (they skip as root in make unit).
CGO_ENABLED=0 $GO test -c -o "$stage/attack.test" ./tests/attack
CGO_ENABLED=0 $GO test -c -o "$stage/caps.test" ./caps
CGO_ENABLED=0 $GO test -c -o "$stage/seccomp.test" ./seccomp
cp bin/rbox bin/rbox-pull bin/rbox-runtime "$stage/"
cp testdata/mkrootfs.sh "$stage/"
chmod 0755 "$stage"/*
# The image belongs to the test user, as a user's own image would.
mkdir "$stage/img"
chown "$TEST_USER" "$stage/img"
runuser -u "$TEST_USER" -- sh "$stage/mkrootfs.sh" "$stage/img/rootfs"
# A root-owned copy of it, as root's tools leave a tree (TestImageImport):
# everything host root's, one file of a system uid, and beside it a tree
# with a file of an ID beyond the test user's range.
mkdir -p "$stage/img-rootowned/bad"
cp -a "$stage/img/rootfs" "$stage/img-rootowned/rootfs"
chown -R root:root "$stage/img-rootowned"
chmod 0755 "$stage/img-rootowned/rootfs/root"
echo sys > "$stage/img-rootowned/rootfs/etc/sys100"
chown 100:100 "$stage/img-rootowned/rootfs/etc/sys100"
echo far > "$stage/img-rootowned/bad/far"
chown 4000000:0 "$stage/img-rootowned/bad/far"
mkdir "$stage/img-nosub"
chown "$NOSUB_USER" "$stage/img-nosub"
runuser -u "$NOSUB_USER" -- sh "$stage/mkrootfs.sh" "$stage/img-nosub/rootfs"
# Trees that root unpacked, which the test users may read but not write
# (TestForeignTree): the busybox image given to root, and a debootstrapped
# Debian, built once and cached in testdata/debian (make testdata-debian).
mkdir "$stage/img-root"
cp -a "$stage/img/rootfs" "$stage/img-root/rootfs"
chown -R root:root "$stage/img-root/rootfs"
chmod -R a+rX "$stage/img-root/rootfs" # its /root is 0700
debian=""
if [ -z "${RUN:-}" ] || [[ TestForeignDebian =~ $RUN ]]; then
	if tests/vm/vm.sh rootfs testdata/debian; then
		debian=$PWD/testdata/debian
		if ! runuser -u "$TEST_USER" -- test -r "$debian/etc/apt/sources.list"; then
			cp -a "$debian" "$stage/debian" && debian=$stage/debian
		fi
	fi
fi

# Another local user attacks the test user's state root
# (TestHijackedStateRoot): before the test user's first run, the user
# without subordinate ranges, as the attack test binary in its attacker
# mode, plants TMPDIR/rbox-UID of the test user in a shared sticky
# directory, which that test uses as TMPDIR. It is bounded by timeout and
# by victim.done, stopped after the test user's suites, and checked gone.
shared=$stage/shared
mkdir "$shared"
chmod 1777 "$shared"
runuser -u "$NOSUB_USER" -- env -i PATH=/usr/bin:/bin RBOX_ATTACKER_DIR="$shared" RBOX_VICTIM_UID="$(id -u "$TEST_USER")" \
	timeout 25m "$stage/attack.test" >"$stage/attacker.out" 2>&1 &
attacker=$!

as_user() {
	local u=$1
	shift
	local home
	home=$(getent passwd "$u" | cut -d: -f6)
	# A clean environment, as a CI agent started through su would have.
	runuser -u "$u" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" USER="$u" \
		LANG=C.UTF-8 RBOX_BIN="$stage/rbox" RBOX_ROOTFS="$stage/img/rootfs" RBOX_ROOTOWNED="$stage/img-rootowned" \
		RBOX_ROOT_ROOTFS="$stage/img-root/rootfs" RBOX_DEBIAN_ROOTFS="$debian" \
		RBOX_TEST_STRICT="$strict" RBOX_HIJACK_DIR="$shared" "$@"
}

log=$stage/log
status=0
(cd "$stage" && as_user "$TEST_USER" ./integration.test "${run_flags[@]}") 2>&1 | tee "$log" || true
(cd "$stage" && as_user "$TEST_USER" ./attack.test "${run_flags[@]}") 2>&1 | tee -a "$log" || true
if [ -z "${RUN:-}" ]; then
	for t in caps seccomp; do
		(cd "$stage" && as_user "$TEST_USER" ./$t.test -test.v -test.count=1 -test.run 'InUserNamespace|InKernel|WithoutNoNewPrivs') 2>&1 | tee -a "$log" || true
	done
fi
# The attacker stops once told (or on its own at the victim's end).
touch "$shared/victim.done"
for _ in $(seq 100); do
	kill -0 "$attacker" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$attacker" 2>/dev/null; then
	echo "integration: the attacker of TestHijackedStateRoot did not stop:"; cat "$stage/attacker.out" "$shared/attacker.log" 2>/dev/null
	kill "$attacker" || true
	status=1
fi
wait "$attacker" || true
# The fallback roots the test user made in the shared directory hold no
# sandbox any more.
for d in "$shared/rbox-$(id -u "$TEST_USER")"-*; do
	[ -d "$d" ] || continue
	if [ -n "$(ls -A "$d" | grep -v -e '^names$' -e '^slirp4netns.features$')" ] || [ -n "$(ls -A "$d/names" 2>/dev/null)" ]; then
		echo "integration: state left in the fallback root $d:"; ls -la "$d"; status=1
	fi
done
# The user without subordinate ranges: the fallback to a single map and
# what rbox check says about it; those of its tests that RUN selects.
nosub_run=()
for t in "${nosub_tests[@]}"; do
	if [ -z "${RUN:-}" ] || [[ $t =~ $RUN ]]; then nosub_run+=("$t"); fi
done
if [ ${#nosub_run[@]} -gt 0 ]; then
	(cd "$stage" && as_user "$NOSUB_USER" env RBOX_EXPECT_NO_SUBID=1 RBOX_ROOTFS="$stage/img-nosub/rootfs" ./integration.test -test.v -test.count=1 \
		-test.run "^($(IFS='|'; echo "${nosub_run[*]}"))\$") 2>&1 | tee -a "$log" || true
fi
# A host whose resolv.conf names a loopback resolver (systemd-resolved's
# 127.0.0.53, a dnsmasq on 127.0.0.1) must still resolve inside the
# sandbox. This needs root for the set-up, so it runs here: in a mount and
# network namespace of its own (no host service is touched), a resolv.conf
# naming ADDR is bound over /etc/resolv.conf, the test binary answers DNS
# on ADDR:53, and the test user's rbox resolves a name under each network.
if [ -z "${RUN:-}" ] || [[ TestLoopbackResolver =~ $RUN ]]; then
	cp "$stage/integration.test" "$stage/probe"
	for ns in 127.0.0.53 127.0.0.1; do
		for net in slirp pasta host; do
			name="TestLoopbackResolver/$ns/$net"
			out=$(unshare -m -n --propagation private sh -c '
				ip link set lo up && ip addr add "$1/8" dev lo 2>/dev/null
				# pasta wants an interface with a default route to call external.
				ip link add ext0 type veth peer name ext1 && ip addr add 192.0.2.1/24 dev ext0 &&
					ip link set ext1 up && ip link set ext0 up && ip route add default via 192.0.2.254 dev ext0 || exit 1
				echo "nameserver $1" >"$2/resolv-$1" && mount --bind "$2/resolv-$1" /etc/resolv.conf || exit 1
				"$2/probe" dns "$1" >/dev/null 2>&1 & dns=$!; sleep 0.3
				runuser -u "$3" -- env -i PATH=/usr/bin:/bin HOME=/ "$2/rbox" exec --net "$4" --rootfs "$2/img/rootfs" \
					-- sh -c "grep nameserver /etc/resolv.conf; nslookup fake.rbox.test" 2>&1
				kill $dns' sh "$ns" "$stage" "$TEST_USER" "$net" 2>&1) || true
			if grep -q "192.0.2.55" <<<"$out"; then
				echo "--- PASS: $name" | tee -a "$log"
			else
				{ echo "--- FAIL: $name"; sed 's/^/    /' <<<"$out"; } | tee -a "$log"
			fi
		done
	done
	rm -f "$stage/probe"
fi
# A --persist layer holds whatever the workload makes, setuid files of the
# user's included (root in the sandbox is the user): no other local user
# may reach them. As root: the test user runs a workload that plants a
# setuid copy of busybox in a layer, in a directory others may enter, once
# in a layer directory made 0755 beforehand and once in one rbox creates;
# then the user without subordinate ranges tries to reach the file.
if [ -z "${RUN:-}" ] || [[ TestPersistPlant =~ $RUN ]]; then
	plant=$stage/plant
	mkdir "$plant" && chown "$TEST_USER" "$plant" && chmod 0755 "$plant"
	for how in open new; do
		name="TestPersistPlant/$how"
		layer=$plant/$how
		[ "$how" = open ] && runuser -u "$TEST_USER" -- mkdir -m 0755 "$layer"
		rc=0
		out=$(cd "$stage" && as_user "$TEST_USER" "$stage/rbox" exec --net none --rootfs "$stage/img/rootfs" --persist "$layer" \
			-- sh -c 'cp /bin/busybox /planted && chmod 4755 /planted' 2>&1) || rc=$?
		reach=$(cd "$stage" && as_user "$NOSUB_USER" sh -c "ls -l '$layer/upper/planted' && '$layer/upper/planted' id -u" 2>&1) && reached=1 || reached=0
		verdict=PASS why=
		if [ "$reached" = 1 ]; then
			verdict=FAIL why="$NOSUB_USER reached the planted file: $reach"
		elif [ "$how" = open ] && { [ "$rc" != 125 ] || [ "$(wc -l <<<"$out")" != 1 ] || ! grep -q 'mode 0755' <<<"$out"; }; then
			verdict=FAIL why="a 0755 --persist directory: want one line naming its mode and exit 125, got $rc: $out"
		elif [ "$how" = new ] && { [ "$rc" != 0 ] || [ "$(stat -c %a "$layer")" != 700 ] || [ ! -u "$layer/upper/planted" ]; }; then
			verdict=FAIL why="a new --persist directory: want exit 0, mode 700 and the planted file, got $rc, $(stat -c %a "$layer" 2>&1): $out"
		fi
		if [ "$verdict" = PASS ]; then
			echo "--- PASS: $name" | tee -a "$log"
		else
			{ echo "--- FAIL: $name"; sed 's/^/    /' <<<"$why"; } | tee -a "$log"
		fi
		[ -d "$layer/upper" ] && (cd "$stage" && as_user "$TEST_USER" "$stage/rbox" remove-layer "$layer" >/dev/null 2>&1) || true
	done
	rm -rf "$plant"
fi
# A writable layer on a full filesystem is refused before anything starts,
# on one line naming the flag and the fix, for want of space and of inodes.
# The small tmpfs needs root: it is mounted in a mount namespace of its
# own, and the test user's rbox runs in there.
if [ -z "${RUN:-}" ] || [[ TestLayerFull =~ $RUN ]]; then
	uid=$(id -u "$TEST_USER")
	for what in space inodes; do
		name="TestLayerFull/$what"
		opts="size=256k"
		[ "$what" = inodes ] && opts="size=4m,nr_inodes=64"
		rc=0
		out=$(unshare -m --propagation private sh -c '
			mkdir -p "$1/full" && mount -t tmpfs -o "$2,mode=0700,uid=$3" tmpfs "$1/full" || exit 99
			if [ "$5" = space ]; then
				runuser -u "$4" -- dd if=/dev/zero of="$1/full/fill" bs=4k 2>/dev/null
			else
				runuser -u "$4" -- sh -c "i=0; while [ \$i -lt 100 ] && touch $1/full/f\$i 2>/dev/null; do i=\$((i+1)); done"
			fi
			runuser -u "$4" -- env -i PATH=/usr/bin:/bin HOME=/ "$1/rbox" exec --net none --rootfs "$1/img/rootfs" --persist "$1/full/layer" -- echo RAN
		' sh "$stage" "$opts" "$uid" "$TEST_USER" "$what" 2>&1) || rc=$?
		want="free"
		[ "$what" = inodes ] && want="free inodes"
		if [ "$rc" = 125 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q -- "^rbox: --persist: .*$want.*df" <<<"$out"; then
			echo "--- PASS: $name" | tee -a "$log"
		else
			{ echo "--- FAIL: $name"; echo "    want exit 125 and one line naming --persist, \"$want\" and df; got $rc:"; sed 's/^/    /' <<<"$out"; } | tee -a "$log"
		fi
	done
	rmdir "$stage/full" 2>/dev/null || true
fi
# A full disk during a pull: the test user's store on a 1 MiB tmpfs,
# mounted in a private mount namespace (TestImageDiskFull).
if [ -z "${RUN:-}" ] || [[ TestImageDiskFull =~ $RUN ]]; then
	home=$(getent passwd "$TEST_USER" | cut -d: -f6)
	(cd "$stage" && unshare -m --propagation private sh -c '
		mkdir -p "$1/small" && mount -t tmpfs -o "size=1m,mode=0700,uid=$(id -u "$2")" tmpfs "$1/small" || exit 99
		runuser -u "$2" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$3" USER="$2" LANG=C.UTF-8 \
			RBOX_BIN="$1/rbox" RBOX_ROOTFS="$1/img/rootfs" RBOX_TEST_STRICT="$4" RBOX_SMALL_DATA="$1/small" \
			./integration.test -test.v -test.count=1 -test.run "^TestImageDiskFull\$"
	' sh "$stage" "$TEST_USER" "$home" "$strict") 2>&1 | tee -a "$log" || true
	rmdir "$stage/small" 2>/dev/null || true
fi
# The writable layer is on disk, not in the runtime directory: a workload
# writes 16 MiB into its root with XDG_RUNTIME_DIR a 2 MiB tmpfs (a
# systemd host's is 10% of RAM), and nothing is left in either place.
if [ -z "${RUN:-}" ] || [[ TestLayerBigWrite =~ $RUN ]]; then
	uid=$(id -u "$TEST_USER")
	name=TestLayerBigWrite
	mkdir -p "$stage/data" && chown "$TEST_USER" "$stage/data" && chmod 0700 "$stage/data"
	rc=0
	out=$(unshare -m --propagation private sh -c '
		mkdir -p "$1/run" && mount -t tmpfs -o "size=2m,mode=0700,uid=$2" tmpfs "$1/run" || exit 99
		runuser -u "$3" -- env -i PATH=/usr/bin:/bin HOME=/ XDG_RUNTIME_DIR="$1/run" XDG_DATA_HOME="$1/data" \
			"$1/rbox" exec --net none --rootfs "$1/img/rootfs" -- sh -c "dd if=/dev/zero of=/big bs=1M count=16 2>/dev/null && wc -c </big" || exit $?
		echo "left: $(ls -A "$1/run/rbox" | grep -v "^names$")$(ls -A "$1/run/rbox/names")$(ls -A "$1/data/rbox/sandboxes")."
	' sh "$stage" "$uid" "$TEST_USER" 2>&1) || rc=$?
	if [ "$rc" = 0 ] && [ "$out" = "$(printf '16777216\nleft: .')" ]; then
		echo "--- PASS: $name" | tee -a "$log"
	else
		{ echo "--- FAIL: $name"; echo "    want 16777216 written and nothing left; got $rc:"; sed 's/^/    /' <<<"$out"; } | tee -a "$log"
	fi
	rm -rf "$stage/data"; rmdir "$stage/run" 2>/dev/null || true
fi
summarize "$log" || status=1

# Nothing of the test users may outlive the suite.
for u in "$TEST_USER" "$NOSUB_USER"; do
	# Zombies reparented to the host's PID 1 are its to reap: wait briefly.
	for _ in $(seq 50); do
		[ -z "$(ps -o stat= -u "$u" | grep -v '^Z')" ] && break
		sleep 0.1
	done
	if [ -n "$(ps -o stat= -u "$u" | grep -v '^Z')" ]; then
		echo "integration: processes of $u left behind:"; ps -o pid,args -u "$u"; status=1
		pkill -9 -u "$u" || true
	fi
	uid=$(id -u "$u")
	if [ -n "$(ls -A "/tmp/rbox-$uid" 2>/dev/null | grep -v -e '^names$' -e '^slirp4netns.features$')" ] || [ -n "$(ls -A "/tmp/rbox-$uid/names" 2>/dev/null)" ]; then
		echo "integration: state left in /tmp/rbox-$uid:"; ls -la "/tmp/rbox-$uid"; status=1
	fi
	layers="$(getent passwd "$u" | cut -d: -f6)/.local/share/rbox/sandboxes"
	if [ -n "$(ls -A "$layers" 2>/dev/null)" ]; then
		echo "integration: writable layers left in $layers:"; ls -la "$layers"; status=1
	fi
done
if grep -q "$stage" /proc/self/mountinfo; then
	echo "integration: mounts left under $stage"; status=1
fi
exit $status
