# start.sh: section 1, start latency of /bin/true in the busybox rootfs.

# oci_bundle RUNTIME DIR: a rootless bundle of $ROOTFS running /bin/true,
# from the runtime's own `spec --rootless` (runc's adds the ID mappings
# it needs; crun computes them itself).
oci_bundle() {
	local rt=$1 dir=$2
	mkdir -p "$dir" && (cd "$dir" && rm -f config.json && "$rt" spec --rootless) || return 1
	jq --arg root "$ROOTFS" '.process.terminal = false | .process.args = ["/bin/true"]
		| .root.path = $root | .hostname = "bench"' "$dir/config.json" >"$dir/config.json.new" &&
		mv "$dir/config.json.new" "$dir/config.json"
}

section_start() {
	local R=$ROOTFS ns="--user --map-root-user --pid --fork --mount --uts --ipc"
	row_init start
	row_required host "host: /bin/true" /bin/true || return 1
	# shellcheck disable=SC2086
	row_required floor "floor: unshare -U -r -p -f -m -u -i + chroot" unshare $ns chroot "$R" /bin/true || return 1
	# shellcheck disable=SC2086
	row floor-net "floor + --net (new network namespace)" unshare $ns --net chroot "$R" /bin/true
	# The floor with the full subordinate map: newuidmap and newgidmap,
	# what rbox --idmap full pays for its map (issue 18's yardstick).
	# shellcheck disable=SC2086
	row floor-mapauto "floor + --net with --map-auto (newuidmap + newgidmap)" unshare ${ns/--map-root-user/--map-auto --map-root-user} --net chroot "$R" /bin/true
	# bwrap with what rbox --net none sets up: user, pid, ipc, uts and net
	# namespaces (mount is implied), the rootfs bound read-write, /proc, /dev.
	row_required bwrap "bwrap: user pid ipc uts net, --bind rootfs /, --proc, --dev" \
		bwrap --unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-net \
		--bind "$R" / --proc /proc --dev /dev /bin/true || return 1

	if oci_bundle crun "$WORK/oci/crun" 2>/dev/null; then
		row crun-wrapper "crun's wrapper alone: unshare -rm crunwrap.sh /bin/true" \
			unshare -rm "$BENCH_DIR/crunwrap.sh" /bin/true
		row crun-wrapped "crun run, inside the wrapper" \
			unshare -rm "$BENCH_DIR/crunwrap.sh" crun --root "$WORK/oci/crun-state" run -b "$WORK/oci/crun" bench
	else
		row_na crun-wrapper "crun's wrapper alone" "not available: crun spec failed"
		row_na crun-wrapped "crun run, inside the wrapper" "not available: crun spec failed"
	fi
	printf 'crun-net\tcrun, net of its wrapper\t\n' >>"$RES/start.rows"
	if oci_bundle runc "$WORK/oci/runc" 2>/dev/null; then
		row runc "runc run (rootless)" runc --root "$WORK/oci/runc-state" run -b "$WORK/oci/runc" bench
	else
		row_na runc "runc run (rootless)" "not available: runc spec failed"
	fi
	mkdir -p "$WORK/podman"
	row podman "podman run --rm --rootfs --network none (runtime runc)" \
		"${PODMAN[@]}" run --rm --network none --rootfs "$R" /bin/true

	local rb=("$RBOX" exec --net none --rootfs "$R")
	row_rbox rbox-single "rbox --idmap single" "${rb[@]}" --idmap single -- /bin/true
	row_rbox rbox-full "rbox --idmap full" "${rb[@]}" --idmap full -- /bin/true
	row_rbox rbox-kernel "rbox --overlay kernel" "${rb[@]}" --overlay kernel -- /bin/true
	row_rbox rbox-fuse "rbox --overlay fuse" "${rb[@]}" --overlay fuse -- /bin/true
	row_rbox rbox-ro "rbox --read-only" "${rb[@]}" --read-only -- /bin/true
	row_rbox rbox-slirp "rbox --net slirp" "$RBOX" exec --net slirp --rootfs "$R" -- /bin/true

	hf_run "start latency of /bin/true, busybox rootfs ($ROUNDS rounds × $RUNS runs, $WARMUP warmup)" \
		-ref bwrap -ref floor -sub crun-net=crun-wrapped,crun-wrapper
}
