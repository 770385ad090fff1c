#!/bin/sh
# fsovl.sh kernel|fuse LOWER SCRATCH BENCHDIR TAR: mount an overlay of
# LOWER by hand (in the private mount namespace of `unshare -rm`, which the
# caller provides) with fresh upper and work dirs under SCRATCH, and run
# fsload.sh inside it, as rbox's overlay would host it.
set -e
kind=$1 lower=$2 scratch=$3 bench=$4 tar=$5
d=$(mktemp -d "$scratch/ovl.XXXXXX")
mkdir "$d/upper" "$d/work" "$d/merged"
opts="lowerdir=$lower,upperdir=$d/upper,workdir=$d/work"
case $kind in
kernel)
	mount -t overlay bench-overlay -o "$opts" "$d/merged"
	;;
fuse)
	# Foreground, so that the daemon is ours to wait for after the unmount.
	fuse-overlayfs -f -o "$opts" "$d/merged" &
	fpid=$!
	i=0
	until grep -q " $d/merged " /proc/self/mountinfo; do
		i=$((i + 1))
		[ $i -le 500 ] && kill -0 $fpid 2>/dev/null || { echo "fuse-overlayfs did not mount" >&2; exit 1; }
		sleep 0.01
	done
	;;
*) echo "fsovl.sh: unknown overlay $kind" >&2; exit 2 ;;
esac
PATH=$lower/bin "$lower/bin/sh" "$bench/fsload.sh" "$d/merged/x" "$tar"
umount "$d/merged"
[ "$kind" = fuse ] && wait $fpid
rm -rf "$d"
