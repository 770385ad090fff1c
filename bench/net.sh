# net.sh: section 2, iperf3 throughput sandbox→host and host→sandbox
# through a published port, loopback only.

NET_SECS=10
[ "$SMOKE" = 1 ] && NET_SECS=1

# net_rootfs DIR: the busybox rootfs plus the host's iperf3 and the
# libraries it links, for sandboxes that pivot into their own root.
net_rootfs() {
	local dir=$1 lib
	rm -rf "$dir" && cp -a "$ROOTFS" "$dir" && mkdir -p "$dir/usr/bin" || return 1
	cp /usr/bin/iperf3 "$dir/usr/bin/" || return 1
	for lib in $(ldd /usr/bin/iperf3 | awk '/=>/ { print $3 } /^\t\// { print $1 }'); do
		mkdir -p "$dir$(dirname "$lib")" && cp -L "$lib" "$dir$lib" || return 1
	done
}

# iperf_s2h NAME ADDR LAUNCHER...: a host server on 127.0.0.1, the client
# in the sandbox dialing ADDR (the host's loopback as the sandbox sees it).
iperf_s2h() {
	local name=$1 addr=$2 spid rc
	shift 2
	timeout $((NET_SECS + 30)) iperf3 -s -1 -B 127.0.0.1 -p "$NET_S2H_PORT" >/dev/null 2>&1 &
	spid=$!
	sleep 0.3
	timeout $((NET_SECS + 30)) "$@" iperf3 -c "$addr" -p "$NET_S2H_PORT" -t "$NET_SECS" -J \
		>"$RES/net-$name-s2h.json" 2>"$RES/net-$name-s2h.err"
	rc=$?
	wait "$spid"
	[ $rc = 0 ] || return 1
}

# iperf_h2s NAME LAUNCHER...: the server in the sandbox on port 5201,
# published on 127.0.0.1:NET_H2S_PORT; the host client retries while the
# sandbox starts (bounded).
iperf_h2s() {
	local name=$1 spid i
	shift
	timeout $((NET_SECS + 40)) "$@" iperf3 -s -1 -p 5201 >/dev/null 2>"$RES/net-$name-h2s.err" &
	spid=$!
	for i in $(seq 60); do
		sleep 0.2
		kill -0 "$spid" 2>/dev/null || break
		iperf3 -c 127.0.0.1 -p "$NET_H2S_PORT" -t "$NET_SECS" -J >"$RES/net-$name-h2s.json" 2>/dev/null && break
	done
	wait "$spid"
	[ -s "$RES/net-$name-h2s.json" ] && "$TOOL" iperf3 "$RES/net-$name-h2s.json" >/dev/null 2>&1
}

# net_line NAME LABEL DIR REF: a table line, with the ratio to REF's rate.
net_line() {
	local name=$1 label=$2 dir=$3 ref=$4 g rg
	if [ -s "$RES/net-$name-$dir.json" ] && g=$("$TOOL" iperf3 "$RES/net-$name-$dir.json" 2>/dev/null); then
		fig "net.$name.$dir.gbps" "$g"
		rg=$(awk -v k="net.$ref.$dir.gbps" -F'\t' '$1 == k { v = $2 } END { print v }' "$FIG")
		if [ "$ref" = "$name" ]; then
			echo "| $label | $dir | $g | 1.00 |"
		elif [ -n "$rg" ]; then
			echo "| $label | $dir | $g | $(awk -v a="$g" -v b="$rg" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "–" }') |"
		else
			echo "| $label | $dir | $g | – |"
		fi
	else
		echo "| $label | $dir | – | $(oneline "${NET_WHY[$name]:-failed: $(cat "$RES/net-$name-$dir.err" 2>/dev/null)}") |"
	fi
}

section_net() {
	local base=$((20000 + $$ % 20000)) gw
	NET_S2H_PORT=$base NET_H2S_PORT=$((base + 1))
	declare -gA NET_WHY=()
	local netroot=$WORK/netroot fail=0
	net_rootfs "$netroot" || { log "net: cannot build the iperf3 rootfs"; return 1; }
	# pasta maps its gateway address to the host's loopback (--map-gw is its
	# default), so a sandbox on pasta reaches the host server at the gateway.
	gw=$(timeout 20 pasta --config-net -- ip -4 route show default 2>/dev/null | awk '{ print $3; exit }')

	# rootlesskit, slirp4netns with the builtin port driver: the reference.
	local rlk=(rootlesskit --net=slirp4netns --port-driver=builtin)
	if command -v rootlesskit >/dev/null; then
		log "net: rootlesskit slirp4netns"
		iperf_s2h rlk-slirp 10.0.2.2 "${rlk[@]}" -- || { log "net: rootlesskit s2h failed"; fail=1; }
		iperf_h2s rlk-slirp "${rlk[@]}" -p "127.0.0.1:$NET_H2S_PORT:5201/tcp" -- || { log "net: rootlesskit h2s failed"; fail=1; }
	else
		NET_WHY[rlk-slirp]="not available: rootlesskit not installed"
	fi
	# rootlesskit gained --net=pasta in v2; older ones have no such driver,
	# so the pasta reference is pasta itself (what rootlesskit v2 runs).
	if rootlesskit --help 2>&1 | grep -q pasta; then
		iperf_s2h rlk-pasta "$gw" rootlesskit --net=pasta --port-driver=builtin -- || fail=1
		iperf_h2s rlk-pasta rootlesskit --net=pasta --port-driver=builtin -p "127.0.0.1:$NET_H2S_PORT:5201/tcp" -- || fail=1
	else
		NET_WHY[rlk-pasta]="not available: rootlesskit $(pkgver rootlesskit) has no pasta driver"
	fi
	if [ -n "$gw" ]; then
		log "net: pasta"
		iperf_s2h pasta "$gw" pasta --config-net -- || { log "net: pasta s2h failed"; fail=1; }
		iperf_h2s pasta pasta --config-net -t "127.0.0.1/$NET_H2S_PORT:5201" -- || { log "net: pasta h2s failed"; fail=1; }
	else
		NET_WHY[pasta]="not available: pasta missing or without a default route"
	fi

	# rbox: the same iperf3, inside its own rootfs.
	local mode
	for mode in slirp pasta; do
		if [ "$RBOX_OK" != 1 ]; then
			NET_WHY[rbox-$mode]=$RBOX_WHY
		elif ! err=$(timeout 60 "$RBOX" exec --net "$mode" --rootfs "$ROOTFS" -- /bin/true 2>&1 >/dev/null); then
			NET_WHY[rbox-$mode]="not available: --net $mode: $(oneline "$err")"
		else
			log "net: rbox --net $mode"
			# The host's loopback is out of reach by default; the server
			# listens there, so the sandbox->host run asks for it.
			iperf_s2h "rbox-$mode" 10.0.2.2 "$RBOX" exec --net "$mode:allow-host-loopback" --rootfs "$netroot" -- ||
				log "net: rbox $mode s2h failed"
			iperf_h2s "rbox-$mode" "$RBOX" exec --net "$mode" --rootfs "$netroot" -p "127.0.0.1:$NET_H2S_PORT:5201" -- ||
				log "net: rbox $mode h2s failed"
		fi
	done

	echo "### network: iperf3, one TCP stream, ${NET_SECS} s, loopback only"
	echo
	echo "| path | direction | Gbit/s | ÷ reference (same backend) |"
	echo "|---|---|--:|--:|"
	local d
	for d in s2h h2s; do
		net_line rlk-slirp "rootlesskit --net=slirp4netns --port-driver=builtin" $d rlk-slirp
		net_line rbox-slirp "rbox --net slirp" $d rlk-slirp
		net_line rlk-pasta "rootlesskit --net=pasta --port-driver=builtin" $d rlk-pasta
		net_line pasta "pasta --config-net (-t for the published port)" $d pasta
		net_line rbox-pasta "rbox --net pasta" $d pasta
	done
	echo
	echo "s2h: the client in the sandbox dials the host's loopback (slirp: 10.0.2.2; pasta: its gateway, mapped to the host); h2s: the host dials 127.0.0.1:PORT published to the sandbox's port 5201. Receiver-side rate."
	echo
	# Only the references must work: a failing rbox row shows in the table.
	[ "$fail" = 0 ]
}
