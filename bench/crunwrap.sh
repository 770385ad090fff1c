#!/bin/sh
# crunwrap.sh CMD...: run CMD with the cgroup2 mount of this host's hybrid
# cgroup layout hidden. crun 1.8 refuses a hybrid layout outright ("cgroups
# in hybrid mode not supported"), even with --cgroup-manager=disabled, and
# the locked mount cannot be unmounted from a user namespace, so the
# harness runs crun as `unshare -rm crunwrap.sh crun ...`: a private mount
# namespace where a tmpfs covers /sys/fs/cgroup/unified and crun sees a
# plain cgroup v1 host. The wrapper's own cost is measured alone
# (`unshare -rm crunwrap.sh /bin/true`) and subtracted.
mount -t tmpfs -o size=4k bench-nocgroup2 /sys/fs/cgroup/unified || exit 125
exec "$@"
