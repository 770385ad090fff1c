package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startDetached starts a named sandbox whose workload records what a
// process inside sees of itself, and removes it when the test ends.
func startDetached(t *testing.T, name string) {
	t.Helper()
	ok(t, rbox(t, "exec", "-d", "--name", name, "--rootfs", rootfs, "--", "sh", "-c",
		`for n in mnt pid net uts ipc user; do readlink /proc/self/ns/$n; done > /tmp/ns
		 grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status > /tmp/status
		 echo ready > /tmp/ready; exec sleep 300`))
	t.Cleanup(func() { rbox(t, "kill", "-s", "KILL", name); rbox(t, "wait", name); rbox(t, "rm", name) })
	waitFor(t, func() bool { return rbox(t, "enter", name, "--", "cat", "/tmp/ready").stdout == "ready\n" })
}

// An entered process shares the workload's namespaces, root, capabilities,
// no_new_privs and seccomp filter.
func TestEnterSameSandbox(t *testing.T) {
	startDetached(t, "ent1")
	got := ok(t, rbox(t, "enter", "ent1", "--", "sh", "-c",
		`for n in mnt pid net uts ipc user; do readlink /proc/self/ns/$n; done`))
	if want := ok(t, rbox(t, "enter", "ent1", "--", "cat", "/tmp/ns")); got != want {
		t.Errorf("namespaces differ from the workload's:\nentered  %q\nworkload %q", got, want)
	}
	got = ok(t, rbox(t, "enter", "ent1", "--", "sh", "-c",
		`grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status`))
	if want := ok(t, rbox(t, "enter", "ent1", "--", "cat", "/tmp/status")); got != want {
		t.Errorf("restrictions differ from the workload's:\nentered  %q\nworkload %q", got, want)
	}
	// The workload is PID 1's child; we see it, and the host's processes
	// not at all.
	if out := ok(t, rbox(t, "enter", "ent1", "--", "ps", "-o", "args")); !strings.Contains(out, "sleep 300") || strings.Count(out, "\n") > 5 {
		t.Errorf("ps inside: %q", out)
	}
}

func TestEnterOptionsAndStatus(t *testing.T) {
	startDetached(t, "ent2")
	if r := rbox(t, "enter", "ent2", "--", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exit status: want 7, got\n%s", r)
	}
	if r := rbox(t, "enter", "ent2", "--", "sh", "-c", "kill -TERM $$"); r.code != 128+15 {
		t.Errorf("killed by a signal: want 143, got\n%s", r)
	}
	r := rboxWith(t, opts{stdin: "from stdin\n", env: []string{"FROMHOST=h"}},
		"enter", "-e", "FOO=bar", "-e", "FROMHOST", "-w", "/tmp", "ent2", "--", "sh", "-c", `cat; pwd; echo $FOO $FROMHOST`)
	if ok(t, r) != "from stdin\n/tmp\nbar h\n" {
		t.Errorf("stdin, -w, -e: %q", r.stdout)
	}
	if hasFullMap() {
		if out := ok(t, rbox(t, "enter", "-u", "1000:1000", "ent2", "--", "id", "-u")); out != "1000\n" {
			t.Errorf("-u 1000: %q", out)
		}
	}
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"enter", "ent2", "--", "no-such-command"}, 127, "not found"},
		{[]string{"enter", "nosuch", "--", "true"}, 125, `"nosuch"`},
		{[]string{"enter", "-w", "relative", "ent2", "--", "true"}, 125, `"relative"`},
		{[]string{"enter", "-w", "/no/such/dir", "ent2", "--", "true"}, 125, "/no/such/dir"},
		{[]string{"enter", "-u", "nobody-here", "ent2", "--", "true"}, 125, "nobody-here"},
		{[]string{"enter", "ent2"}, 125, "command"},
	}
	for _, c := range cases {
		r := rbox(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: want %d and one line naming %s, got\n%s", c.args, c.code, c.msg, r)
		}
	}
}

// Signals to rbox enter reach the process; a killed rbox enter takes its
// process with it; an exited sandbox cannot be entered.
func TestEnterSignalsAndHangup(t *testing.T) {
	startDetached(t, "ent3")
	cmd := exec.Command(rboxBin, "enter", "ent3", "--", "sh", "-c", `trap "echo got-term; exit 3" TERM; echo up; while :; do sleep 0.05; done`)
	cmd.Env = baseEnv()
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(out.String(), "up") })
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitCode(t, cmd); code != 3 || !strings.Contains(out.String(), "got-term") {
		t.Errorf("SIGTERM to rbox enter: status %d, output %q", code, out.String())
	}

	cmd = exec.Command(rboxBin, "enter", "ent3", "--", "sh", "-c", `echo up; exec sleep 123`)
	cmd.Env = baseEnv()
	out.Reset()
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(out.String(), "up") })
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, func() bool {
		return !strings.Contains(ok(t, rbox(t, "enter", "ent3", "--", "ps", "-o", "args")), "sleep 123")
	})

	ok(t, rbox(t, "kill", "-s", "KILL", "ent3"))
	rbox(t, "wait", "ent3")
	if r := rbox(t, "enter", "ent3", "--", "true"); r.code != 125 || !strings.Contains(r.stderr, "exited") {
		t.Errorf("enter of an exited sandbox: want 125, got\n%s", r)
	}
}

func TestEnterTty(t *testing.T) {
	startDetached(t, "ent4")
	m, s := openPty(t)
	unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 99})
	cmd := exec.Command(rboxBin, "enter", "-t", "ent4", "--", "sh", "-c", `tty; echo "size $(stty size)"; read x; echo "got $x"; exit 5`)
	cmd.Env = baseEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var buf bytes.Buffer
	readUntil(t, m, &buf, "size 33 99")
	if !strings.Contains(buf.String(), "/dev/pts/") {
		t.Errorf("no pty of the sandbox's devpts: %q", buf.String())
	}
	time.Sleep(50 * time.Millisecond)
	m.Write([]byte("hello\r"))
	readUntil(t, m, &buf, "got hello")
	if code := waitCode(t, cmd); code != 5 {
		t.Errorf("exit status through enter -t: %d, want 5", code)
	}
}

// Two enter sessions at once each get their own process and status.
func TestEnterTwoAtOnce(t *testing.T) {
	startDetached(t, "ent5")
	type res struct {
		r   result
		tag string
	}
	done := make(chan res, 2)
	for _, tag := range []string{"a", "b"} {
		go func() {
			done <- res{rboxWith(t, opts{}, "enter", "ent5", "--", "sh", "-c", "sleep 0.3; echo "+tag+"; exit "+map[string]string{"a": "3", "b": "4"}[tag]), tag}
		}()
	}
	for range 2 {
		x := <-done
		want := map[string]int{"a": 3, "b": 4}[x.tag]
		if x.r.code != want || x.r.stdout != x.tag+"\n" {
			t.Errorf("session %s: want %q and %d, got\n%s", x.tag, x.tag, want, x.r)
		}
	}
}

// A process entered into a sandbox with a strict profile gets the filter
// the same way the workload did: installed by its own child right before
// execve, so the profile constrains it and never the init serving it.
func TestEnterStrictSeccomp(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no-mkdir.json")
	if err := os.WriteFile(p, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat","futex"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, rbox(t, "exec", "-d", "--name", "ent-sec", "--seccomp", p, "--rootfs", rootfs, "--", "sh", "-c", "echo ready > /tmp/ready; exec sleep 300"))
	t.Cleanup(func() { rbox(t, "kill", "-s", "KILL", "ent-sec"); rbox(t, "wait", "ent-sec"); rbox(t, "rm", "ent-sec") })
	waitFor(t, func() bool { return rbox(t, "enter", "ent-sec", "--", "cat", "/tmp/ready").stdout == "ready\n" })
	users := [][]string{nil}
	if hasFullMap() {
		users = append(users, []string{"-u", "1000"})
	}
	for _, u := range users {
		args := append(append([]string{"enter"}, u...), "ent-sec", "--", "sh", "-c", "mkdir /tmp/d-$$; echo $?; grep ^Seccomp: /proc/self/status")
		r := rbox(t, args...)
		if r.code != 0 || r.stdout != "1\nSeccomp:\t2\n" || !strings.Contains(r.stderr, "Operation not permitted") || strings.Contains(r.stderr, "goroutine") {
			t.Errorf("%v: want mkdir refused with EPERM under the filter, got\n%s", u, r)
		}
	}
	// The init still serves: the sandbox is alive and answers.
	if out := ok(t, rbox(t, "enter", "ent-sec", "--", "cat", "/tmp/ready")); out != "ready\n" {
		t.Errorf("after the entered processes: %q", out)
	}
}
