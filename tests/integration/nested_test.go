package integration

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rbox inside rbox, inside rootless podman, and under a /proc masked by
// unshare: where CI jobs run (issue 17). The static rbox binary reaches
// each level through a volume; the state of every inner level lives on
// the outer level's overlayfs, so its writable layer is a tmpfs.

// Notices the README promises (section "Inside containers and CI").
var (
	noticeTmpfsLayer = "is on overlayfs, which cannot hold an overlay's upper layer: the writable layer is a tmpfs"
	noticeProc       = "a new /proc is refused here (the parent's /proc has masked parts): the sandbox sees the outer pid namespace's /proc"
	noticeSys        = "a new /sys is refused here"
	noticeHostname   = "the outer seccomp filter refuses sethostname"
)

// treeSum sums the names, modes, sizes and contents of a tree: the image
// must come out of every run as it went in.
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d %d\n", strings.TrimPrefix(p, dir), info.Mode(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatalf("sum %s: %v", dir, err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func countOf(s, sub string) int { return strings.Count(s, sub) }

// TestNestedRbox runs rbox in rbox in rbox with --net none. Each inner
// level finds its state on the outer overlay (a tmpfs layer), a masked
// /proc and /sys (the parent's, bound), and leaves nothing in its state
// root; the image is untouched.
func TestNestedRbox(t *testing.T) {
	before := treeSum(t, rootfs)
	dir := t.TempDir()
	// Level 3 writes to its root; level 2 checks its own state root is
	// empty after level 3; level 1 the same for level 2.
	script(t, dir, "l3.sh", `echo deep >/made && cat /made && test -e /proc/self/status && echo l3-ok`)
	script(t, dir, "l2.sh", `/rbox exec --idmap single --net none --rootfs /inner -v /rbox:/rbox:ro -v /t:/t:ro -- /t/l3.sh; rc=$?
echo "l2-left:$(ls -A /tmp/rbox-0 2>/dev/null | grep -v -e '^names$' -e '[.]features$' | tr '\n' ' ')"; exit $rc`)
	script(t, dir, "l1.sh", `/rbox exec --idmap single --net none --rootfs /inner -v /rbox:/rbox:ro -v /inner:/inner:ro -v /t:/t:ro -- /t/l2.sh; rc=$?
echo "l1-left:$(ls -A /tmp/rbox-0 2>/dev/null | grep -v -e '^names$' -e '[.]features$' | tr '\n' ' ')"; exit $rc`)
	r := rbox(t, "exec", "--net", "none", "--rootfs", rootfs,
		"-v", rboxBin+":/rbox:ro", "-v", rootfs+":/inner:ro", "-v", dir+":/t:ro", "--", "/t/l1.sh")
	out := ok(t, r)
	for _, want := range []string{"deep\n", "l3-ok\n", "l2-left:\n", "l1-left:\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("three deep: stdout lacks %q:\n%s", want, r)
		}
	}
	// Levels 2 and 3 each say once what they gave up.
	for _, n := range []string{noticeTmpfsLayer, noticeProc, noticeSys} {
		if got := countOf(r.stderr, n); got != 2 {
			t.Errorf("three deep: notice %q %d times, want 2 (once per inner level):\n%s", n, got, r.stderr)
		}
	}
	if after := treeSum(t, rootfs); after != before {
		t.Errorf("the image changed")
	}
}

// copyBinary copies a host binary and the libraries ldd names into root.
func copyBinary(t *testing.T, root, bin string) {
	t.Helper()
	files := []string{bin}
	out, err := exec.Command("ldd", bin).Output()
	if err == nil {
		files = append(files, regexp.MustCompile(`/[^ \t\n]+`).FindAllString(string(out), -1)...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("copy %s: %v", f, err)
		}
		dst := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Remove(dst) // a busybox symlink
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// netImage is the busybox image with what the default network runs:
// slirp4netns, and nsenter and ip, with which the driver makes the tap.
func netImage(t *testing.T) string {
	t.Helper()
	var bins []string
	for _, b := range []string{"slirp4netns", "nsenter", "ip"} {
		p, err := exec.LookPath(b)
		need(t, err == nil, b+" is not installed")
		bins = append(bins, p)
	}
	img := filepath.Join(t.TempDir(), "netimg")
	if out, err := exec.Command("cp", "-a", rootfs, img).CombinedOutput(); err != nil {
		t.Fatalf("copy the image: %v: %s", err, out)
	}
	for _, b := range bins {
		copyBinary(t, img, b)
	}
	return img
}

// TestNestedRboxNetwork gives the default network three deep: the outer
// sandbox (--net none) gets /dev/net/tun with --device and runs an rbox
// with the default network (slirp) that gets it again, and the innermost
// one reaches a server on the middle one's loopback as 10.0.2.2.
func TestNestedRboxNetwork(t *testing.T) {
	tun, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	need(t, err == nil, "/dev/net/tun is not usable")
	tun.Close()
	img := netImage(t)
	before := treeSum(t, rootfs)
	dir := t.TempDir()
	script(t, dir, "l3.sh", `wget -qO- http://10.0.2.2:8080/hello.txt`)
	script(t, dir, "l2.sh", `ip -4 addr show tap0 | grep -o 'inet [0-9.]*'
mkdir -p /tmp/www && echo hello-from-l2 >/tmp/www/hello.txt && httpd -p 127.0.0.1:8080 -h /tmp/www
/rbox exec --idmap single --net slirp:allow-host-loopback --rootfs /inner -v /t:/t:ro -- /t/l3.sh; rc=$?
echo "l2-left:$(ls -A /tmp/rbox-0 2>/dev/null | grep -v -e '^names$' -e '[.]features$' | tr '\n' ' ')"; exit $rc`)
	script(t, dir, "l1.sh", `/rbox exec --idmap single --device /dev/net/tun --rootfs /netimg -v /rbox:/rbox:ro -v /inner:/inner:ro -v /t:/t:ro -- /t/l2.sh; rc=$?
echo "l1-left:$(ls -A /tmp/rbox-0 2>/dev/null | grep -v -e '^names$' -e '[.]features$' | tr '\n' ' ')"; exit $rc`)
	r := rbox(t, "exec", "--net", "none", "--device", "/dev/net/tun", "--rootfs", img,
		"-v", rboxBin+":/rbox:ro", "-v", rootfs+":/inner:ro", "-v", img+":/netimg:ro", "-v", dir+":/t:ro", "--", "/t/l1.sh")
	out := ok(t, r)
	for _, want := range []string{"inet 10.0.2.100", "hello-from-l2\n", "l2-left:\n", "l1-left:\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("default network three deep: stdout lacks %q:\n%s", want, r)
		}
	}
	if after := treeSum(t, rootfs); after != before {
		t.Errorf("the image changed")
	}
}

// TestNestedLayerFull: a tmpfs layer that fills up says so, and names
// --layer-size; --persist on the outer overlay is refused on one line.
func TestNestedLayerFull(t *testing.T) {
	dir := t.TempDir()
	script(t, dir, "full.sh", `/rbox exec --idmap single --net none --layer-size 1m --rootfs /inner -- sh -c 'dd if=/dev/zero of=/big bs=1k count=4096 2>&1 | grep -o "No space left on device" | head -1'
/rbox exec --idmap single --net none --persist /tmp/keep --rootfs /inner -- true 2>&1; echo "persist-exit:$?"
/rbox exec --idmap single --net none --layer-size 0 --rootfs /inner -- true 2>&1; echo "size-exit:$?"`)
	r := rbox(t, "exec", "--net", "none", "--rootfs", rootfs,
		"-v", rboxBin+":/rbox:ro", "-v", rootfs+":/inner:ro", "-v", dir+":/t:ro", "--", "/t/full.sh")
	out := ok(t, r)
	if !strings.Contains(out, "No space left on device") {
		t.Errorf("a full 1m tmpfs layer: want ENOSPC in the workload:\n%s", r)
	}
	if !regexp.MustCompile(`(?m)^rbox: --persist "/tmp/keep" is on overlayfs, which cannot hold an overlay's upper layer: .*\npersist-exit:125$`).MatchString(out) {
		t.Errorf("--persist on overlayfs: want one line and exit 125:\n%s", r)
	}
	if !regexp.MustCompile(`(?m)^rbox: invalid --layer-size "0": .*\nsize-exit:125$`).MatchString(out) {
		t.Errorf("--layer-size 0: want one line and exit 125:\n%s", r)
	}
	if strings.Contains(r.stderr, noticeTmpfsLayer) && strings.Count(r.stderr, noticeTmpfsLayer) != 1 {
		t.Errorf("an explicit --layer-size must not repeat the notice:\n%s", r.stderr)
	}
}

// TestNestedOuterSeccomp stands an outer sandbox's seccomp profile in for
// docker's: one that refuses sethostname costs the inner sandbox its
// hostname, said once; one that refuses mount stops it, on a line that
// names the outer runtime's flag.
func TestNestedOuterSeccomp(t *testing.T) {
	dir := t.TempDir()
	for name, calls := range map[string]string{"nohostname.json": `"sethostname"`, "nomount.json": `"mount"`} {
		p := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[` + calls + `],"action":"SCMP_ACT_ERRNO"}]}`
		if err := os.WriteFile(filepath.Join(dir, name), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inner := []string{"/rbox", "exec", "--idmap", "single", "--net", "none", "--rootfs", "/inner", "--", "echo", "inner-ran"}
	run := func(profile string) result {
		args := []string{"exec", "--net", "none", "--rootfs", rootfs, "--seccomp", filepath.Join(dir, profile),
			"-v", rboxBin + ":/rbox:ro", "-v", rootfs + ":/inner:ro", "--"}
		return rbox(t, append(args, inner...)...)
	}
	r := run("nohostname.json")
	if out := ok(t, r); out != "inner-ran\n" || countOf(r.stderr, noticeHostname) != 1 {
		t.Errorf("outer filter without sethostname: want the workload and one notice:\n%s", r)
	}
	r = run("nomount.json")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 125 || !strings.Contains(lines[len(lines)-2], "make / private: operation not permitted: a seccomp filter installed outside rbox") ||
		!strings.Contains(r.stderr, "--security-opt seccomp=unconfined") {
		t.Errorf("outer filter without mount: want exit 125 and the line naming --security-opt seccomp=unconfined:\n%s", r)
	}
}

// TestUnshareMaskedProc makes a masked /proc and /sys itself, as a
// container runtime does (a tmpfs over a directory, /dev/null over a
// file, a read-only bind), in a user namespace of unshare's: rbox falls
// back to the parent's /proc and /sys with its own masks over them.
func TestUnshareMaskedProc(t *testing.T) {
	_, err := exec.LookPath("unshare")
	need(t, err == nil, "unshare (util-linux) is not installed")
	dir := t.TempDir()
	script(t, dir, "mask.sh", `set -e
mount -t tmpfs -o ro,size=0 none /proc/acpi 2>/dev/null || mount -t tmpfs -o ro,size=0 none /proc/scsi
mount --bind /dev/null /proc/interrupts
mount --bind -o ro /proc/sys /proc/sys
mount -t tmpfs -o ro,size=0 none /sys/firmware
exec "$@"`)
	script(t, dir, "probe.sh", `cat /proc/self/status | grep -c '^Pid:'; wc -c </proc/interrupts; (echo 1 >/proc/sys/kernel/hostname) 2>/dev/null && echo sys-writable || echo sys-ro; ls /sys/class/net >/dev/null && echo sys-ok; echo 2 >/x && cat /x`)
	cmd := exec.Command("unshare", "-Urm", "--propagation", "private", filepath.Join(dir, "mask.sh"),
		rboxBin, "exec", "--idmap", "single", "--net", "none", "--rootfs", rootfs, "-v", dir+":/t:ro", "--", "/t/probe.sh")
	cmd.Env = baseEnv()
	out, err := cmd.CombinedOutput()
	s := string(out)
	if err != nil {
		t.Fatalf("rbox under a masked /proc: %v\n%s", err, s)
	}
	for _, want := range []string{noticeProc, noticeSys, "1\n0\nsys-ro\nsys-ok\n2\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("rbox under a masked /proc: output lacks %q:\n%s", want, s)
		}
	}
	if countOf(s, "rbox: notice:") != 2 {
		t.Errorf("want two notices, one for /proc and one for /sys:\n%s", s)
	}
}
