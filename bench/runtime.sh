# runtime.sh: section "runtime", bin/rbox-runtime as an OCI runtime (issue
# 16) beside runc and crun: one container's whole life driven directly,
# and podman run through each runtime. Rootless, as the bench user.

RBOX_RUNTIME=${RBOX_RUNTIME:-$REPO/bin/rbox-runtime}

# rt_podman_setup: the busybox rootfs as an image in two podman stores,
# one for runc and rbox-runtime (the bench's usual pause process) and one
# for crun, whose pause process (its own XDG_RUNTIME_DIR) keeps a mount
# namespace with a tmpfs over /sys/fs/cgroup/unified: crun 1.8 refuses
# the hybrid layout, and podman runs every container in that namespace,
# so the crun rows pay no wrapper. Sets RT_PODMAN and RT_PODMAN_CRUN, and
# RT_CRUN_WHY when that mount fails (the crun row then does not run).
RT_IMAGE=localhost/rbox-bench/busybox
rt_podman_setup() {
	local err
	local common=(--cgroup-manager cgroupfs --events-backend file)
	mkdir -p "$WORK/podman" "$WORK/run-crun" && chmod 700 "$WORK/run-crun" || return 1
	RT_PODMAN=(podman --root "$WORK/podman/rt-root" --runroot "$WORK/podman/rt-runroot" "${common[@]}")
	RT_PODMAN_CRUN=(env XDG_RUNTIME_DIR="$WORK/run-crun" podman --root "$WORK/podman/crun-root"
		--runroot "$WORK/podman/crun-runroot" "${common[@]}")
	tar -C "$ROOTFS" -c . | "${RT_PODMAN[@]}" import - "$RT_IMAGE" >/dev/null || return 1
	tar -C "$ROOTFS" -c . | "${RT_PODMAN_CRUN[@]}" import - "$RT_IMAGE" >/dev/null || return 1
	RT_CRUN_WHY=""
	if mountpoint -q /sys/fs/cgroup/unified &&
		! err=$("${RT_PODMAN_CRUN[@]}" unshare mount -t tmpfs -o size=4k bench-nocgroup2 /sys/fs/cgroup/unified 2>&1); then
		RT_CRUN_WHY="not available: hiding /sys/fs/cgroup/unified from crun failed: $err"
	fi
}
rt_podman_cleanup() {
	local f
	[ -n "${RT_PODMAN:-}" ] || return 0
	"${RT_PODMAN[@]}" unshare rm -rf "$WORK/podman/rt-root" 2>/dev/null
	"${RT_PODMAN_CRUN[@]}" unshare rm -rf "$WORK/podman/crun-root" 2>/dev/null
	f=$WORK/run-crun/libpod/tmp/pause.pid
	[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	rm -rf "$WORK/podman/rt-runroot" "$WORK/podman/crun-runroot" "$WORK/run-crun" 2>/dev/null
	return 0
}

section_runtime() {
	local lc=("$TOOL" lifecycle) why=""
	if [ ! -x "$RBOX_RUNTIME" ]; then
		why="not available: $RBOX_RUNTIME not built (make build)"
	fi

	# One container's life (create, start, wait until it stopped, delete)
	# through benchtool lifecycle, a child subreaper as conmon and the
	# containerd shim are. runc and rbox-runtime get the same bundle (runc
	# spec --rootless, /bin/true); crun its own, inside the wrapper of the
	# start section. The driver's own start is measured and subtracted.
	row_init runtime
	row_required driver "driver alone: benchtool lifecycle -noop" "${lc[@]}" -noop || return 1
	if oci_bundle runc "$WORK/oci/lc-runc" 2>/dev/null; then
		if [ -z "$why" ]; then
			row rbox "rbox-runtime: create, start, wait, delete" \
				"${lc[@]}" -runtime "$RBOX_RUNTIME" -root "$WORK/oci/lc-rbox-state" -bundle "$WORK/oci/lc-runc"
		else
			row_na rbox "rbox-runtime: create, start, wait, delete" "$why"
		fi
		row runc "runc: create, start, wait, delete" \
			"${lc[@]}" -runtime "$(command -v runc)" -root "$WORK/oci/lc-runc-state" -bundle "$WORK/oci/lc-runc"
	else
		row_na rbox "rbox-runtime: create, start, wait, delete" "not available: runc spec failed (the bundle)"
		row_na runc "runc: create, start, wait, delete" "not available: runc spec failed"
	fi
	if oci_bundle crun "$WORK/oci/lc-crun" 2>/dev/null; then
		row crun-wrapper "crun's wrapper and the driver alone: unshare -rm crunwrap.sh benchtool lifecycle -noop" \
			unshare -rm "$BENCH_DIR/crunwrap.sh" "${lc[@]}" -noop
		row crun-wrapped "crun: create, start, wait, delete, inside the wrapper" \
			unshare -rm "$BENCH_DIR/crunwrap.sh" "${lc[@]}" -runtime "$(command -v crun)" \
			-root "$WORK/oci/lc-crun-state" -bundle "$WORK/oci/lc-crun"
	else
		row_na crun-wrapper "crun's wrapper and the driver alone" "not available: crun spec failed"
		row_na crun-wrapped "crun: create, start, wait, delete, inside the wrapper" "not available: crun spec failed"
	fi
	printf 'rbox-net\trbox-runtime, net of the driver\t\n' >>"$RES/runtime.rows"
	printf 'runc-net\trunc, net of the driver\t\n' >>"$RES/runtime.rows"
	printf 'crun-net\tcrun, net of the driver and its wrapper\t\n' >>"$RES/runtime.rows"
	hf_run "OCI runtime: one container's create, start, wait and delete of /bin/true, busybox rootfs ($ROUNDS rounds × $RUNS runs, $WARMUP warmup)" \
		-ref runc-net -ref crun-net \
		-sub rbox-net=rbox,driver -sub runc-net=runc,driver -sub crun-net=crun-wrapped,crun-wrapper || return 1

	# podman run through each runtime, --network none so that the runtime,
	# not slirp4netns, is what differs.
	row_init runtime-podman
	if ! rt_podman_setup 2>"$RES/runtime-podman.err"; then
		log "runtime: podman setup failed: $(oneline "$(cat "$RES/runtime-podman.err")")"
		rt_podman_cleanup
		return 1
	fi
	local run=(run --rm --network none "$RT_IMAGE" /bin/true)
	row runc "podman run --rm --network none IMAGE /bin/true (runtime runc)" \
		"${RT_PODMAN[@]}" --runtime "$(command -v runc)" "${run[@]}"
	if [ -z "$why" ]; then
		row rbox "podman run (runtime bin/rbox-runtime)" "${RT_PODMAN[@]}" --runtime "$RBOX_RUNTIME" "${run[@]}"
	else
		row_na rbox "podman run (runtime bin/rbox-runtime)" "$why"
	fi
	local crun_label="podman run (runtime crun; cgroup2 hidden in its pause process's mount namespace)"
	if [ -z "$RT_CRUN_WHY" ]; then
		row crun "$crun_label" "${RT_PODMAN_CRUN[@]}" --runtime "$(command -v crun)" "${run[@]}"
	else
		row_na crun "$crun_label" "$RT_CRUN_WHY"
	fi
	local rc=0
	hf_run "podman run --rm through each OCI runtime, rootless ($ROUNDS rounds × $RUNS runs, $WARMUP warmup)" \
		-ref runc -ref crun || rc=1
	rt_podman_cleanup
	return $rc
}
