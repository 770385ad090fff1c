package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func subIDRange(t *testing.T) string {
	t.Helper()
	need(t, hasFullMap(), "this user has no /etc/subuid range")
	b, _ := os.ReadFile("/etc/subuid")
	return string(b)
}

func TestFullIDMap(t *testing.T) {
	subIDRange(t)
	out := ok(t, sh(t, "cat /proc/self/uid_map; cat /proc/self/gid_map"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 {
		t.Fatalf("want two-line uid and gid maps, got %q", out)
	}
	f := strings.Fields(lines[0])
	if f[0] != "0" || f[2] != "1" || f[1] != itoa(os.Getuid()) {
		t.Errorf("first uid_map line %q: want 0 %d 1", lines[0], os.Getuid())
	}
	if f := strings.Fields(lines[1]); f[0] != "1" || f[2] != "65536" {
		t.Errorf("second uid_map line %q: want 1 <subuid start> 65536", lines[1])
	}
}

func TestChownAndUserInFullMap(t *testing.T) {
	subIDRange(t)
	out := ok(t, sh(t, "touch /f && chown 1000:1000 /f && stat -c '%u:%g' /f"))
	if strings.TrimSpace(out) != "1000:1000" {
		t.Errorf("chown inside: got %q, want 1000:1000", out)
	}
	out = ok(t, rbox(t, "exec", "--rootfs", rootfs, "-u", "1000", "--", "id"))
	if !strings.Contains(out, "uid=1000") || !strings.Contains(out, "gid=1000") {
		t.Errorf("-u 1000: got %q", out)
	}
	out = ok(t, rbox(t, "exec", "--rootfs", rootfs, "-u", "user", "--", "sh", "-c", "id; echo $HOME"))
	if !strings.Contains(out, "uid=1000(user)") || !strings.Contains(out, "100(users)") || !strings.Contains(out, "groups=") || !strings.Contains(out, "/home/user") {
		t.Errorf("-u user: got %q", out)
	}
	out = ok(t, rbox(t, "exec", "--rootfs", rootfs, "-u", "1000:100", "--", "id"))
	if !strings.Contains(out, "uid=1000(user) gid=100(users)") {
		t.Errorf("-u 1000:100: got %q", out)
	}
}

func TestSingleIDMap(t *testing.T) {
	r := sh(t, "cat /proc/self/uid_map", "--idmap", "single")
	out := ok(t, r)
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 1 {
		t.Errorf("--idmap single: want one uid_map line, got %q", out)
	}
	if r.stderr != "" {
		t.Errorf("--idmap single asked on purpose must not warn, got %q", r.stderr)
	}
	r = rbox(t, "exec", "--rootfs", rootfs, "--idmap", "single", "-u", "1000", "--", "id")
	if r.code != 125 || !strings.Contains(r.stderr, "uid 1000 is not mapped") {
		t.Errorf("-u 1000 with a single map: want exit 125 and a clear error, got\n%s", r)
	}
	r = rbox(t, "exec", "--rootfs", rootfs, "--idmap", "single", "-u", "user", "--", "id")
	if r.code != 125 || !strings.Contains(r.stderr, "uid 1000 is not mapped") {
		t.Errorf("-u user with a single map: want exit 125 and a clear error, got\n%s", r)
	}
}

// TestNoSubID runs as the second test user, who has no subordinate range
// (make test runs it so); rbox must fall back to the single map and say so.
func TestNoSubID(t *testing.T) {
	need(t, !hasFullMap(), "runs as the test user without a subuid range (RBOX_EXPECT_NO_SUBID=1)")
	r := sh(t, "cat /proc/self/uid_map")
	out := ok(t, r)
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 1 {
		t.Errorf("want the single map, got %q", out)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "warning: no range for user") {
		t.Errorf("want one warning line naming the missing range, got %q", r.stderr)
	}
	r = rbox(t, "exec", "--rootfs", rootfs, "--idmap", "full", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "/etc/subuid") {
		t.Errorf("--idmap full without a range: want 125 naming /etc/subuid, got\n%s", r)
	}
}

// Without the helpers on PATH, rbox falls back to the single map.
func TestNoHelpersFallback(t *testing.T) {
	subIDRange(t)
	r := rboxWith(t, opts{env: []string{"PATH=/nonexistent"}}, "exec", "--rootfs", rootfs, "--net", "none", "--", "/bin/cat", "/proc/self/uid_map")
	out := ok(t, r)
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 1 {
		t.Errorf("want the single map, got %q", out)
	}
	if !strings.Contains(r.stderr, "newuidmap not found") {
		t.Errorf("want a warning naming newuidmap, got %q", r.stderr)
	}
}

// A newuidmap that fails (a copy without its setuid bit) is reported with
// its argv and stderr, and nothing is left behind.
func TestNewuidmapFailure(t *testing.T) {
	subIDRange(t)
	real, err := exec.LookPath("newuidmap")
	need(t, err == nil, "newuidmap not installed")
	dir := t.TempDir()
	for _, h := range []string{"newuidmap", "newgidmap"} {
		src, _ := exec.LookPath(h)
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, h), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_ = real
	r := rboxWith(t, opts{env: []string{"PATH=" + dir + ":/usr/bin:/bin"}}, "exec", "--rootfs", rootfs, "--", "true")
	if r.code != 125 {
		t.Fatalf("want exit 125, got\n%s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if !strings.Contains(lines[0], filepath.Join(dir, "newuidmap")+" ") || len(lines) != 2 || lines[1] != "hint: run rbox check (probe idmap)" {
		t.Errorf("want one line with the helper's argv and stderr, then the hint, got %q", r.stderr)
	}
}
