# image.sh: section 6, images. A cold pull of a ~100 MiB single-layer
# image from a local registry (Debian's docker-registry on 127.0.0.1)
# by rbox and by podman; warm exec --image of a 4-layer image beside
# exec --rootfs of the same tree flattened; two images sharing a base.
#
# The big layer is synthetic (benchtool genlayer: some 6400 files of
# word-like text, which gzip packs 2.8:1, as a distribution's tree): a
# debootstrapped Debian tree would need the network, which the bench may
# not use.

# registry_start DIR: docker-registry on a free loopback port, storing
# under DIR; sets REG (host:port) and REG_PID.
registry_start() {
	local dir=$1 try i
	command -v docker-registry >/dev/null || { log "image: docker-registry is not installed"; return 1; }
	mkdir -p "$dir/data"
	for ((try = 0; try < 5; try++)); do
		REG=127.0.0.1:$((20000 + RANDOM % 20000))
		printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\n' \
			"$dir" "$REG" >"$dir/config.yml"
		docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
		REG_PID=$!
		for ((i = 0; i < 100; i++)); do
			kill -0 "$REG_PID" 2>/dev/null || break # the port was taken
			curl -sf "http://$REG/v2/" >/dev/null 2>&1 && return 0
			sleep 0.05
		done
		kill "$REG_PID" 2>/dev/null
		wait "$REG_PID" 2>/dev/null
	done
	log "image: the registry did not answer: $(cat "$dir/log")"
	return 1
}

# rbox_store_rm DATA: empty an XDG_DATA_HOME of rbox's store (its layers'
# files belong to subordinate IDs: rmi and prune remove them) and remove it.
rbox_store_rm() {
	local data=$1 ref
	for ref in $(XDG_DATA_HOME=$data "$RBOX" images --json 2>/dev/null | jq -r '.[].ref'); do
		XDG_DATA_HOME=$data "$RBOX" rmi "$ref" >/dev/null
	done
	XDG_DATA_HOME=$data "$RBOX" image prune >/dev/null
	rm -rf "$data"
}

# cold_pull NAME DIR CMD...: one cold pull in a fresh DIR; appends
# "wall_s maxrss_kib" to $RES/pull-NAME.txt.
cold_pull() {
	local name=$1 dir=$2 out
	shift 2
	mkdir -p "$dir"
	if ! out=$(/usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null); then
		log "image: $name pull failed: $(oneline "$out")"
		return 1
	fi
	echo "$out" | tail -1 >>"$RES/pull-$name.txt"
}

section_image() {
	local img=$WORK/img size=100M runs=5 i reg
	[ "$SMOKE" = 1 ] && size=2M runs=1
	rm -rf "$img" && mkdir -p "$img" "$WORK/podman" # (cleanup_user stops podman's pause process)
	[ -x /usr/bin/time ] || { log "image: /usr/bin/time is missing (apt-get install time)"; return 1; }
	command -v skopeo >/dev/null || { log "image: skopeo is not installed"; return 1; }

	log "image: a $size single-layer image"
	local files
	files=$("$TOOL" genlayer -bytes "$size" -out "$img/big.tar") || return 1
	"$TOOL" oci -out "$img/big" -tag v1 "$img/big.tar" || return 1
	local gz
	gz=$(du -k "$img/big/blobs/sha256" | tail -1 | cut -f1)
	rm -f "$img/big.tar"
	registry_start "$img/registry" || return 1
	skopeo copy -q --dest-tls-verify=false "oci:$img/big:v1" "docker://$REG/bench/big:v1" >/dev/null ||
		{ kill "$REG_PID"; log "image: skopeo copy to the registry failed"; return 1; }
	reg=$REG/bench/big:v1

	PODMAN_DRIVER=overlay
	podman --root "$img/pinfo/root" --runroot "$img/pinfo/run" --storage-driver overlay info >/dev/null 2>&1 || PODMAN_DRIVER=vfs
	podman --root "$img/pinfo/root" --runroot "$img/pinfo/run" unshare rm -rf "$img/pinfo" 2>/dev/null
	rm -rf "$img/pinfo"
	# Cold pulls, interleaved: each in an empty store of its own.
	: >"$RES/pull-rbox.txt"
	: >"$RES/pull-podman.txt"
	local fail=0 pdir
	for ((i = 0; i < runs; i++)); do
		if [ "$RBOX_OK" = 1 ]; then
			XDG_DATA_HOME=$img/pull-rbox-$i cold_pull rbox "$img/pull-rbox-$i" "$RBOX" pull --tls-verify=false "$reg" || fail=1
			rbox_store_rm "$img/pull-rbox-$i"
		fi
		pdir=$img/pull-podman-$i
		# overlay, as podman picks on a host configured for it (with
		# --root alone this podman falls back to vfs, which copies more).
		cold_pull podman "$pdir" podman --root "$pdir/root" --runroot "$pdir/run" --storage-driver "$PODMAN_DRIVER" \
			--cgroup-manager cgroupfs --events-backend file pull -q --tls-verify=false "$reg" || fail=1
		podman --root "$pdir/root" --runroot "$pdir/run" unshare rm -rf "$pdir/root" 2>/dev/null
		rm -rf "$pdir"
	done
	kill "$REG_PID" 2>/dev/null
	wait "$REG_PID" 2>/dev/null
	local driver=$PODMAN_DRIVER
	echo "### cold pull of a $size single-layer image ($files files, $((gz / 1024)) MiB gzip) from docker-registry on 127.0.0.1 ($runs runs, interleaved)"
	echo
	echo "| tool | median wall s | min s | max s | peak RSS MiB (largest process, max of runs) |"
	echo "|---|--:|--:|--:|--:|"
	local t
	for t in rbox podman; do
		[ -s "$RES/pull-$t.txt" ] || { echo "| $t | – | – | – | not available |"; continue; }
		sort -n "$RES/pull-$t.txt" | awk -v t="$t" -v fig="$FIG" -v drv="$driver" '
			{ w[NR] = $1; if ($2 > rss) rss = $2 }
			END {
				med = (NR % 2) ? w[(NR + 1) / 2] : (w[NR / 2] + w[NR / 2 + 1]) / 2
				label = t; if (t == "podman") label = "podman pull (storage " drv ")"; else label = "rbox pull"
				printf "| %s | %.2f | %.2f | %.2f | %.1f |\n", label, med, w[1], w[NR], rss / 1024
				printf "image.pull.%s.median_s\t%f\nimage.pull.%s.maxrss_kib\t%d\n", t, med, t, rss >> fig
			}'
	done
	echo

	# Warm exec: 4 layers of the busybox rootfs against the rootfs itself.
	log "image: a 4-layer image of the busybox rootfs"
	(cd "$ROOTFS" && tar --owner=0 --group=0 --numeric-owner -cf "$img/l1.tar" bin/busybox &&
		tar --owner=0 --group=0 --numeric-owner --exclude bin/busybox -cf "$img/l2.tar" bin &&
		tar --owner=0 --group=0 --numeric-owner -cf "$img/l3.tar" etc sbin &&
		tar --owner=0 --group=0 --numeric-owner -cf "$img/l4.tar" proc dev sys tmp) || return 1
	"$TOOL" oci -out "$img/four" -tag v1 -cmd /bin/true "$img/l1.tar" "$img/l2.tar" "$img/l3.tar" "$img/l4.tar" || return 1
	local four=oci:$img/four:v1
	if [ "$RBOX_OK" = 1 ]; then
		"$RBOX" pull "$four" >/dev/null 2>&1 || { log "image: rbox pull $four failed"; fail=1; }
	fi
	row_init imgexec
	row_rbox rbox-rootfs "rbox exec --rootfs (busybox tree)" "$RBOX" exec --net none --rootfs "$ROOTFS" -- /bin/true
	row_rbox rbox-image "rbox exec --image (the same tree in 4 layers)" "$RBOX" exec --net none --pull=never --image "$four" -- /bin/true
	hf_run "warm start of /bin/true: 4-layer image against the flattened tree ($ROUNDS rounds × $RUNS runs)" -ref rbox-rootfs || fail=1
	if [ "$RBOX_OK" = 1 ]; then
		"$RBOX" rmi "$four" >/dev/null && "$RBOX" image prune >/dev/null || fail=1
	fi

	# Two images sharing the 4-layer base: the second adds only its own layer.
	if [ "$RBOX_OK" = 1 ]; then
		printf 'a\n' >"$img/a.txt" && (cd "$img" && tar --owner=0 --group=0 -cf "$img/la.tar" a.txt)
		printf 'b\n' >"$img/b.txt" && (cd "$img" && tar --owner=0 --group=0 -cf "$img/lb.tar" b.txt)
		"$TOOL" oci -out "$img/share" -tag a "$img/l1.tar" "$img/l2.tar" "$img/l3.tar" "$img/l4.tar" "$img/la.tar" &&
			"$TOOL" oci -out "$img/share" -tag b "$img/l1.tar" "$img/l2.tar" "$img/l3.tar" "$img/l4.tar" "$img/lb.tar" || return 1
		local sd=$img/share-store base one two
		XDG_DATA_HOME=$sd "$RBOX" pull "oci:$img/share:a" >/dev/null 2>&1 || fail=1
		one=$(du -sk "$sd/rbox/images/layers" | cut -f1)
		XDG_DATA_HOME=$sd "$RBOX" pull "oci:$img/share:b" >/dev/null 2>&1 || fail=1
		two=$(du -sk "$sd/rbox/images/layers" | cut -f1)
		base=$(du -sk "$ROOTFS" | cut -f1)
		echo "### two images sharing a 4-layer base (the busybox tree, $base KiB)"
		echo
		echo "| store | du -sk of layers/ |"
		echo "|---|--:|"
		echo "| after image a (base + a) | $one |"
		echo "| after image b (base + b) | $two |"
		echo
		awk -v a="$one" -v b="$two" -v base="$base" 'BEGIN { printf "image.share.added_over_base\t%f\n", (b - a) / base }' >>"$FIG"
		rbox_store_rm "$sd"
	fi
	return $fail
}
