package integration

import (
	"regexp"
	"strings"
	"testing"
)

// Where no overlay mounts at all (issue 17): inside an rbox, an rbox whose
// image is the outer sandbox's own root (--rootfs /) finds the kernel
// refusing it as a lower layer (mounts below it, /proc, /dev, the volumes,
// are locked in the inner user namespace: "failed to clone lowerpath"),
// fuse-overlayfs is not in the image and there is no /dev/fuse. A
// --read-only sandbox gets the image bound read-only as it is; a writable
// one is refused on one line that names both refusals and the way out.

// noticeBound is the notice of a root bound for want of an overlay.
const noticeBound = `: the read-only root is the image "/" bound as it is`

// TestNestedNoOverlay runs, inside an rbox, rboxes over the outer root
// with and without --read-only, with volumes and --tmpfs on top, a
// missing mount point and SYS_ADMIN; the outer image is untouched and no
// state or layer is left at either level.
func TestNestedNoOverlay(t *testing.T) {
	before := treeSum(t, rootfs)
	dir := t.TempDir()
	script(t, dir, "in.sh", `echo "hostname:$(hostname) file:$(cat /etc/hostname)"
grep -q "[[:space:]]$(hostname)\$" /etc/hosts && echo hosts-ok
touch /made 2>/dev/null || echo root-ro
echo x >/tmp/x && echo tmp-rw
echo y >/var/tmp/y && echo tmpfs-rw
test -x /home/user/in.sh && echo vol-ok
grep -q '^Pid:' /proc/self/status && echo proc-ok
echo z >/dev/null && echo dev-ok
test -d /sys/class && echo sys-ok
grep -c ' / / ro,' /proc/self/mountinfo | sed 's/^/ro-root-mounts:/'
`)
	script(t, dir, "l1.sh", `# /root holds the inner rbox's own layers, not the image.
sum() { ls -lAR /bin /etc /home /sbin /usr /var 2>/dev/null | md5sum; }
s0=$(sum)
x="/rbox exec --idmap single --net none --rootfs /"
$x -- true 2>&1; echo "rw-exit:$?"
$x --read-only -v /t:/home/user:ro --tmpfs /var/tmp -- /home/user/in.sh 2>&1; echo "ro-exit:$?"
$x --read-only --tmpfs /nowhere -- true 2>&1; echo "mp-exit:$?"
$x --read-only --cap-add SYS_ADMIN -- true 2>&1; echo "admin-exit:$?"
[ "$(sum)" = "$s0" ] && echo outer-root-untouched
echo "left:$(ls -A /tmp/rbox-0 2>/dev/null | grep -v -e '^names$' -e '[.]features$' | tr '\n' ' ')"
echo "layers:$(ls -A /root/.local/share/rbox/sandboxes 2>/dev/null | tr '\n' ' ')"
`)
	r := rbox(t, "exec", "--net", "none", "--rootfs", rootfs, "-v", rboxBin+":/rbox:ro", "-v", dir+":/t:ro", "--", "/t/l1.sh")
	out := ok(t, r)
	// Each run's output, up to and with its exit line.
	runs := map[string]string{}
	var cur strings.Builder
	for _, line := range strings.SplitAfter(out, "\n") {
		cur.WriteString(line)
		if m := regexp.MustCompile(`^(\w+)-exit:\d+\n$`).FindStringSubmatch(line); m != nil {
			runs[m[1]] = cur.String()
			cur.Reset()
		}
	}
	section := func(name string) string { return runs[strings.TrimSuffix(name, "-exit:")] }

	// A writable root: one line naming both refusals and --read-only.
	rw := section("rw-exit:")
	refusal := regexp.MustCompile(`(?m)^rbox: mount rootfs "/": no overlay here: kernel overlay: .*: invalid argument \(the lower "/" has mounts below it \(/[^)]*\), locked in this user namespace .*\); fuse-overlayfs: not installed, and there is no /dev/fuse \(.*--device /dev/fuse.*\); --read-only needs no overlay\nhint: run rbox check \(probes overlay, fuse\)\nrw-exit:125\n`)
	if !refusal.MatchString(rw) {
		t.Errorf("a writable root without an overlay: want the one refusal line and exit 125:\n%s", rw)
	}

	// --read-only: the image bound, the generated files over its own,
	// the volume, the tmpfs mounts, /proc, /dev and /sys on top.
	ro := section("ro-exit:")
	hostname := regexp.MustCompile(`hostname:(rbox-[0-9a-f]+) file:(rbox-[0-9a-f]+)\n`).FindStringSubmatch(ro)
	if hostname == nil || hostname[1] != hostname[2] {
		t.Errorf("--read-only without an overlay: /etc/hostname is not the sandbox's:\n%s", ro)
	}
	for _, want := range []string{"hosts-ok\n", "root-ro\n", "tmp-rw\n", "tmpfs-rw\n", "vol-ok\n", "proc-ok\n", "dev-ok\n", "sys-ok\n", "ro-root-mounts:1\n", "ro-exit:0\n"} {
		if !strings.Contains(ro, want) {
			t.Errorf("--read-only without an overlay: lacks %q:\n%s", want, ro)
		}
	}
	if c := countOf(ro, noticeBound); c != 1 {
		t.Errorf("--read-only without an overlay: the notice %d times, want once:\n%s", c, ro)
	}
	if strings.Contains(ro, noticeTmpfsLayer) {
		t.Errorf("--read-only: a notice about a writable layer it does not have:\n%s", ro)
	}

	// A mount point the image lacks: one line, before anything mounts.
	mp := section("mp-exit:")
	if !regexp.MustCompile(`(?m)^rbox: mount rootfs "/": no overlay here \(.*\), and the image "/" has no /nowhere, where the sandbox mounts: .*add them to the image\n(hint: .*\n)?mp-exit:125\n`).MatchString(mp) {
		t.Errorf("a missing mount point: want one line and exit 125:\n%s", mp)
	}
	// SYS_ADMIN could remount a bound image read-write: no bind.
	admin := section("admin-exit:")
	if !regexp.MustCompile(`(?m)^rbox: mount rootfs "/": no overlay here: .*; --read-only goes without an overlay only for a workload without SYS_ADMIN \(--cap-add\), which could remount the image read-write\n(hint: .*\n)?admin-exit:125\n`).MatchString(admin) {
		t.Errorf("--read-only with SYS_ADMIN: want one refusal line and exit 125:\n%s", admin)
	}

	for _, want := range []string{"outer-root-untouched\n", "left:\n", "layers:\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if after := treeSum(t, rootfs); after != before {
		t.Errorf("the image changed")
	}
}
