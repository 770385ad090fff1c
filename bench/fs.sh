# fs.sh: section 3, a file-heavy workload (extract, read, delete several
# thousand small files) in a plain directory, in overlays mounted by hand,
# and in rbox's overlays.

section_fs() {
	local files=5000 R=$ROOTFS fsd=$WORK/fs
	if [ "$SMOKE" = 1 ]; then files=200; fi
	mkdir -p "$fsd/in" "$fsd/scratch" || return 1
	"$TOOL" gentar -files "$files" -out "$fsd/in/files.tar" || return 1
	cp "$BENCH_DIR/fsload.sh" "$fsd/in/" || return 1
	local saved_rounds=$ROUNDS saved_runs=$RUNS saved_warmup=$WARMUP
	if [ "$SMOKE" != 1 ]; then ROUNDS=3 RUNS=10 WARMUP=2; fi

	row_init fs
	# Every host-side row runs in `unshare -rm` like the overlays, so the
	# only difference between rows is the filesystem.
	row_required plain "plain directory (unshare -rm, busybox)" \
		unshare -rm env PATH="$R/bin" "$R/bin/sh" "$fsd/in/fsload.sh" "$fsd/scratch/plain" "$fsd/in/files.tar" || return 1
	row_required kovl "kernel overlayfs by hand (unshare -rm, lower = rootfs)" \
		unshare -rm "$BENCH_DIR/fsovl.sh" kernel "$R" "$fsd/scratch" "$fsd/in" "$fsd/in/files.tar" || return 1
	row fovl "fuse-overlayfs by hand (unshare -rm, lower = rootfs)" \
		unshare -rm "$BENCH_DIR/fsovl.sh" fuse "$R" "$fsd/scratch" "$fsd/in" "$fsd/in/files.tar"
	local rb=("$RBOX" exec --net none --rootfs "$R" -v "$fsd/in:/bench:ro")
	row_rbox rbox-kernel "rbox --overlay kernel" "${rb[@]}" --overlay kernel -- /bin/sh /bench/fsload.sh /x /bench/files.tar
	row_rbox rbox-fuse "rbox --overlay fuse" "${rb[@]}" --overlay fuse -- /bin/sh /bench/fsload.sh /x /bench/files.tar
	hf_run "file workload: extract, read, delete $files small files ($ROUNDS rounds × $RUNS runs)" -ref plain -ref kovl
	local rc=$?
	ROUNDS=$saved_rounds RUNS=$saved_runs WARMUP=$saved_warmup
	echo "The rbox rows include one sandbox start (about the start-latency figure above); the hand-mounted rows include one \`unshare -rm\` and the mount."
	echo
	return $rc
}
