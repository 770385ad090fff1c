package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// manifest records every entry of a tree: type, mode, owner, size, content
// hash or link target, and mtime. Two equal manifests mean the tree was not
// written.
func manifest(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sys := st.Sys().(*syscall.Stat_t)
		extra := ""
		switch {
		case st.Mode()&os.ModeSymlink != 0:
			extra, _ = os.Readlink(p)
		case st.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			extra = hex.EncodeToString(h[:8])
		}
		rel, _ := filepath.Rel(root, p)
		lines = append(lines, fmt.Sprintf("%s %v %d:%d %d %d.%d %s", rel, st.Mode(), sys.Uid, sys.Gid, st.Size(), sys.Mtim.Sec, sys.Mtim.Nsec, extra))
		return nil
	})
	if err != nil {
		t.Fatalf("manifest of %s: %v", root, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func assertUnchanged(t *testing.T, before string) {
	t.Helper()
	if after := manifest(t, rootfs); after != before {
		t.Errorf("the image directory changed:\n%s", diffLines(before, after))
	}
}

func diffLines(a, b string) string {
	am, bm := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		am[l] = true
	}
	for _, l := range strings.Split(b, "\n") {
		bm[l] = true
	}
	var out []string
	for l := range am {
		if !bm[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range bm {
		if !am[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

const vandal = `set -e
echo new > /new-file; echo changed >> /etc/motd; rm /etc/hostname.orig 2>/dev/null || true
rm /bin/ls; chmod 600 /etc/passwd; mkdir -p /var/x/y; echo z > /var/x/y/z
rm -rf /home/user; mv /var/www /var/www2; ln -s /etc /etc-link
`

// The workload writes, deletes, renames, chmods and chowns; the image
// stays byte-for-byte, owner and mode identical, for every driver and mode.
func TestImageNeverWritten(t *testing.T) {
	before := manifest(t, rootfs)
	chown := ""
	if hasFullMap() {
		chown = "chown 1000:1000 /etc/group; mkdir /own; chown 1000 /own; chmod 700 /own; touch /own/f; chown 1001:1001 /own/f\n"
	}
	cases := []struct {
		name  string
		flags []string
	}{
		{"kernel", []string{"--overlay", "kernel"}},
		{"auto", nil},
		{"fuse", []string{"--overlay", "fuse"}},
		{"persist", []string{"--persist", persistDir(t)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "fuse" {
				_, err := exec.LookPath("fuse-overlayfs")
				need(t, err == nil, "fuse-overlayfs not installed")
			}
			ok(t, sh(t, vandal+chown+"ls / >/dev/null", c.flags...))
			assertUnchanged(t, before)
		})
	}
	t.Run("read-only", func(t *testing.T) {
		r := sh(t, "touch /x", "--read-only")
		if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
			t.Errorf("writing / with --read-only: want a failure, got\n%s", r)
		}
		ok(t, sh(t, "echo hi > /tmp/x && cat /tmp/x", "--read-only"))
		assertUnchanged(t, before)
	})
}

func TestOverlayDrivers(t *testing.T) {
	r := sh(t, "true", "--debug", "--overlay", "kernel")
	ok(t, r)
	if !strings.Contains(r.stderr, "kernel overlay") {
		t.Errorf("--debug must name the driver, got %q", r.stderr)
	}
	_, err := exec.LookPath("fuse-overlayfs")
	need(t, err == nil, "fuse-overlayfs not installed")
	r = sh(t, "echo x > /f && cat /f", "--debug", "--overlay", "fuse")
	if ok(t, r) != "x\n" || !strings.Contains(r.stderr, "fuse overlay") {
		t.Errorf("--overlay fuse: got\n%s", r)
	}
}

func TestPersist(t *testing.T) {
	dir := persistDir(t)
	ok(t, sh(t, "echo kept > /root/note; rm /etc/motd", "--persist", dir))
	out := ok(t, sh(t, "cat /root/note; test -e /etc/motd || echo motd-gone", "--persist", dir))
	if out != "kept\nmotd-gone\n" {
		t.Errorf("second run with --persist: got %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "upper", "root", "note")); err != nil {
		t.Errorf("the upper layer should hold the change: %v", err)
	}
	out = ok(t, sh(t, "cat /root/note 2>&1 || true"))
	if strings.Contains(out, "kept") {
		t.Error("a run without --persist must not see the persisted change")
	}
}

func TestEphemeralLayerRemoved(t *testing.T) {
	need(t, hasFullMap(), "needs subordinate IDs to create files the host user cannot delete")
	// Files owned by subordinate IDs in a directory only they may enter:
	// the host user could not delete these; rbox must.
	ok(t, sh(t, "mkdir -p /deep/a/b; echo x > /deep/a/b/f; chown -R 1000:1000 /deep; chmod -R 700 /deep; chmod 000 /deep/a/b"))
	if entries := stateEntries(); len(entries) != 0 {
		t.Errorf("state left after the run: %v", entries)
	}
}

func TestFilesystemInside(t *testing.T) {
	out := ok(t, sh(t, `
for d in null zero full random urandom tty; do test -c /dev/$d || echo "missing /dev/$d"; done
test -d /dev/pts && test -d /dev/shm && test -d /dev/mqueue || echo "missing /dev dirs"
test -L /dev/ptmx && test -L /dev/fd || echo "missing /dev links"
head -c 4 /dev/urandom | wc -c
touch /sys/x 2>/dev/null && echo "sys writable"
grep -q ' /sys sysfs ro' /proc/mounts || echo "sys not ro"
echo hi > /dev/shm/x && cat /dev/shm/x
ls /proc | grep -c '^[0-9]'
cat /proc/1/cmdline | tr '\0' ' '; echo
`))
	want := "4\nhi\n"
	if !strings.HasPrefix(out, want) {
		t.Fatalf("inside checks: got %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// PID 1 (the init), sh, ls, grep: a handful, not the host's hundreds.
	if n := lines[2]; len(n) > 1 {
		t.Errorf("the sandbox sees %s processes: the host's are visible", n)
	}
	if !strings.Contains(lines[3], "__init") {
		t.Errorf("PID 1 should be rbox's init, got %q", lines[3])
	}
}

// No path leads back to the host's tree after the pivot.
func TestNoHostTree(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "host-marker")
	os.WriteFile(marker, []byte("host"), 0o644)
	out := ok(t, sh(t, "cat /proc/self/mountinfo; find / -xdev -name host-marker 2>/dev/null; ls /proc/1/root/ >/dev/null 2>&1 && echo root-open; true"))
	if strings.Contains(out, "host-marker") {
		t.Errorf("a host file is reachable inside:\n%s", out)
	}
	if strings.Contains(out, stateDir) {
		t.Errorf("host paths show in the sandbox's mountinfo:\n%s", out)
	}
}

func TestHostname(t *testing.T) {
	out := ok(t, sh(t, "hostname; cat /etc/hostname; grep -c \"$(hostname)\" /etc/hosts"))
	f := strings.Fields(out)
	if len(f) != 3 || !strings.HasPrefix(f[0], "rbox-") || f[0] != f[1] || f[2] != "1" {
		t.Errorf("default hostname: got %q", out)
	}
	out = ok(t, sh(t, "hostname; cat /etc/hostname; grep -c box7 /etc/hosts", "--hostname", "box7"))
	if out != "box7\nbox7\n1\n" {
		t.Errorf("--hostname box7: got %q", out)
	}
}

// persistDir is a --persist directory removed with rbox remove-layer at the
// end of the test, which also proves that command.
func persistDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "layer")
	t.Cleanup(func() {
		if _, err := os.Stat(dir); err != nil {
			return
		}
		if r := rbox(t, "remove-layer", dir); r.code != 0 {
			t.Errorf("rbox remove-layer %s:\n%s", dir, r)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("rbox remove-layer left %s", dir)
		}
	})
	return dir
}

// Kernel state is masked or read-only, as runc's default spec has it.
func TestMaskedPaths(t *testing.T) {
	out := ok(t, sh(t, `
for f in /proc/keys /proc/timer_list /proc/sched_debug /proc/interrupts; do
	[ -e $f ] && [ -n "$(head -c 1 $f)" ] && echo "readable $f"
done
for d in /proc/acpi /proc/scsi /sys/firmware; do
	[ -d $d ] && [ -n "$(ls -A $d)" ] && echo "listable $d"
done
echo x > /proc/sys/kernel/hostname 2>/dev/null && echo "wrote /proc/sys"
[ -e /proc/sysrq-trigger ] && echo h > /proc/sysrq-trigger 2>/dev/null && echo "wrote sysrq-trigger"
grep -q ' /proc/sys proc ro' /proc/mounts || echo "/proc/sys not read-only"
true`))
	if out != "" {
		t.Errorf("masked or read-only paths exposed:\n%s", out)
	}
}
