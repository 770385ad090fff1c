package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// podmanEnv runs Debian's rootless podman with everything under dir:
// storage, run root, config, its XDG runtime directory. runc, because
// crun refuses this host's cgroup layout; overlay storage, as CI's
// docker and podman use, so that the container's /tmp is an overlayfs.
type podmanEnv struct {
	dir string
	env []string
}

func newPodman(t *testing.T) *podmanEnv {
	t.Helper()
	for _, b := range []string{"podman", "runc"} {
		_, err := exec.LookPath(b)
		need(t, err == nil, b+" is not installed")
	}
	need(t, hasFullMap(), "rootless podman needs a subordinate ID range")
	dir, err := os.MkdirTemp("", "rbox-podman")
	if err != nil {
		t.Fatal(err)
	}
	p := &podmanEnv{dir: dir}
	xdg := filepath.Join(dir, "xdg")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	p.env = baseEnv("XDG_RUNTIME_DIR="+xdg, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	t.Cleanup(p.cleanup)
	return p
}

func (p *podmanEnv) cmd(ctx context.Context, args ...string) *exec.Cmd {
	base := []string{"--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "run"),
		"--tmpdir", filepath.Join(p.dir, "tmp"), "--runtime", "runc", "--storage-driver", "overlay",
		"--cgroup-manager", "cgroupfs", "--events-backend", "none"}
	cmd := exec.CommandContext(ctx, "podman", append(base, args...)...)
	cmd.Env = p.env
	// podman's conmon outlives a run as a zombie of PID 1 for a while: a
	// session of its own keeps it apart from the test's leftover check.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd
}

func (p *podmanEnv) run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd := p.cmd(ctx, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("podman %v: timed out\n%s", args, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("podman %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// cleanup removes the storage (files of subordinate IDs: through podman
// unshare) and stops podman's pause process, which outlives the runs.
func (p *podmanEnv) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p.cmd(ctx, "unshare", "rm", "-rf", filepath.Join(p.dir, "root"), filepath.Join(p.dir, "run")).Run()
	// With --tmpdir the pause process's pid file is there.
	if b, err := os.ReadFile(filepath.Join(p.dir, "tmp", "pause.pid")); err == nil {
		var pid int
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err == nil && pid > 1 {
			if pr, err := os.FindProcess(pid); err == nil {
				pr.Kill()
				pr.Wait()
			}
		}
	}
	os.RemoveAll(p.dir)
}

// importImage imports a rootfs directory as an image named name.
func (p *podmanEnv) importImage(t *testing.T, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// Owned by root, as a real image is (the test's rootfs is the user's).
	tar := exec.CommandContext(ctx, "tar", "--owner=0", "--group=0", "--numeric-owner", "-C", dir, "-c", ".")
	imp := p.cmd(ctx, "import", "-", name)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = pipe
	var out strings.Builder
	imp.Stderr = &out
	if err := tar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := imp.Run(); err != nil {
		t.Fatalf("podman import %s: %v: %s", name, err, out.String())
	}
	tar.Wait()
}

// TestPodmanNested runs the static rbox, from a volume, inside rootless
// podman under each option the README's table names: each runs the
// workload, or fails with the one line the README promises.
func TestPodmanNested(t *testing.T) {
	p := newPodman(t)
	p.importImage(t, rootfs, "rbox-bb")
	net := netImage(t)
	p.importImage(t, net, "rbox-net")
	before := treeSum(t, rootfs)
	exe := []string{"/pm/rbox", "exec", "--idmap", "single"}
	vols := []string{"-v", rboxBin + ":/pm/rbox:ro", "-v", rootfs + ":/pm/img:ro"}
	tests := []struct {
		name    string
		podman  []string // podman run options
		image   string
		rbox    []string // rbox exec options
		rootfs  string   // --rootfs, /pm/img unless given
		script  string
		want    string // in stdout, for a run that works
		line    string // the first line of stderr of a refusal
		refusal string // or a line of stderr of a refusal, as a regexp
		notices []string
		absent  []string // notices that must not appear
	}{
		{name: "default", image: "rbox-bb", rbox: []string{"--net", "none"}, script: "echo hi > /f && cat /f",
			want: "hi\n", notices: []string{noticeTmpfsLayer, noticeProc, noticeSys, noticeHostname}},
		{name: "default-net", image: "rbox-bb", script: "true",
			line: "rbox: --net slirp needs slirp4netns, which is not installed (not in PATH): as root, apt-get install slirp4netns; or use --net none or --net host"},
		{name: "seccomp-unconfined", podman: []string{"--security-opt", "seccomp=unconfined"}, image: "rbox-bb", rbox: []string{"--net", "none"},
			script: "hostname", want: "rbox-", notices: []string{noticeProc}, absent: []string{noticeHostname}},
		{name: "unmask-proc", podman: []string{"--security-opt", "unmask=/proc/*"}, image: "rbox-bb", rbox: []string{"--net", "none"},
			script: "echo hi", want: "hi\n", notices: []string{noticeHostname}, absent: []string{noticeProc}},
		{name: "device-tun", podman: []string{"--device", "/dev/net/tun"}, image: "rbox-net",
			script: "ip -4 addr show tap0 | grep -o 'inet [0-9.]*'", want: "inet 10.0.2.100\n"},
		{name: "read-only", podman: []string{"--read-only"}, image: "rbox-bb", rbox: []string{"--net", "none"},
			script: "echo hi > /f && cat /f", want: "hi\n", notices: []string{noticeProc}},
		// The container's own root as the image: its /etc/hosts, /proc,
		// /dev and volumes are locked mounts below the lower, which the
		// kernel will not clone; no fuse-overlayfs, no /dev/fuse.
		{name: "rootfs-slash", image: "rbox-bb", rbox: []string{"--net", "none"}, rootfs: "/", script: "true",
			refusal: `(?m)^rbox: mount rootfs "/": no overlay here: kernel overlay: .*invalid argument \(the lower "/" has mounts below it .*\); fuse-overlayfs: not installed, and there is no /dev/fuse \(.*--device /dev/fuse.*\); --read-only needs no overlay$`},
		{name: "rootfs-slash-read-only", image: "rbox-bb", rbox: []string{"--net", "none", "--read-only"}, rootfs: "/",
			script: "cat /etc/hostname /etc/hosts | grep -c rbox-; touch /x 2>/dev/null || echo ro", want: "2\nro\n",
			notices: []string{noticeBound, noticeProc, noticeHostname}, absent: []string{noticeTmpfsLayer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// --network none: podman's own slirp4netns is no part of the
			// test, and would count as a helper left behind.
			args := append([]string{"run", "--rm", "--network", "none"}, tt.podman...)
			args = append(args, vols...)
			args = append(args, tt.image)
			args = append(args, exe...)
			rootfs := tt.rootfs
			if rootfs == "" {
				rootfs = "/pm/img"
			}
			args = append(args, "--rootfs", rootfs)
			args = append(args, tt.rbox...)
			r := p.run(t, append(args, "--", "sh", "-c", tt.script)...)
			if tt.refusal != "" {
				if r.code != 125 || !regexp.MustCompile(tt.refusal).MatchString(r.stderr) {
					t.Fatalf("want exit 125 and a line matching %s, got:\n%s", tt.refusal, r)
				}
				return
			}
			if tt.line != "" {
				first, _, _ := strings.Cut(r.stderr, "\n")
				if r.code != 125 || first != tt.line {
					t.Fatalf("want exit 125 and the line %q, got:\n%s", tt.line, r)
				}
				return
			}
			if r.code != 0 || !strings.Contains(r.stdout, tt.want) {
				t.Fatalf("want exit 0 and %q, got:\n%s", tt.want, r)
			}
			for _, n := range tt.notices {
				if c := countOf(r.stderr, n); c != 1 {
					t.Errorf("notice %q %d times, want once:\n%s", n, c, r.stderr)
				}
			}
			for _, n := range tt.absent {
				if strings.Contains(r.stderr, n) {
					t.Errorf("notice %q, which this option lifts:\n%s", n, r.stderr)
				}
			}
		})
	}
	// rbox check in the default container names each outer option.
	r := p.run(t, append(append([]string{"run", "--rm", "--network", "none"}, vols...), "rbox-bb", "/pm/rbox", "check")...)
	for _, want := range []string{"--security-opt seccomp=unconfined", "--security-opt unmask=/proc/*", "systempaths=unconfined", "--device /dev/net/tun", "rbox exec --read-only still works"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rbox check in podman does not name %q:\n%s", want, r)
		}
	}
	if after := treeSum(t, rootfs); after != before {
		t.Errorf("the image changed")
	}
}
