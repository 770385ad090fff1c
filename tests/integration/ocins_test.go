package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// joinConfig rewrites a bundleConfig bundle: no ID maps (a joined user
// namespace has its own), no hostname (the joined uts namespace's stays),
// and linux.namespaces as given.
func joinConfig(t *testing.T, bundle, namespaces string) {
	t.Helper()
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	c := string(b)
	for _, cut := range []string{
		fmt.Sprintf(`"uidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],`, os.Getuid()),
		fmt.Sprintf(`"gidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],`, os.Getgid()),
		`"hostname": "ocitest",`,
	} {
		if !strings.Contains(c, cut) {
			t.Fatalf("config has no %s", cut)
		}
		c = strings.Replace(c, cut, "", 1)
	}
	old := `"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]`
	if !strings.Contains(c, old) {
		t.Fatal("config has no namespaces to replace")
	}
	c = strings.Replace(c, old, `"namespaces": `+namespaces, 1)
	if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
}

func nsLink(t *testing.T, pid int, ns string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A container joins another's user, pid, ipc, uts and network namespaces
// by their /proc/PID/ns paths (user first: the others belong to it) and
// gets a mount namespace of its own, owned by the joined user namespace.
func TestRuntimeJoinNamespaces(t *testing.T) {
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	a := bundleConfig(t, false, "sh", "-c", "echo ready; exec sleep 60")
	p := filepath.Join(a, "config.json")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `"namespaces": [{"type": "pid"},`, `"namespaces": [{"type": "network"}, {"type": "pid"},`, 1)), 0o600)
	aOut, err := os.Create(filepath.Join(t.TempDir(), "a.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer aOut.Close()
	apid := createWith(t, root, a, "a", aOut)
	t.Cleanup(func() { runtime(t, nil, "--root", root, "delete", "--force", "a") })
	ok(t, runtime(t, nil, "--root", root, "start", "a"))
	waitFor(t, func() bool { b, _ := os.ReadFile(aOut.Name()); return string(b) == "ready\n" })

	ns := func(n string) string { return fmt.Sprintf("/proc/%d/ns/%s", apid, n) }
	bb := bundleConfig(t, false, "sh", "-c", `echo "$(hostname) $(cat /proc/1/comm) $$ $(id -u)"`)
	joinConfig(t, bb, fmt.Sprintf(`[{"type": "mount"}, {"type": "network", "path": %q}, {"type": "uts", "path": %q},
		{"type": "ipc", "path": %q}, {"type": "pid", "path": %q}, {"type": "user", "path": %q}]`,
		ns("net"), ns("uts"), ns("ipc"), ns("pid"), ns("user")))
	bOut, err := os.Create(filepath.Join(t.TempDir(), "b.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer bOut.Close()
	bpid := createWith(t, root, bb, "b", bOut)
	if ppid := parentPid(bpid); ppid != os.Getpid() {
		t.Fatalf("the joining container's process %d has parent %d, not its subreaper %d", bpid, ppid, os.Getpid())
	}
	for _, n := range []string{"user", "pid", "ipc", "uts", "net"} {
		if got, want := nsLink(t, bpid, n), nsLink(t, apid, n); got != want {
			t.Errorf("%s namespace: %s, want the other container's %s", n, got, want)
		}
	}
	if nsLink(t, bpid, "mnt") == nsLink(t, apid, "mnt") {
		t.Error("the mount namespace was to be new, and is the other container's")
	}
	ok(t, runtime(t, nil, "--root", root, "start", "b"))
	if ws := reap(t, bpid); ws.ExitStatus() != 0 {
		t.Fatalf("the joining container ended with %v", ws)
	}
	got, _ := os.ReadFile(bOut.Name())
	f := strings.Fields(string(got))
	if len(f) != 4 || f[0] != "ocitest" || f[1] != "sleep" || f[2] == "1" || f[3] != "0" {
		t.Fatalf("the joining container printed %q, want the other's hostname, its pid 1 (sleep), a pid of its own and uid 0", got)
	}
	ok(t, runtime(t, nil, "--root", root, "delete", "b"))

	// Errors: one line naming the entry and its path; nothing left.
	for _, c := range []struct{ namespaces, want string }{
		{`[{"type": "mount"}, {"type": "network", "path": "/nonexistent/net"}]`,
			`linux.namespaces[1]: network namespace "/nonexistent/net": no such file or directory`},
		{fmt.Sprintf(`[{"type": "mount"}, {"type": "user", "path": %q}, {"type": "ipc", "path": %q}]`, ns("user"), ns("uts")),
			fmt.Sprintf(`linux.namespaces[2]: ipc namespace %q: join it: invalid argument`, ns("uts"))},
	} {
		bad := bundleConfig(t, false, "true")
		joinConfig(t, bad, c.namespaces)
		oneError(t, runtime(t, nil, "--root", root, "create", "--bundle", bad, "bad"), c.want)
		if _, err := os.Stat(filepath.Join(root, "bad")); err == nil {
			t.Fatalf("a failed create left its state: %s", c.want)
		}
	}

	ok(t, runtime(t, nil, "--root", root, "kill", "a", "KILL"))
	reap(t, apid)
	ok(t, runtime(t, nil, "--root", root, "delete", "a"))
}

// A container joins a mount namespace by path (with its user namespace,
// which owns it), made by unshare(1) as runtime-tools' linux_ns_path
// makes it: the root is set up inside it, as runc does, so root.path
// must be reachable there.
func TestRuntimeJoinMountNamespace(t *testing.T) {
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	holder := exec.Command("unshare", "--user", "--map-root-user", "--mount", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	hpid := holder.Process.Pid
	self := nsLink(t, os.Getpid(), "mnt")
	waitFor(t, func() bool { l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", hpid)); return l != "" && l != self })

	bundle := bundleConfig(t, false, "sh", "-c", "cat /proc/self/uid_map; echo $$")
	joinConfig(t, bundle, fmt.Sprintf(`[{"type": "pid"}, {"type": "mount", "path": "/proc/%d/ns/mnt"}, {"type": "user", "path": "/proc/%d/ns/user"}]`, hpid, hpid))
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pid := createWith(t, root, bundle, "m", out)
	for _, n := range []string{"mnt", "user"} {
		if got, want := nsLink(t, pid, n), nsLink(t, hpid, n); got != want {
			t.Errorf("%s namespace: %s, want the holder's %s", n, got, want)
		}
	}
	ok(t, runtime(t, nil, "--root", root, "start", "m"))
	if ws := reap(t, pid); ws.ExitStatus() != 0 {
		t.Fatalf("exit %v", ws)
	}
	got, _ := os.ReadFile(out.Name())
	f := strings.Fields(string(got))
	if len(f) != 4 || f[0] != "0" || f[1] != strconv.Itoa(os.Getuid()) || f[3] != "1" {
		t.Fatalf("the container printed %q, want the holder's uid_map and pid 1 of a new pid namespace", got)
	}
	ok(t, runtime(t, nil, "--root", root, "delete", "m"))
	// The holder outlives the container that joined it.
	time.Sleep(50 * time.Millisecond)
	if err := unix.Kill(hpid, 0); err != nil {
		t.Fatalf("the holder of the mount namespace: %v", err)
	}
}

// A foreground exec (as CRI-O streams one) passes the signals it gets
// on to the exec'd process and exits with its status: the trap's code,
// or 128+N for a process the signal ended; nothing of it is left.
func TestRuntimeExecSignals(t *testing.T) {
	root, pid := startSleeper(t, "sig")

	for _, c := range []struct {
		sig    unix.Signal
		script string
		code   int
		says   string
	}{
		{unix.SIGTERM, `trap "echo got TERM; exit 11" TERM`, 11, "got TERM"},
		{unix.SIGINT, `trap "echo got INT; exit 12" INT`, 12, "got INT"},
		{unix.SIGHUP, `trap "echo got HUP; exit 13" HUP`, 13, "got HUP"},
		{unix.SIGUSR1, `trap "echo got USR1; exit 14" USR1`, 14, "got USR1"},
		{unix.SIGUSR2, `trap "echo got USR2; exit 15" USR2`, 15, "got USR2"},
		{unix.SIGWINCH, `trap "echo got WINCH; exit 16" WINCH`, 16, "got WINCH"},
		{unix.SIGTERM, `:`, 128 + 15, ""}, // no trap: TERM ends it
	} {
		t.Run(c.sig.String(), func(t *testing.T) {
			eout := filepath.Join(t.TempDir(), "exec.out")
			f, err := os.Create(eout)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pidFile := filepath.Join(t.TempDir(), "exec.pid")
			cmd := exec.Command(runtimeBin(), "--root", root, "exec", "--pid-file", pidFile, "sig", "sh", "-c", c.script+"; echo ready; while :; do sleep 0.1; done")
			cmd.Env, cmd.Stdout, cmd.Stderr = []string{}, f, f
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			waitFor(t, func() bool { b, _ := os.ReadFile(eout); return strings.Contains(string(b), "ready\n") })
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("exec did not end after %v", c.sig)
			}
			b, _ := os.ReadFile(eout)
			if code := cmd.ProcessState.ExitCode(); code != c.code || !strings.Contains(string(b), c.says) {
				t.Fatalf("after %v: exit %d, output %q; want %d and %q", c.sig, code, b, c.code, c.says)
			}
			// The exec'd process is gone, reaped by the runtime.
			b, _ = os.ReadFile(pidFile)
			epid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatalf("pid file %q", b)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", epid)); err == nil {
				t.Fatalf("the exec'd process %d outlived the exec", epid)
			}
		})
	}
	ok(t, runtime(t, nil, "--root", root, "kill", "sig", "KILL"))
	reap(t, pid)
	ok(t, runtime(t, nil, "--root", root, "delete", "sig"))
}

// exec --tty in the foreground without --console-socket, as CRI-O runs a
// streamed exec with a terminal: the runtime holds the pty, copies it to
// and from its own stdio (a terminal here), gives it that terminal's
// size and, at SIGWINCH, its new size.
func TestRuntimeExecOwnTTY(t *testing.T) {
	root, pid := startSleeper(t, "tty")

	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	master := os.NewFile(uintptr(mfd), "ptmx")
	defer master.Close()
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		t.Fatal(errno)
	}
	slave := os.NewFile(sfd, "pts")
	unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100})
	cmd := exec.Command(runtimeBin(), "--root", root, "exec", "--tty", "tty", "sh", "-c",
		`tty; stty size; trap "stty size; exit 4" WINCH; echo ready; while :; do sleep 0.1; done`)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = []string{}, slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	defer cmd.Process.Kill()
	var got strings.Builder
	lines := make(chan string, 64)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := master.Read(buf)
			lines <- string(buf[:n])
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	readUntil := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !strings.Contains(got.String(), want) {
			select {
			case s, ok := <-lines:
				if !ok {
					t.Fatalf("the terminal closed before %q: %q", want, got.String())
				}
				got.WriteString(s)
			case <-deadline:
				t.Fatalf("no %q on the terminal: %q", want, got.String())
			}
		}
	}
	readUntil("ready")
	if !strings.Contains(got.String(), "/dev/pts/") || !strings.Contains(got.String(), "30 100") {
		t.Fatalf("the process's terminal and size: %q, want a /dev/pts and 30 100", got.String())
	}
	unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120})
	cmd.Process.Signal(unix.SIGWINCH)
	readUntil("40 120")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("exec --tty did not end after the resize")
	}
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Fatalf("exec --tty exited %d, want the trap's 4; terminal: %q", code, got.String())
	}
	oneError(t, runtime(t, nil, "--root", root, "exec", "--tty", "--detach", "tty", "true"), "process.terminal is true with --detach: give --console-socket SOCK")

	ok(t, runtime(t, nil, "--root", root, "kill", "tty", "KILL"))
	reap(t, pid)
	ok(t, runtime(t, nil, "--root", root, "delete", "tty"))
}

// startSleeper creates and starts container id, a shell that says ready
// and sleeps, under a new --root (deleted at the end); the test is its
// subreaper and gets the root and the container's pid.
func startSleeper(t *testing.T, id string) (string, int) {
	t.Helper()
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := bundleConfig(t, false, "sh", "-c", "echo ready; exec sleep 60")
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pid := createWith(t, root, bundle, id, out)
	t.Cleanup(func() { runtime(t, nil, "--root", root, "delete", "--force", id) })
	ok(t, runtime(t, nil, "--root", root, "start", id))
	waitFor(t, func() bool { b, _ := os.ReadFile(out.Name()); return string(b) == "ready\n" })
	return root, pid
}
