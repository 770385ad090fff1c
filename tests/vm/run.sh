#!/bin/sh
# run.sh runs inside the test VM as vmuser, in the user's session
# (XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS set), from /mnt/in, the
# folder vmtest.sh filled. Its output and exit status are the VM's.
set -u
cd /mnt/in || exit 125
echo "== VM: $(uname -r), $(systemctl --version | head -n1), cgroup $(stat -f -c %T /sys/fs/cgroup)"
echo "== user@1000 delegates: $(cat /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers)"
# Copy the binaries off 9p: run them from the guest's own disk.
bin=$(mktemp -d)
cp cgroupv2.test cgroup.test rbox rbox-runtime "$bin/"
mkdir "$bin/rootfs" && tar -C "$bin/rootfs" -xf rootfs.tar || exit 125
export RBOX_BIN=$bin/rbox RBOX_ROOTFS=$bin/rootfs
RUN=
. ./run.env
rc=0
t0=$(cut -d' ' -f1 /proc/uptime)
if [ -z "$RUN" ]; then
	echo "== cgroupv2: systemd manager and refusals (from a system service, as vmuser)"
	RBOX_VM=1 "$bin/cgroupv2.test" -test.v -test.count=1 -test.run '^TestVM' || rc=1
	echo "== cgroupv2: cgroupfs manager inside systemd-run --user --scope -p Delegate=yes"
	RBOX_VM=1 RBOX_VM_SCOPE=1 systemd-run --user --scope --quiet -p Delegate=yes -- \
		"$bin/cgroupv2.test" -test.v -test.count=1 -test.run '^TestVM(Cgroupfs|Refusals)$' || rc=1
fi
echo "== rbox: limits through the user's systemd"
RBOX_VM=1 "$bin/cgroup.test" -test.v -test.count=1 -test.timeout=20m -test.run "${RUN:-.}" || rc=1
echo "== rbox: --cgroup-manager cgroupfs inside systemd-run --user --scope -p Delegate=yes"
RBOX_VM=1 RBOX_VM_SCOPE=1 systemd-run --user --scope --quiet -p Delegate=yes -- \
	"$bin/cgroup.test" -test.v -test.count=1 -test.run '^TestVMCgroupfs$' || rc=1
echo "== rbox-runtime: cgroup v2 rootless, inside systemd-run --user --scope -p Delegate=yes"
RBOX_VM=1 RBOX_VM_SCOPE=1 systemd-run --user --scope --quiet -p Delegate=yes -- \
	"$bin/cgroup.test" -test.v -test.count=1 -test.run '^TestVMRuntimeCgroup$' || rc=1
echo "== tests took $(awk -v t0="$t0" '{print $1 - t0}' /proc/uptime) s in the VM"
exit $rc
