#!/bin/bash
# vm.sh: a throwaway Debian bookworm VM with systemd as PID 1, a pure cgroup v2
# hierarchy and a lingering user session, for the tests that the dev and CI
# machines cannot run (they have no systemd and a cgroup v1 hybrid). QEMU runs
# with software emulation (no KVM here). See ../../../shared/VM-NOTES.md for
# the measured recipe this follows.
#
#   vm.sh deps      as root: install debootstrap, qemu, e2fsprogs and a Debian kernel
#   vm.sh image     as root: build (or reuse) the cached disk image
#   vm.sh run DIR   boot the image, run DIR/run.sh as vmuser inside the user session,
#                   print DIR/out and exit with run.sh's exit status
#   vm.sh rootfs DIR  as root: a root-owned minbase Debian tree in DIR (cached: kept
#                   when DIR/.stamp matches), from the same mirror; the integration
#                   tests run it with rbox exec --rootfs (make testdata-debian)
#
# Variables:
#   RBOX_VM_DIR      cache directory (default: testdata/vm in the repository, git-ignored)
#   RBOX_VM_TIMEOUT  seconds before a boot is killed (default 900)
#   RBOX_VM_MEM      guest memory (default 2G)
#   RBOX_VM_ACCEL    QEMU accelerator (default tcg: software emulation)
#
# Exit codes of run: run.sh's status; 124 when the VM timed out; 125 when the VM
# could not run or run.sh left no status (the serial console is DIR/console.log).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
VMDIR=${RBOX_VM_DIR:-$repo/testdata/vm}
TIMEOUT=${RBOX_VM_TIMEOUT:-900}
MEM=${RBOX_VM_MEM:-2G}
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,uidmap,util-linux,iproute2,procps,kmod,busybox-static,slirp4netns
HOST_PACKAGES="debootstrap qemu-system-x86 e2fsprogs linux-image-amd64"
# Bump when the image recipe below changes, so cached images are rebuilt.
RECIPE=4

die() { echo "vm.sh: $*" >&2; exit 125; }
log() { echo "vm.sh: $*" >&2; }

# kernel_version picks the newest packaged Debian kernel in /boot: the host's
# running kernel is not a Debian one and has no modules on disk.
kernel_version() {
	local v
	v=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n1)
	[ -n "$v" ] || die "no kernel in /boot: run 'vm.sh deps' as root (installs linux-image-amd64)"
	[ -r "/boot/initrd.img-$v" ] || die "no initrd for kernel $v in /boot"
	[ -d "/lib/modules/$v" ] || die "no modules for kernel $v in /lib/modules"
	echo "$v"
}

# mirror reads the Debian mirror from the host's own apt sources (deb822 first,
# then one-line format), so the image comes from wherever this host installs from.
mirror() {
	local m=""
	if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
		m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
	fi
	[ -n "$m" ] || die "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
	echo "$m"
}

cmd_deps() {
	local missing=""
	command -v debootstrap >/dev/null || missing="$missing debootstrap"
	command -v qemu-system-x86_64 >/dev/null || missing="$missing qemu-system-x86"
	command -v mkfs.ext4 >/dev/null || missing="$missing e2fsprogs"
	ls /boot/vmlinuz-* >/dev/null 2>&1 || missing="$missing linux-image-amd64"
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || die "missing host packages:$missing (run 'vm.sh deps' as root)"
	log "installing$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $HOST_PACKAGES >/dev/null
}

stamp() { echo "recipe=$RECIPE suite=$SUITE kernel=$(kernel_version) packages=$PACKAGES"; }

cmd_image() {
	cmd_deps
	local img=$VMDIR/disk.img
	if [ -f "$img" ] && [ "$(cat "$VMDIR/disk.stamp" 2>/dev/null)" = "$(stamp)" ]; then
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "building the VM image needs root (debootstrap, chroot): run 'vm.sh image' as root"
	local kver mir root t0 t1
	kver=$(kernel_version)
	mir=$(mirror)
	mkdir -p "$VMDIR"
	root=$VMDIR/root
	rm -rf "$root" "$img" "$VMDIR/disk.stamp"
	t0=$(date +%s)
	log "debootstrap $SUITE from $mir (kernel $kver)"
	debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$mir" >"$VMDIR/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $VMDIR/debootstrap.log"
	t1=$(date +%s)

	chroot "$root" useradd -m -u 1000 -s /bin/bash vmuser
	echo vmuser:100000:65536 >"$root/etc/subuid"
	echo vmuser:100000:65536 >"$root/etc/subgid"
	# Lingering starts user@1000.service (the user's systemd and bus) at boot.
	mkdir -p "$root/var/lib/systemd/linger"
	touch "$root/var/lib/systemd/linger/vmuser"
	echo rbox-vm >"$root/etc/hostname"
	# The 9p modules for the shared folder come from the packaged kernel we boot.
	rm -rf "$root/lib/modules/$kver"
	mkdir -p "$root/lib/modules"
	cp -a "/lib/modules/$kver" "$root/lib/modules/"
	printf '9p\n9pnet\n9pnet_virtio\n' >"$root/etc/modules-load.d/9p.conf"
	# slirp4netns opens /dev/net/tun as the user. Desktop distributions
	# ship it 0666 through udev, which this minimal image lacks: the module
	# is loaded at boot and the runner's unit makes the node 0666, as
	# scripts/provision.sh does on the host.
	printf 'tun\n' >"$root/etc/modules-load.d/tun.conf"
	mkdir -p "$root/mnt/in"
	cat >"$root/etc/fstab" <<-'EOF'
	/dev/vda / ext4 rw 0 1
	in /mnt/in 9p trans=virtio,version=9p2000.L,msize=262144,nofail 0 0
	EOF
	# Keep the journal small and off the slow emulated disk.
	mkdir -p "$root/etc/systemd/journald.conf.d"
	printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/volatile.conf"

	# The runner: records when it started (seconds since boot), runs run.sh as
	# vmuser with the user's bus, appends the status, and the unit powers off.
	cat >"$root/usr/local/bin/rbox-vmrun" <<-'EOF'
	#!/bin/sh
	cut -d' ' -f1 /proc/uptime >/mnt/in/uptime-start
	cd /mnt/in || exit 125
	/mnt/in/run.sh >/mnt/in/out 2>&1
	echo "rc=$?" >>/mnt/in/out
	cut -d' ' -f1 /proc/uptime >/mnt/in/uptime-end
	EOF
	chmod 755 "$root/usr/local/bin/rbox-vmrun"
	cat >"$root/etc/systemd/system/rbox-vmrun.service" <<-'EOF'
	[Unit]
	Description=rbox VM test runner
	After=user@1000.service mnt-in.mount
	Requires=user@1000.service mnt-in.mount

	[Service]
	Type=oneshot
	User=vmuser
	Environment=XDG_RUNTIME_DIR=/run/user/1000 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus HOME=/home/vmuser
	ExecStartPre=+/bin/chmod 0666 /dev/net/tun
	ExecStart=-/usr/local/bin/rbox-vmrun
	ExecStopPost=+/bin/systemctl --no-block poweroff
	TimeoutStartSec=infinity

	[Install]
	WantedBy=multi-user.target
	EOF
	chroot "$root" systemctl enable rbox-vmrun.service >/dev/null 2>&1
	# Nothing else should compete for the emulated CPUs.
	chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true

	mkfs.ext4 -q -F -L rbox-vm -d "$root" "$img.tmp" 3G
	mv "$img.tmp" "$img"
	rm -rf "$root"
	stamp >"$VMDIR/disk.stamp"
	log "image $img built in $(($(date +%s) - t0)) s (debootstrap $((t1 - t0)) s)"
}

cmd_run() {
	local dir=${1:-}
	[ -n "$dir" ] && [ -d "$dir" ] || die "usage: vm.sh run DIR (DIR holds run.sh)"
	dir=$(cd "$dir" && pwd)
	[ -x "$dir/run.sh" ] || die "$dir/run.sh is missing or not executable"
	local img=$VMDIR/disk.img
	[ -f "$img" ] || die "no VM image at $img: run 'vm.sh image' as root first"
	local kver
	kver=$(kernel_version)
	# With security_model=none the guest sees the host's mode bits: the guest
	# user must be able to create out and the files the tests write.
	chmod 0777 "$dir"
	rm -f "$dir/out" "$dir/uptime-start" "$dir/uptime-end" "$dir/console.log"
	# TCG by default: these machines have a /dev/kvm that does not boot a guest.
	local accel=${RBOX_VM_ACCEL:-tcg}
	local t0 rc=0
	t0=$(date +%s%N)
	timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -accel "$accel" -m "$MEM" -smp "$(nproc)" \
		-display none -no-reboot -serial "file:$dir/console.log" -monitor none \
		-kernel "/boot/vmlinuz-$kver" -initrd "/boot/initrd.img-$kver" \
		-append 'console=ttyS0 root=/dev/vda rw systemd.unified_cgroup_hierarchy=1 quiet panic=-1' \
		-drive "file=$img,format=raw,if=virtio,snapshot=on" \
		-virtfs "local,path=$dir,mount_tag=in,security_model=none" \
		-nic none </dev/null || rc=$?
	local wall
	wall=$((($(date +%s%N) - t0) / 1000000))
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		log "VM timed out after $TIMEOUT s; serial console: $dir/console.log"
		tail -n 30 "$dir/console.log" >&2 || true
		exit 124
	fi
	if [ ! -f "$dir/out" ]; then
		log "run.sh left no output (qemu exit $rc); serial console: $dir/console.log"
		tail -n 30 "$dir/console.log" >&2 || true
		exit 125
	fi
	cat "$dir/out"
	local inner
	inner=$(sed -n 's/^rc=\([0-9]*\)$/\1/p' "$dir/out" | tail -n1)
	log "VM wall time $((wall / 1000)).$(printf %03d $((wall % 1000))) s; boot to run.sh $(cat "$dir/uptime-start" 2>/dev/null || echo ?) s; run.sh until $(cat "$dir/uptime-end" 2>/dev/null || echo ?) s (guest uptime)"
	[ -n "$inner" ] || { log "run.sh left no status line; serial console: $dir/console.log"; exit 125; }
	exit "$inner"
}

# cmd_rootfs debootstraps a plain minbase tree, owned by root as debootstrap
# leaves it: the tree a user who did not unpack it would be given.
cmd_rootfs() {
	local dir=${1:?usage: vm.sh rootfs DIR} want mir
	want="suite=$SUITE variant=minbase readable"
	if [ -x "$dir/bin/sh" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "debootstrap needs root: run 'make testdata-debian' as root"
	command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
	mir=$(mirror)
	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	log "debootstrap --variant=minbase $SUITE $dir from $mir"
	debootstrap --variant=minbase "$SUITE" "$dir" "$mir" >"$dir.log" 2>&1 ||
		die "debootstrap failed, see $dir.log"
	# apt in the sandbox uses the same mirror.
	echo "deb $mir $SUITE main" >"$dir/etc/apt/sources.list"
	# rbox runs any tree its user can read: the test users must be able to
	# read this one (debootstrap leaves lock files 0640, partial/ 0700).
	chmod -R a+rX "$dir"
	echo "$want" >"$dir/.stamp"
}

case "${1:-}" in
deps) cmd_deps ;;
image) cmd_image ;;
run) shift; cmd_run "$@" ;;
rootfs) shift; cmd_rootfs "$@" ;;
*) echo "usage: $0 deps | image | run DIR | rootfs DIR" >&2; exit 2 ;;
esac
