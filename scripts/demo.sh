#!/bin/bash
# demo.sh: show rbox running a shell in the bundled busybox rootfs. As root
# on a fresh machine it installs what is missing and runs as the test user.
set -euo pipefail
cd "$(dirname "$0")/.."
demo_cmd='echo "== inside rbox"; cat /etc/motd; id; hostname; echo "uid_map:"; cat /proc/self/uid_map; echo "network:"; ip -4 -o addr | awk "{ print \$2, \$4 }"; echo "processes:"; ps; touch /demo-was-here && echo "wrote /demo-was-here (in the throwaway layer)"'
make -s build
if [ "$(id -u)" != 0 ]; then
	make -s testdata
	net=()
	if ! command -v slirp4netns >/dev/null || [ ! -r /dev/net/tun ] || [ ! -w /dev/net/tun ]; then
		echo "== no slirp4netns or no usable /dev/net/tun here: the demo runs with --net none (rbox check says how to fix it)"
		net=(--net none)
	fi
	exec bin/rbox exec "${net[@]}" --rootfs testdata/rootfs -- sh -c "$demo_cmd"
fi
scripts/provision.sh
user=${RBOX_TEST_USER:-rboxtest}
stage=$(mktemp -d /tmp/rbox-demo.XXXXXX)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
cp bin/rbox testdata/mkrootfs.sh "$stage/"
chmod 0755 "$stage"/*
mkdir "$stage/img"
chown "$user" "$stage/img"
runuser -u "$user" -- sh "$stage/mkrootfs.sh" "$stage/img/rootfs"
echo "== running as $user (root is never needed by rbox itself)"
runuser -u "$user" -- "$stage/rbox" exec --rootfs "$stage/img/rootfs" -- sh -c "$demo_cmd"
test ! -e "$stage/img/rootfs/demo-was-here" && echo "== the image directory was not written"
