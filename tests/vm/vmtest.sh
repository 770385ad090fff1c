#!/bin/bash
# vmtest.sh: the tests that need systemd and a pure cgroup v2 hierarchy, run
# in the test VM (vm.sh). As root on a fresh machine it installs what the VM
# needs and builds the cached image first. `make vmtest` calls it.
#
#   RBOX_VM_WORK  folder shared with the VM (default: a new temporary one);
#                 it keeps out and console.log for diagnosis
#   RBOX_VM_BOMBS how many fork bombs TestVMPidsLimit sets off (default 5)
#   RUN           a -test.run pattern: only the tests of tests/cgroup that
#                 match (the cgroupv2 package's VM tests are skipped then)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
GO=${GO:-go}

work=${RBOX_VM_WORK:-$(mktemp -d /tmp/rbox-vmtest.XXXXXX)}
mkdir -p "$work"
"$here/vm.sh" image
# Static test binaries: the guest is a plain Debian without Go.
(cd "$repo" && CGO_ENABLED=0 "$GO" test -c -o "$work/cgroupv2.test" ./cgroupv2)
(cd "$repo" && CGO_ENABLED=0 "$GO" test -c -o "$work/cgroup.test" ./tests/cgroup)
# rbox itself (make vmtest builds it) and the busybox rootfs as a tarball:
# building it inside, a fork per applet under emulation, takes half a minute.
cp "$repo/bin/rbox" "$repo/bin/rbox-runtime" "$work/"
rm -rf "$work/rootfs"
sh "$repo/testdata/mkrootfs.sh" "$work/rootfs"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
rm -rf "$work/rootfs"
cp "$here/run.sh" "$work/run.sh"
printf "RUN='%s'\nexport RBOX_VM_BOMBS='%s'\n" "${RUN:-}" "${RBOX_VM_BOMBS:-5}" >"$work/run.env"
chmod 755 "$work/run.sh" "$work/cgroupv2.test" "$work/cgroup.test" "$work/rbox" "$work/rbox-runtime"
echo "vmtest: booting the VM (software emulation; about 15 s to boot); work folder $work" >&2
exec "$here/vm.sh" run "$work"
