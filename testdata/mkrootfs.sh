#!/bin/sh
# mkrootfs.sh DEST: build a busybox rootfs from Debian's busybox-static.
# Runs as an ordinary user: no device nodes, no chown. The files belong to
# whoever builds them, which is root inside that user's sandboxes.
set -eu
dest=${1:?usage: mkrootfs.sh DEST}
busybox=${BUSYBOX:-/bin/busybox}
if ! "$busybox" --list >/dev/null 2>&1; then
	echo "mkrootfs.sh: $busybox is missing or not busybox: apt-get install busybox-static" >&2
	exit 1
fi
tmp=$dest.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
for d in bin sbin usr/bin usr/sbin etc root home/user tmp proc sys dev var/tmp var/www; do
	mkdir -p "$tmp/$d"
done
chmod 1777 "$tmp/tmp" "$tmp/var/tmp"
chmod 700 "$tmp/root"
cp "$busybox" "$tmp/bin/busybox"
chmod 755 "$tmp/bin/busybox"
for applet in $("$busybox" --list-full); do
	case $applet in bin/busybox) continue ;; esac
	dir=$(dirname "$applet")
	mkdir -p "$tmp/$dir"
	rel=$(echo "$dir" | sed 's|[^/][^/]*|..|g')
	ln -sf "$rel/bin/busybox" "$tmp/$applet"
done
cat >"$tmp/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat >"$tmp/etc/group" <<'GR'
root:x:0:
daemon:x:1:
tty:x:5:
users:x:100:user
user:x:1000:
nogroup:x:65534:
GR
echo 'rbox' >"$tmp/etc/hostname"
printf 'hello from the busybox rootfs\n' >"$tmp/etc/motd"
printf '<html><body>rbox</body></html>\n' >"$tmp/var/www/index.html"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
