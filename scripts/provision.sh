#!/bin/bash
# provision.sh [packages]: prepare a fresh Debian 12 machine, as root, for
# rbox's tests: packages, two unprivileged test users (one with subordinate
# ID ranges, one without), and device access that desktop distributions
# grant by default.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "provision.sh: run as root" >&2; exit 1; }

# zsh and fish: the unit tests parse and run the completion scripts in them.
# The image tests: a registry on loopback and skopeo to fill it. podman,
# conmon, runc, crun, bats, containerd and dpkg-dev (apt-get source of
# podman's system tests): the OCI runtime suites in tests/oci.
PACKAGES=(uidmap fuse-overlayfs fuse3 busybox-static slirp4netns passt iproute2 util-linux procps zsh fish
	docker-registry skopeo
	podman conmon runc crun bats containerd dpkg-dev)
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "provision: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ "${1:-}" = packages ] && exit 0

# The test users. useradd on Debian gives every new user a subordinate
# range; the second user must have none.
TEST_USER=${RBOX_TEST_USER:-rboxtest}
NOSUB_USER=${RBOX_NOSUB_USER:-rboxnosub}
for u in "$TEST_USER" "$NOSUB_USER"; do
	id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
done
for f in /etc/subuid /etc/subgid; do
	touch "$f"
	sed -i "/^$NOSUB_USER:/d" "$f"
	grep -q "^$TEST_USER:" "$f" || echo "$TEST_USER:100000:65536" >>"$f"
done

# slirp4netns opens /dev/net/tun and fuse-overlayfs /dev/fuse as the user;
# both are 0666 on desktop distributions, 0600 on this kind of machine.
[ -e /dev/net/tun ] && chmod 0666 /dev/net/tun
[ -e /dev/fuse ] && chmod 0666 /dev/fuse
exit 0
