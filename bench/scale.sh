# scale.sh: section 5, start time against rootfs size, and a burst of
# sandboxes started at once.

# burst NAME N LAUNCH...: start N sandboxes running `sleep 1` at once; print
# a table line with failures, wall time and leftovers (new processes of this
# user, and entries in rbox's state directory).
burst() {
	local name=$1 n=$2 t0 t1 i failed=0 before after newp left state=""
	shift 2
	mkdir -p "$RES/burst-$name"
	before=$(user_procs | awk '{ print $1 }' | sort)
	t0=$(date +%s%N)
	for ((i = 0; i < n; i++)); do
		(timeout 120 "$@" /bin/sleep 1 >/dev/null 2>"$RES/burst-$name/$i.err"; echo $? >"$RES/burst-$name/$i.rc") &
	done
	wait
	t1=$(date +%s%N)
	after=$(user_procs)
	newp=$(echo "$after" | awk 'NR == FNR { seen[$1] = 1; next } !($1 in seen) { print $2 }' <(echo "$before") -)
	left=$(printf '%s\n' "$newp" | grep . | sort | uniq -c | awk '{ printf "%s%s×%s", sep, $1, $2; sep = ", " }')
	for ((i = 0; i < n; i++)); do
		[ "$(cat "$RES/burst-$name/$i.rc" 2>/dev/null)" = 0 ] || failed=$((failed + 1))
	done
	if [ "${name#rbox}" != "$name" ] && [ -d "$XDG_RUNTIME_DIR/rbox" ]; then
		# An empty names/ directory is the registry itself, not a leftover.
		state=$(cd "$XDG_RUNTIME_DIR/rbox" && find . -mindepth 1 -maxdepth 2 ! -path ./names ! -path ./slirp4netns.features | sed 's|^\./||' | head -5 | tr '\n' ' ')
	fi
	local nleft=$(($(printf '%s\n' "$newp" | grep -c .) + $(echo -n "$state" | wc -w)))
	[ "$failed" = 0 ] || log "scale: $name: $failed of $n failed, e.g. $(oneline "$(cat "$RES"/burst-"$name"/*.err | head -1)")"
	printf '| %s | %d | %d | %d | %.2f | %s |\n' "$name" "$n" "$((n - failed))" "$failed" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')" "${left:-none}${state:+; state: $state}"
	if [ "$name" = rbox ]; then fig scale.burst.rbox.failed "$failed"; fig scale.burst.rbox.leftover "$nleft"; fi
}

section_scale() {
	local R=$ROOTFS big=$WORK/bigroot size=1G ns="--user --map-root-user --pid --fork --mount --uts --ipc"
	local n=50 files
	if [ "$SMOKE" = 1 ]; then size=16M n=4; fi
	log "scale: writing a $size tree"
	rm -rf "$big" && cp -a "$R" "$big" && files=$("$TOOL" gentree -bytes "$size" -dir "$big/data") || return 1
	row_init scale
	local kind root
	for kind in small big; do
		root=$R
		[ $kind = big ] && root=$big
		# shellcheck disable=SC2086
		row_required "floor-$kind" "floor, $kind rootfs" unshare $ns chroot "$root" /bin/true || return 1
		row_required "bwrap-$kind" "bwrap, $kind rootfs" bwrap --unshare-user --unshare-pid --unshare-ipc \
			--unshare-uts --unshare-net --bind "$root" / --proc /proc --dev /dev /bin/true || return 1
		row_rbox "rbox-$kind" "rbox, $kind rootfs" "$RBOX" exec --net none --rootfs "$root" -- /bin/true
		row_rbox "rbox-fuse-$kind" "rbox --overlay fuse, $kind rootfs" "$RBOX" exec --net none --overlay fuse --rootfs "$root" -- /bin/true
	done
	local saved_rounds=$ROUNDS saved_runs=$RUNS
	if [ "$SMOKE" != 1 ]; then ROUNDS=3 RUNS=15; fi
	hf_run "start latency against rootfs size: busybox (small) and busybox + $size in $files files (big)" -ref floor-small || return 1
	ROUNDS=$saved_rounds RUNS=$saved_runs
	echo "| tool | big ÷ small (median) |"
	echo "|---|--:|"
	local t
	for t in floor bwrap rbox rbox-fuse; do
		awk -F'\t' -v t="$t" -v fig="$FIG" '
			$1 == "scale." t "-small.median_ms" { s = $2 }
			$1 == "scale." t "-big.median_ms" { b = $2 }
			END {
				if (s > 0 && b > 0) {
					printf "| %s | %.2f |\n", t, b / s
					if (t == "rbox") printf "scale.rbox.big_over_small\t%.4f\n", b / s >> fig
				} else printf "| %s | not available |\n", t
			}' "$FIG"
	done
	echo
	rm -rf "$big"

	echo "### burst: $n sandboxes running \`sleep 1\` started at once ($(nproc) cores)"
	echo
	echo "| tool | started | succeeded | failed | wall s | left behind |"
	echo "|---|--:|--:|--:|--:|---|"
	burst bwrap "$n" bwrap --unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-net \
		--bind "$R" / --proc /proc --dev /dev
	if [ "$RBOX_OK" = 1 ]; then
		burst rbox "$n" "$RBOX" exec --net none --rootfs "$R" --
	else
		echo "| rbox | – | – | – | – | $RBOX_WHY |"
	fi
	echo
}
