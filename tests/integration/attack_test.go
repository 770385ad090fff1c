package integration

// The hostile-workload suite: each test is a workload that tries one
// attack; the test asserts it fails and that nothing on the host changed.
// Where an opt-out exists, the test also shows that the opt-out changes
// the outcome, so no test passes because the attack was never attempted.

import (
	"bytes"
	"crypto/sha256"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A setuid binary cannot raise privileges under no_new_privs.
func TestAttackSetuidWithNoNewPrivs(t *testing.T) {
	need(t, hasFullMap(), "needs a second uid inside")
	img := probeImage(t)
	layer := persistDir(t)
	ok(t, rbox(t, "exec", "--rootfs", img, "--persist", layer, "--", "sh", "-c",
		"mkdir /s && cp /probe /s/probe && chown 1000:1000 /s/probe && chmod 4755 /s/probe"))
	out := ok(t, rbox(t, "exec", "--rootfs", img, "--persist", layer, "-u", "1001", "--", "/s/probe", "ids"))
	if out != "uid=1001 euid=1001\n" {
		t.Errorf("setuid binary under no_new_privs: %q, want euid 1001", out)
	}
	out = ok(t, rbox(t, "exec", "--rootfs", img, "--persist", layer, "-u", "1001", "--allow-new-privs", "--", "/s/probe", "ids"))
	if out != "uid=1001 euid=1000\n" {
		t.Errorf("with --allow-new-privs the setuid bit should work (the probe is real): %q", out)
	}
}

// runc's CVE-2019-5736: the workload must not be able to write the binary
// that runs the sandbox, through /proc/self/exe or the init's /proc/1/exe.
func TestAttackOverwriteRboxBinary(t *testing.T) {
	img := probeImage(t)
	// A binary the user owns and may write, as any go build output is.
	own := filepath.Join(t.TempDir(), "rbox")
	b, err := os.ReadFile(rboxBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, b, 0o755); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(b)
	cmd := exec.Command(own, "exec", "--rootfs", img, "--", "sh", "-c",
		"/probe write /proc/1/exe; /probe write /proc/self/exe; echo x > /proc/1/exe 2>/dev/null && echo shell-wrote; true")
	cmd.Env = baseEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "denied:") {
			t.Errorf("write to the init's or own exe: %q", l)
		}
	}
	if got, _ := os.ReadFile(own); sha256.Sum256(got) != want {
		t.Fatal("the rbox binary was modified from inside the sandbox")
	}
}

// The workload starts with exactly fds 0, 1, 2 and a working directory
// inside the rootfs (runc's CVE-2024-21626), even when rbox itself was
// started with more descriptors open.
func TestAttackLeakedDescriptors(t *testing.T) {
	img := probeImage(t)
	extra, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	cmd := exec.Command(rboxBin, "exec", "--rootfs", img, "-w", "/tmp", "--", "/probe", "fds")
	cmd.Env = baseEnv()
	cmd.ExtraFiles = []*os.File{extra, extra, extra}
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// ReadDir's own descriptor shows as the fourth.
	f := strings.Fields(string(out))
	if len(f) != 5 || strings.Join(f[:3], " ") != "0 1 2" || f[4] != "/tmp" {
		t.Errorf("descriptors and cwd inside: %q, want 0 1 2 (+ the listing's own) and /tmp", out)
	}
	out2 := ok(t, rbox(t, "exec", "--rootfs", img, "--", "sh", "-c", "ls -l /proc/self/fd/ /proc/1/fd/ 2>&1 | grep -c -- '-> /[^pd]' || true"))
	if strings.TrimSpace(out2) != "0" {
		t.Errorf("host paths visible through /proc/*/fd: %q", out2)
	}
}

// Without -t the host terminal is not the workload's controlling
// terminal: TIOCSTI cannot push keystrokes into the user's shell.
func TestAttackTIOCSTI(t *testing.T) {
	img := probeImage(t)
	_, s := openPty(t)
	cmd := exec.Command(rboxBin, "exec", "--rootfs", img, "--", "/probe", "tiocsti")
	cmd.Env = baseEnv()
	cmd.Stdin, cmd.Stderr = s, s
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if !strings.HasPrefix(out.String(), "tiocsti: E") {
		t.Errorf("TIOCSTI on the host terminal: %q, want an error", out.String())
	}
	// Anything pushed with TIOCSTI would wait in the terminal's input.
	fd := int(s.Fd()) // Fd makes the file blocking: take it once
	unix.SetNonblock(fd, true)
	buf := make([]byte, 64)
	if n, _ := unix.Read(fd, buf); n > 0 && bytes.Contains(buf[:n], []byte("x")) {
		t.Errorf("a character was injected into the host terminal: %q", buf[:n])
	}
}

// Signals and /proc: the host's processes are out of sight and reach.
func TestAttackHostProcesses(t *testing.T) {
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer victim.Process.Kill()
	out := ok(t, sh(t, "kill -9 -1; ls /proc | grep -c '^[0-9]'; kill -9 "+itoa(victim.Process.Pid)+" 2>/dev/null && echo killed-by-pid; true"))
	if strings.Contains(out, "killed-by-pid") {
		t.Error("the workload signalled a host pid")
	}
	if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("a host process of the same user died: %v", err)
	}
	victim.Process.Kill()
	victim.Wait()
}

// sethostname needs CAP_SYS_ADMIN, outside the default set: given it, root
// of the sandbox changes its own hostname, never the host's.
func TestAttackKernelKnobs(t *testing.T) {
	host, _ := os.Hostname()
	out := ok(t, sh(t, `
echo 1 > /proc/sys/kernel/sysrq 2>/dev/null && echo wrote-sysrq
echo pwned > /proc/sys/kernel/hostname 2>/dev/null && echo wrote-proc-hostname
echo c > /proc/sysrq-trigger 2>/dev/null && echo wrote-trigger
hostname inside-only && hostname`, "--cap-add", "SYS_ADMIN"))
	if out != "inside-only\n" {
		t.Errorf("kernel knobs: %q", out)
	}
	if now, _ := os.Hostname(); now != host {
		t.Errorf("the host's hostname changed to %q", now)
	}
}

func TestAttackDeviceNodes(t *testing.T) {
	img := probeImage(t)
	out := ok(t, rbox(t, "exec", "--rootfs", img, "--", "/probe", "mknod"))
	if !strings.HasPrefix(out, "mknod: E") {
		t.Errorf("mknod of a character device: %q, want a refusal", out)
	}
}

// A host service on an abstract unix socket (which lives in the network
// namespace, not the filesystem) is out of reach with --net none.
func TestAttackAbstractSocket(t *testing.T) {
	img := probeImage(t)
	name := "rbox-test-" + itoa(os.Getpid())
	l, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		b := make([]byte, 16)
		n, _ := c.Read(b)
		got <- string(b[:n])
		c.Close()
	}()
	out := ok(t, rbox(t, "exec", "--rootfs", img, "--net", "none", "--", "/probe", "abstract", name))
	if !strings.HasPrefix(out, "connect: E") {
		t.Errorf("abstract socket from --net none: %q", out)
	}
	select {
	case m := <-got:
		t.Errorf("the host socket received %q", m)
	default:
	}
	// The opt-out: with the host's network the same socket is reachable.
	out = ok(t, rbox(t, "exec", "--rootfs", img, "--net", "host", "--", "/probe", "abstract", name))
	if out != "connected\n" {
		t.Errorf("with --net host the probe should connect (the probe is real): %q", out)
	}
}

// Filling /dev/shm or a sized tmpfs stops at its size.
func TestAttackExhaustTmpfs(t *testing.T) {
	out := ok(t, sh(t, "head -c 70000000 /dev/zero > /dev/shm/fill 2>/dev/null || echo shm-full; head -c 3000000 /dev/zero > /t/fill 2>/dev/null || echo tmpfs-full", "--tmpfs", "/t:size=2m"))
	if out != "shm-full\ntmpfs-full\n" {
		t.Errorf("tmpfs limits: %q", out)
	}
}

// The image directory cannot be written by any path: not through the
// overlay, a volume of its parent, or /proc/1/root.
func TestAttackWriteImage(t *testing.T) {
	before := manifest(t, rootfs)
	parent := filepath.Dir(rootfs)
	r := sh(t, "echo x > /vol/"+filepath.Base(rootfs)+"/etc/motd 2>/dev/null; echo x > /proc/1/root/etc/motd 2>/dev/null; for f in /proc/*/root/etc/passwd; do echo x >> $f 2>/dev/null; done; true",
		"-v", parent+":/vol:ro")
	ok(t, r)
	assertUnchanged(t, before)
}
