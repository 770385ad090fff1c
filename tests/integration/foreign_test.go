package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// foreignRootfs is the busybox image given to root by integration.sh: the
// test user may read it but owns none of it, and root is outside the map.
func foreignRootfs(t *testing.T) string {
	t.Helper()
	p := os.Getenv("RBOX_ROOT_ROOTFS")
	need(t, p != "", "RBOX_ROOT_ROOTFS (a root-owned copy of the rootfs, made by integration.sh as root) is not set")
	return p
}

const fuseNotice = "using fuse-overlayfs"

// A tree whose owners are outside the ID map runs as if the user owned it:
// the generated /etc files are bound over the image's, writes to its files
// are copied up (fuse-overlayfs, chosen with one notice), the tree is never
// written, and nothing is left behind.
func TestForeignTree(t *testing.T) {
	root := foreignRootfs(t)
	_, err := exec.LookPath("fuse-overlayfs")
	need(t, err == nil, "fuse-overlayfs not installed")
	before := manifest(t, root)
	run := func(t *testing.T, script string, flags ...string) result {
		t.Helper()
		args := append([]string{"exec", "--rootfs", root}, flags...)
		return rbox(t, append(args, "--", "/bin/sh", "-c", script)...)
	}
	maps := [][]string{{"--idmap", "single"}}
	if hasFullMap() {
		maps = append(maps, []string{"--idmap", "full"})
	}
	for _, m := range maps {
		t.Run(m[1], func(t *testing.T) {
			t.Run("id", func(t *testing.T) {
				r := run(t, "id -u; id -g", m...)
				if ok(t, r) != "0\n0\n" {
					t.Errorf("id: got %q", r.stdout)
				}
				if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, fuseNotice) || !strings.Contains(r.stderr, "uid 0") {
					t.Errorf("want one notice line naming the owner and fuse-overlayfs, got %q", r.stderr)
				}
			})
			t.Run("read-only", func(t *testing.T) {
				r := run(t, "id -u; cat /etc/hostname; touch /etc/x 2>&1 || echo refused", append(m, "--read-only", "--hostname", "ro")...)
				if out := ok(t, r); !strings.HasPrefix(out, "0\nro\n") || !strings.Contains(out, "refused") {
					t.Errorf("--read-only: got %q", out)
				}
				// Nothing is copied up: the kernel driver does it, no notice.
				if r.stderr != "" {
					t.Errorf("--read-only: want no notice (no copy-up, kernel overlay), got %q", r.stderr)
				}
			})
			t.Run("write-passwd", func(t *testing.T) {
				script := `echo 'svc:x:7:7::/:/bin/sh' >> /etc/passwd && grep ^svc: /etc/passwd && stat -c '%u:%g %a' /etc/passwd /etc && id -u svc && mkdir /etc/svc.d && echo ok`
				out := ok(t, run(t, script, m...))
				if out != "svc:x:7:7::/:/bin/sh\n0:0 644\n0:0 755\n7\nok\n" {
					t.Errorf("writing /etc/passwd of the root-owned tree: got %q", out)
				}
			})
			t.Run("hostname", func(t *testing.T) {
				out := ok(t, run(t, "hostname; cat /etc/hostname; grep -c box9 /etc/hosts", append(m, "--hostname", "box9")...))
				if out != "box9\nbox9\n1\n" {
					t.Errorf("--hostname box9: got %q", out)
				}
			})
			t.Run("edit-hosts", func(t *testing.T) {
				out := ok(t, run(t, "echo '10.9.8.7 db.test' >> /etc/hosts && grep db.test /etc/hosts && ping -c1 -W1 db.test 2>&1 | head -1", m...))
				if !strings.HasPrefix(out, "10.9.8.7 db.test\nPING db.test (10.9.8.7)") {
					t.Errorf("a workload that edits /etc/hosts: got %q", out)
				}
			})
		})
	}
	t.Run("slirp-resolv", func(t *testing.T) {
		_, err := exec.LookPath("slirp4netns")
		need(t, err == nil, "slirp4netns not installed")
		out := ok(t, run(t, "cat /etc/resolv.conf", "--net", "slirp"))
		if !strings.Contains(out, "nameserver 10.0.2.3") {
			t.Errorf("--net slirp: /etc/resolv.conf should name slirp4netns's forwarder:\n%s", out)
		}
	})
	// The generated files come in a layer of their own, whose /etc is the
	// user's: under the kernel driver the sandbox starts, and may add files
	// to /etc, but not write the tree's own.
	t.Run("kernel", func(t *testing.T) {
		r := run(t, "cat /etc/hostname; touch /etc/new && echo made; echo x >> /etc/passwd || echo refused", "--overlay", "kernel", "--hostname", "k")
		if out := ok(t, r); out != "k\nmade\nrefused\n" {
			t.Errorf("--overlay kernel: got %q", out)
		}
		if !strings.Contains(r.stderr, "--overlay fuse") {
			t.Errorf("--overlay kernel over a foreign tree: want a warning naming --overlay fuse, got %q", r.stderr)
		}
	})
	// Without fuse-overlayfs the run is refused before it starts, in one
	// line that names the cause and the fixes.
	t.Run("no-fuse", func(t *testing.T) {
		r := rboxWith(t, opts{env: []string{"PATH=/nonexistent"}}, "exec", "--idmap", "single", "--net", "none", "--rootfs", root, "--", "true")
		if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "uid 0") ||
			!strings.Contains(r.stderr, "fuse-overlayfs") || !strings.Contains(r.stderr, "--read-only") {
			t.Errorf("without fuse-overlayfs: want one line and exit 125, got\n%s", r)
		}
	})
	assertTreeUnchanged(t, root, before)
	if names := stateEntries(); len(names) > 0 {
		t.Errorf("state left behind: %v", names)
	}
}

// The generated files, in their own lower layer: no mount for them, the
// image's /etc keeps its mode, and a workload may edit them (sed -i
// renames over the file), in the sandbox only.
func TestGeneratedFiles(t *testing.T) {
	before := manifest(t, rootfs)
	etc, err := os.Stat(filepath.Join(rootfs, "etc"))
	if err != nil {
		t.Fatal(err)
	}
	out := ok(t, sh(t, `grep -cE ' /etc/(hostname|hosts|resolv.conf) ' /proc/self/mountinfo; stat -c '%a %u' /etc /etc/hostname /etc/hosts; sed -i 's/gb$/gb gb.test/' /etc/hosts && grep -c gb.test /etc/hosts; cat /etc/hostname`, "--hostname", "gb", "--net", "none"))
	want := fmt.Sprintf("0\n%o 0\n644 0\n644 0\n1\ngb\n", etc.Mode().Perm())
	if out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	assertUnchanged(t, before)
}

// A debootstrapped Debian that root owns installs a package through slirp.
func TestForeignDebian(t *testing.T) {
	deb := os.Getenv("RBOX_DEBIAN_ROOTFS")
	need(t, deb != "", "RBOX_DEBIAN_ROOTFS is not set: make testdata-debian as root")
	_, err := exec.LookPath("slirp4netns")
	need(t, err == nil, "slirp4netns not installed")
	need(t, hasFullMap(), "apt drops to _apt: it needs the full ID map")
	stamp := filepath.Join(deb, "var/lib/dpkg/status")
	before, err := os.Stat(stamp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rboxBin, "exec", "--net", "slirp", "--rootfs", deb, "--",
		"sh", "-c", "apt-get update -q && apt-get install -y -q hello && hello")
	cmd.Env = baseEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("apt-get in the Debian tree timed out after 10 minutes\n%s\n%s", stdout.String(), stderr.String())
	}
	if err != nil || !strings.HasSuffix(stdout.String(), "Hello, world!\n") {
		t.Fatalf("apt-get install hello && hello: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if strings.Count(stderr.String(), fuseNotice) != 1 {
		t.Errorf("want one notice line, got %q", stderr.String())
	}
	after, err := os.Stat(stamp)
	if err != nil || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("the Debian tree's dpkg status changed: the tree was written")
	}
	if _, err := os.Stat(filepath.Join(deb, "usr/bin/hello")); err == nil {
		t.Errorf("hello landed in the Debian tree itself")
	}
	if names := stateEntries(); len(names) > 0 {
		t.Errorf("state left behind: %v", names)
	}
}

func assertTreeUnchanged(t *testing.T, root, before string) {
	t.Helper()
	if after := manifest(t, root); after != before {
		t.Errorf("the tree %s changed:\n%s", root, diffLines(before, after))
	}
}
