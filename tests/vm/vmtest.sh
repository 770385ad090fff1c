#!/bin/bash
# vmtest.sh: the tests that need systemd and a pure cgroup v2 hierarchy, run
# in the test VM (vm.sh). As root on a fresh machine it installs what the VM
# needs and builds the cached image first. `make vmtest` calls it.
#
#   RBOX_VM_WORK  folder shared with the VM (default: a new temporary one);
#                 it keeps out and console.log for diagnosis
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
GO=${GO:-go}

work=${RBOX_VM_WORK:-$(mktemp -d /tmp/rbox-vmtest.XXXXXX)}
mkdir -p "$work"
"$here/vm.sh" image
# Static test binaries: the guest is a plain Debian without Go.
(cd "$repo" && CGO_ENABLED=0 "$GO" test -c -o "$work/cgroupv2.test" ./cgroupv2)
cp "$here/run.sh" "$work/run.sh"
chmod 755 "$work/run.sh" "$work/cgroupv2.test"
echo "vmtest: booting the VM (software emulation; about 15 s to boot); work folder $work" >&2
exec "$here/vm.sh" run "$work"
