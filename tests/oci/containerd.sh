#!/bin/bash
# containerd.sh: Debian's containerd 1.6 as root, with its config, root,
# state and socket under the suite's temp dir (never the system's socket),
# RUNTIME behind the runc v2 shim. An OCI image archive of the busybox
# rootfs, written here by hand (layer tar, config, manifest, index), is
# imported with ctr; then ctr run --runc-binary (run, exit code, tty,
# exec, ps, kill, delete) and the CRI path: a runtime handler "rbox" whose
# options.BinaryName is RUNTIME, driven by crictl (built by deps.sh):
# runp, create, start, exec, stop, rm. RUNTIME is called through a wrapper
# that logs each call, so a test sees that the engine ran it.
set -euo pipefail
SUITE=containerd
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "containerd.sh: run as root" >&2; exit 125; }
resolve_runtime
for t in containerd ctr containerd-shim-runc-v2; do
	command -v $t >/dev/null || { echo "containerd.sh: $t missing: scripts/provision.sh packages" >&2; exit 125; }
done
CRICTL=$OCI_CACHE/bin/crictl
[ -x "$CRICTL" ] || { echo "containerd.sh: $CRICTL missing: run make oci-deps" >&2; exit 125; }
out=$OCI_CACHE/results/$SUITE-$RUNTIME_NAME
rm -rf "$out"
mkdir -p "$out"
mk_tmp
NS=rbox-ocitest-${T##*.}
SOCK=$T/containerd.sock
# The runc shim keeps its sockets in /run/containerd/s and, by default,
# the runtime's state in /run/containerd/runc/NAMESPACE: what was there
# before is not ours.
shim_socks_before=$(ls /run/containerd/s 2>/dev/null | sort || true)
had_run_dir=
[ -d /run/containerd ] && had_run_dir=1
cpid=
cleanup() {
	if [ -n "$cpid" ]; then
		for ns in "$NS" k8s.io; do
			for c in $(C -n "$ns" task ls -q 2>/dev/null); do C -n "$ns" task kill -s KILL "$c" >/dev/null 2>&1 || true; done
			sleep 0.3
			for c in $(C -n "$ns" task ls -q 2>/dev/null); do C -n "$ns" task rm -f "$c" >/dev/null 2>&1 || true; done
			for c in $(C -n "$ns" c ls -q 2>/dev/null); do C -n "$ns" c rm "$c" >/dev/null 2>&1 || true; done
		done
		kill "$cpid" 2>/dev/null || true
		wait "$cpid" 2>/dev/null || true
	fi
	rm -rf "/run/containerd/runc/$NS"
	# The shim made /run/containerd for its sockets: gone again if it was ours.
	if [ -z "$had_run_dir" ]; then rmdir /run/containerd/s /run/containerd/runc /run/containerd 2>/dev/null || true; fi
	cp "$T/containerd.log" "$T/runtime.calls" "$out/" 2>/dev/null || true
	rm_tmp
}
trap cleanup EXIT
C() { timeout -k 5 60 ctr -a "$SOCK" "$@"; }
CRI() { timeout -k 5 60 "$CRICTL" --config "$T/crictl.yaml" "$@"; }

mkdir -p "$T/bin" "$T/fifo" "$T/cni" "$T/logs"
cat >"$T/bin/runtime" <<WRAP
#!/bin/sh
echo "\$*" >>"$T/runtime.calls"
exec "$RUNTIME" "\$@"
WRAP
chmod 0755 "$T/bin/runtime"

# The image: one uncompressed layer (so its digest is its diff ID), two
# configs on it: the plain image (sh) and the pod sandbox (a shell that
# exits on TERM, standing in for the pause image).
img=$T/img
mkdir -p "$img/blobs/sha256"
sh "$REPO/testdata/mkrootfs.sh" "$T/rootfs" >/dev/null
tar -C "$T/rootfs" --sort=name --numeric-owner -cf "$T/layer.tar" .
blob() { # FILE: store it as a blob, print its digest and size
	local d
	d=$(sha256sum "$1" | cut -d' ' -f1)
	mv "$1" "$img/blobs/sha256/$d"
	echo "sha256:$d $(stat -c %s "$img/blobs/sha256/$d")"
}
read -r layer layer_size < <(blob "$T/layer.tar")
manifest() { # NAME CMD-JSON: a config and manifest, print the index entry
	local cfg cfg_size m m_size
	printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
		"$2" "$layer" >"$T/cfg.json"
	read -r cfg cfg_size < <(blob "$T/cfg.json")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
		"$cfg" "$cfg_size" "$layer" "$layer_size" >"$T/manifest.json"
	read -r m m_size < <(blob "$T/manifest.json")
	printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}' \
		"$m" "$m_size" "$1"
}
IMAGE=localhost/rbox/busybox:latest
PAUSE=localhost/rbox/pause:latest
e1=$(manifest "$IMAGE" '["/bin/sh"]')
e2=$(manifest "$PAUSE" '["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 1; done"]')
printf '{"schemaVersion":2,"manifests":[%s,%s]}' "$e1" "$e2" >"$img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$img/oci-layout"
tar -C "$img" -cf "$T/image.tar" .

cat >"$T/config.toml" <<CONF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # The sandbox asks for oom_score_adj -998; root here lacks CAP_SYS_RESOURCE
  # (not in its bounding set), so no score may go below containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$T/cni"
    conf_dir = "$T/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "rbox"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rbox]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rbox.options]
        BinaryName = "$T/bin/runtime"
        Root = "$T/cri-runtime-root"
CONF
cat >"$T/crictl.yaml" <<CONF
runtime-endpoint: unix://$SOCK
image-endpoint: unix://$SOCK
timeout: 30
CONF

# HIDE_UNIFIED=1: containerd (and so its shims and the runtime) in a mount
# namespace of its own without /sys/fs/cgroup/unified, a plain cgroup v1
# layout (crun 1.8 refuses this host's hybrid one).
if [ "${HIDE_UNIFIED:-}" = 1 ]; then
	timeout -k 5 1800 unshare -m --propagation private sh -c \
		'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; exec containerd --config "$1"' \
		sh "$T/config.toml" >"$T/containerd.log" 2>&1 &
else
	timeout -k 5 1800 containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
fi
cpid=$!
for _ in $(seq 100); do
	C version >/dev/null 2>&1 && break
	kill -0 "$cpid" 2>/dev/null || break
	sleep 0.1
done
if ! C version >/dev/null 2>&1; then
	echo "containerd.sh: containerd did not start:"; tail -20 "$T/containerd.log"; exit 1
fi
echo "containerd: $(containerd --version), runtime $RUNTIME ($("$RUNTIME" --version 2>/dev/null | head -1))"

expect_rc() { # WANT CMD...
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || { echo "  exit $rc, want $want: $(head -c 300 "$T/out")"; return 1; }
}
expect_out() { # WANT CMD...: exits 0, prints WANT (grep -E)
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>&1 || rc=$?
	[ "$rc" = 0 ] && grep -qE "$want" "$T/out" || { echo "  exit $rc, want /$want/: $(head -c 300 "$T/out")"; return 1; }
}
called() { # a runtime command the engine ran through the wrapper
	grep -qE "$1" "$T/runtime.calls" 2>/dev/null || { echo "  the engine did not call the runtime's $1"; return 1; }
}

# ctr
check "ctr image import" expect_out "$IMAGE" C -n "$NS" images import --platform linux/amd64 "$T/image.tar"
R=(run --runc-binary "$T/bin/runtime" --fifo-dir "$T/fifo")
check "ctr run --rm echo hi" expect_out '^hi' C -n "$NS" "${R[@]}" --rm "$IMAGE" c-echo echo hi
check "ctr run: the runtime was RUNTIME" called '(^| )create '
check "ctr run: exit code 3" expect_rc 3 C -n "$NS" "${R[@]}" --rm "$IMAGE" c-exit sh -c 'exit 3'
check "ctr run -t (tty, under script)" expect_out '/dev/pts/[0-9]+' \
	timeout -k 5 60 script -qec "ctr -a $SOCK -n $NS run --runc-binary $T/bin/runtime --fifo-dir $T/fifo --rm -t $IMAGE c-tty tty" /dev/null
check "ctr run -d" expect_rc 0 C -n "$NS" "${R[@]}" -d "$IMAGE" c-bg sh -c 'trap "exit 7" USR1; while :; do sleep 0.1; done'
check "ctr task exec" expect_out '^in-container' C -n "$NS" task exec --fifo-dir "$T/fifo" --exec-id e1 c-bg echo in-container
check "ctr task exec: the runtime's exec" called '(^| )exec '
# The runtime's exec --detach returns once the process runs, not when it
# ends: the shim waits for it before it answers.
check "ctr task exec -d (a long process, back at once)" expect_rc 0 \
	timeout -k 2 10 ctr -a "$SOCK" -n "$NS" task exec -d --fifo-dir "$T/fifo" --exec-id e2 c-bg sleep 60
check "ctr task ps" expect_out '^[0-9]+' C -n "$NS" task ps c-bg
kill_usr1() {
	C -n "$NS" task kill -s USR1 c-bg || return 1
	for _ in $(seq 50); do
		C -n "$NS" task ls | grep -qE '^c-bg +[0-9]+ +STOPPED' && return 0
		sleep 0.1
	done
	echo "  not stopped: $(C -n "$NS" task ls)"
	return 1
}
check "ctr task kill -s USR1 (its trap exits)" kill_usr1
# ctr task delete exits 0 and reports the task's status in a warning.
check "ctr task delete: exit status 7" expect_out 'exit code 7"' C -n "$NS" task delete c-bg
kill_9() {
	C -n "$NS" "${R[@]}" -d "$IMAGE" c-k sleep 1000 || return 1
	C -n "$NS" task kill -s KILL c-k || return 1
	for _ in $(seq 50); do
		C -n "$NS" task ls | grep -qE '^c-k +[0-9]+ +STOPPED' && break
		sleep 0.1
	done
	expect_out 'exit code 137"' C -n "$NS" task delete c-k
}
check "ctr run -d, task kill -s KILL, delete: 137" kill_9
check "ctr containers rm" expect_rc 0 C -n "$NS" containers rm c-bg c-k
none_left() {
	local left
	left=$(C -n "$NS" containers ls -q && C -n "$NS" task ls -q) || return 1
	[ -z "$left" ] || { echo "  left: $left"; return 1; }
}
check "ctr: no container or task left" none_left

# CRI
cat >"$T/pod.json" <<JSON
{"metadata": {"name": "rbox-pod", "namespace": "default", "uid": "rbox-pod-uid", "attempt": 1},
 "log_directory": "$T/logs",
 "linux": {"security_context": {"namespace_options": {"network": 2}}}}
JSON
cat >"$T/ctr.json" <<JSON
{"metadata": {"name": "sleeper"},
 "image": {"image": "$IMAGE"},
 "command": ["/bin/sh", "-c", "echo started; trap 'exit 0' TERM; while :; do sleep 0.1; done"],
 "log_path": "sleeper.log",
 "linux": {}}
JSON
: >"$T/runtime.calls"
check "crictl: image import into k8s.io" expect_out "$IMAGE" C -n k8s.io images import --platform linux/amd64 "$T/image.tar"
check "crictl images lists it" expect_out 'localhost/rbox/busybox' CRI images
POD= CID=
runp() { POD=$(CRI runp --runtime rbox "$T/pod.json") && [ -n "$POD" ]; }
check "crictl runp --runtime rbox" runp
check "crictl runp: the handler's BinaryName ran" called '(^| )create '
create() { CID=$(CRI create "$POD" "$T/ctr.json" "$T/pod.json") && [ -n "$CID" ]; }
check "crictl create" create
check "crictl start" expect_rc 0 CRI start "$CID"
check "crictl ps shows it running" expect_out 'Running' CRI ps --id "$CID"
check "crictl exec -s (sync)" expect_out '^in-sync' CRI exec -s "$CID" echo in-sync
check "crictl exec (streamed, loopback)" expect_out '^in-stream' CRI exec "$CID" echo in-stream
check "crictl exec: the runtime's exec" called '(^| )exec '
check "crictl logs" expect_out '^started' CRI logs "$CID"
check "crictl stop -t 2" expect_rc 0 CRI stop -t 2 "$CID"
check "crictl rm" expect_rc 0 CRI rm "$CID"
check "crictl stopp" expect_rc 0 CRI stopp "$POD"
check "crictl rmp" expect_rc 0 CRI rmp "$POD"
cri_none_left() {
	local left
	left=$(CRI ps -aq && CRI pods -q) || return 1
	[ -z "$left" ] || { echo "  left: $left"; return 1; }
}
check "crictl: no container or pod left" cri_none_left

kill "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
cpid=
sleep 0.5
nothing_left() {
	local ok=0 now
	leftovers "$T" || ok=1
	now=$(ls /run/containerd/s 2>/dev/null | sort || true)
	if [ "$now" != "$shim_socks_before" ]; then echo "  shim sockets left in /run/containerd/s: $(comm -13 <(echo "$shim_socks_before") <(echo "$now"))"; ok=1; fi
	if [ -n "$(ls -A "/run/containerd/runc/$NS" 2>/dev/null)" ]; then echo "  runtime state left in /run/containerd/runc/$NS"; ok=1; fi
	pgrep -f "containerd-shim-runc-v2 -namespace ($NS|k8s.io) .*-address $SOCK" && ok=1
	return $ok
}
check "nothing left (processes, mounts, shim sockets, runtime state)" nothing_left
summary
