package integration

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"status", []string{"sh", "-c", "exit 3"}, 3, ""},
		{"signal", []string{"sh", "-c", "kill -9 $$"}, 137, ""},
		{"term", []string{"sh", "-c", "kill -TERM $$"}, 143, ""},
		{"not-found", []string{"no-such-command"}, 127, "executable file not found"},
		{"not-found-path", []string{"/bin/nope"}, 127, "no such file"},
		{"not-executable", []string{"/etc/passwd"}, 126, "cannot run"},
		{"directory", []string{"/etc"}, 126, "cannot run"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rbox(t, append([]string{"exec", "--rootfs", rootfs, "--"}, c.args...)...)
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("want exit %d with %q, got\n%s", c.code, c.msg, r)
			}
		})
	}
}

// start runs rbox in the background with its stdout readable line by line.
func start(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(rboxBin, args...)
	cmd.Env = baseEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		l, _ := r.ReadString('\n')
		done <- strings.TrimSpace(l)
	}()
	select {
	case l := <-done:
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no output from the sandbox in 30 s")
	}
	return ""
}

func waitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatal("rbox did not exit in 30 s")
	}
	return -1
}

// Each forwarded signal reaches the workload, which exits with a status
// that names it.
func TestSignalForwarding(t *testing.T) {
	sigs := []struct {
		name string
		sig  syscall.Signal
	}{
		{"INT", syscall.SIGINT}, {"TERM", syscall.SIGTERM}, {"HUP", syscall.SIGHUP},
		{"QUIT", syscall.SIGQUIT}, {"USR1", syscall.SIGUSR1}, {"USR2", syscall.SIGUSR2},
		{"WINCH", syscall.SIGWINCH},
	}
	for i, s := range sigs {
		t.Run(s.name, func(t *testing.T) {
			code := 10 + i
			script := "trap 'exit " + itoa(code) + "' " + s.name + "; echo ready; while :; do sleep 0.05; done"
			cmd, out := start(t, "exec", "--rootfs", rootfs, "--", "sh", "-c", script)
			if l := readLine(t, out); l != "ready" {
				t.Fatalf("got %q", l)
			}
			cmd.Process.Signal(s.sig)
			if got := waitCode(t, cmd); got != code {
				t.Errorf("after SIG%s: exit %d, want %d", s.name, got, code)
			}
		})
	}
	t.Run("uncaught-TERM", func(t *testing.T) {
		cmd, out := start(t, "exec", "--rootfs", rootfs, "--", "sh", "-c", "echo ready; exec sleep 100")
		readLine(t, out)
		cmd.Process.Signal(syscall.SIGTERM)
		if got := waitCode(t, cmd); got != 143 {
			t.Errorf("sleep killed by SIGTERM: exit %d, want 143", got)
		}
	})
}

// When the workload exits, everything it left running dies with it, and
// orphans are reaped meanwhile.
func TestInitReapsAndKillsRest(t *testing.T) {
	t0 := time.Now()
	out := ok(t, sh(t, "for i in 1 2 3; do (sleep 0.01 &); done; sleep 0.3; ps -o stat,comm | grep -c '^Z' || true; sleep 100 & echo bye"))
	if out != "0\nbye\n" {
		t.Errorf("zombies or output: got %q", out)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("rbox waited for a background sleep: %v", d)
	}
}

// A SIGKILLed supervisor takes the sandbox with it; the next run removes
// what it left.
func TestSupervisorKilled(t *testing.T) {
	// With the full map the files go to a subordinate ID, which only a
	// reaper in the user namespace can delete.
	chown := ""
	if hasFullMap() {
		chown = "chown -R 1000:1000 /x; "
	}
	cmd, out := start(t, "exec", "--rootfs", rootfs, "--", "sh", "-c", "mkdir /x; touch /x/f; "+chown+"echo ready; exec sleep 300")
	if l := readLine(t, out); l != "ready" {
		t.Fatalf("got %q", l)
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitNoStrays(t, "sandbox processes outlived the supervisor")
	ok(t, sh(t, "true"))
	if entries := stateEntries(); len(entries) != 0 {
		t.Errorf("the next run did not clean the dead sandbox's state: %v", entries)
	}
	if entries := layerEntries(dataDir()); len(entries) != 0 {
		t.Errorf("the next run did not remove the dead sandbox's writable layer: %v", entries)
	}
}

func TestTimeout(t *testing.T) {
	r := sh(t, "sleep 30", "--timeout", "200ms")
	if r.code != 124 || !strings.Contains(r.stderr, "SIGTERM") {
		t.Errorf("--timeout: want 124 and a message, got\n%s", r)
	}
	t0 := time.Now()
	r = sh(t, "trap '' TERM; while :; do sleep 0.05; done", "--timeout", "200ms", "--stop-timeout", "300ms")
	if r.code != 124 || !strings.Contains(r.stderr, "ignored SIGTERM") {
		t.Errorf("--timeout with a workload that ignores SIGTERM: want 124, got\n%s", r)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
	if out := ok(t, sh(t, "echo quick", "--timeout", "30s")); out != "quick\n" {
		t.Errorf("a quick workload under --timeout: %q", out)
	}
	r = sh(t, "true", "--timeout", "5x")
	if r.code != 125 || !strings.Contains(r.stderr, `"5x"`) {
		t.Errorf("bad duration: want 125 naming it, got\n%s", r)
	}
}
