package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// userMountNS is the linux section of a config whose container gets a
// user namespace mapping the test user to root, and its own mount
// namespace: what an unprivileged caller needs for a root of its own.
func userMountNS() string {
	return fmt.Sprintf(`"linux": {"namespaces": [{"type": "user"}, {"type": "mount"}],
		"uidMappings": [{"containerID": 0, "hostID": %d, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": %d, "size": 1}]}`, os.Getuid(), os.Getgid())
}

// bundleConfig is the shape of `runc spec --rootless`: the busybox
// rootfs read-only, new pid, ipc, uts, mount and user namespaces, the
// usual mounts, a few capabilities, masked and read-only paths.
func bundleConfig(t *testing.T, terminal bool, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	a, _ := json.Marshal(args)
	caps := `["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]`
	config := fmt.Sprintf(`{
	"ociVersion": "1.0.2-dev",
	"process": {"terminal": %t, "user": {"uid": 0, "gid": 0}, "args": %s,
		"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], "cwd": "/",
		"capabilities": {"bounding": %s, "effective": %s, "permitted": %s, "ambient": %s},
		"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}], "noNewPrivileges": true},
	"root": {"path": %q, "readonly": true},
	"hostname": "ocitest",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
		{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
		{"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
	],
	"linux": {
		"uidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],
		"gidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],
		"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}],
		"maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
		"readonlyPaths": ["/proc/bus", "/proc/sys", "/proc/sysrq-trigger"]
	}
}`, terminal, a, caps, caps, caps, caps, rootfs, os.Getuid(), os.Getgid())
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// subreaper makes the test what conmon and the shim are: the reaper of
// the container's process once create has exited.
func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

// createWith runs create with the container's stdio on out.
func createWith(t *testing.T, root, bundle, id string, out *os.File, extra ...string) int {
	t.Helper()
	pidFile := filepath.Join(bundle, "pid")
	args := append([]string{"--root", root, "create", "--bundle", bundle, "--pid-file", pidFile}, extra...)
	cmd := exec.Command(runtimeBin(), append(args, id)...)
	cmd.Env = []string{}
	// A file, not a pipe: the container keeps the runtime's stdio, and
	// a pipe would keep Run waiting for its end.
	errFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, out, errFile
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(errFile.Name())
		t.Fatalf("create: %v\n%s", err, b)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("create wrote no pid file: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("pid file %q", b)
	}
	return pid
}

type ociState struct {
	Status string `json:"status"`
	Pid    int    `json:"pid"`
}

func stateOf(t *testing.T, root, id string) ociState {
	t.Helper()
	var s ociState
	if err := json.Unmarshal([]byte(ok(t, runtime(t, nil, "--root", root, "state", id))), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// reap waits for the container's process as conmon does and returns its
// wait status.
func reap(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	var ws unix.WaitStatus
	done := make(chan error, 1)
	go func() { _, err := unix.Wait4(pid, &ws, 0, nil); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wait for the container's process %d: %v", pid, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the container's process %d did not end", pid)
	}
	return ws
}

// The lifecycle as an engine drives it: create leaves the process
// blocked (alive, nothing run), start runs it with the runtime's stdio,
// exec joins it, kill ends it, delete leaves nothing.
func TestRuntimeLifecycle(t *testing.T) {
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := bundleConfig(t, false, "sh", "-c", `echo "hello $(hostname) $(id -u) $$"; exec sleep 60`)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pid := createWith(t, root, bundle, "c1", out)
	if s := stateOf(t, root, "c1"); s.Status != "created" || s.Pid != pid {
		t.Fatalf("after create: %+v, pid file %d", s, pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		t.Fatalf("the container's process is not alive after create: %v", err)
	}
	if ppid := parentPid(pid); ppid != os.Getpid() {
		t.Fatalf("the container's process %d has parent %d, not its subreaper %d", pid, ppid, os.Getpid())
	}
	time.Sleep(100 * time.Millisecond)
	if b, _ := os.ReadFile(out.Name()); len(b) != 0 {
		t.Fatalf("the workload ran before start: %q", b)
	}
	oneError(t, runtime(t, nil, "--root", root, "create", "--bundle", bundle, "c1"), `container "c1" already exists`)

	ok(t, runtime(t, nil, "--root", root, "start", "c1"))
	oneError(t, runtime(t, nil, "--root", root, "start", "c1"), "it is running, not created")
	waitFor(t, func() bool { b, _ := os.ReadFile(out.Name()); return strings.Contains(string(b), "\n") })
	if b, _ := os.ReadFile(out.Name()); string(b) != "hello ocitest 0 1\n" {
		t.Fatalf("workload printed %q, want hostname, uid 0 and pid 1", b)
	}
	if s := stateOf(t, root, "c1"); s.Status != "running" || s.Pid != pid {
		t.Fatalf("after start: %+v", s)
	}

	// exec in the foreground: output, exit status, what it runs under.
	r := runtime(t, nil, "--root", root, "exec", "c1", "sh", "-c", `echo "in $(hostname) $(id -u)"; ls /proc/1/root >/dev/null && echo root-ok; exit 7`)
	if r.code != 7 || r.stdout != "in ocitest 0\nroot-ok\n" {
		t.Fatalf("exec: %s", r)
	}
	proc := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(proc, []byte(`{"args": ["/nonexistent"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]}`), 0o600)
	oneError(t, runtime(t, nil, "--root", root, "exec", "--process", proc, "c1"), `exec "/nonexistent": no such file or directory`)
	os.WriteFile(proc, []byte(`{"args": ["cat", "/proc/self/status"], "cwd": "/tmp", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"], "noNewPrivileges": true}`), 0o600)
	r = runtime(t, nil, "--root", root, "exec", "--process", proc, "c1")
	if r.code != 0 || !strings.Contains(r.stdout, "NoNewPrivs:\t1") || !strings.Contains(r.stdout, "CapEff:\t0000000000000000") {
		t.Fatalf("exec --process: %s", r)
	}
	// --detach: the pid file names the process the engine waits for.
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	os.WriteFile(proc, []byte(`{"args": ["sh", "-c", "exit 5"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]}`), 0o600)
	ok(t, runtime(t, nil, "--root", root, "exec", "--process", proc, "--detach", "--pid-file", pidFile, "c1"))
	b, _ := os.ReadFile(pidFile)
	epid, _ := strconv.Atoi(string(b))
	if ws := reap(t, epid); ws.ExitStatus() != 5 {
		t.Fatalf("the detached exec's process ended with %v, want 5", ws)
	}

	r = runtime(t, nil, "--root", root, "ps", "--format", "json", "c1")
	var pids []int
	if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil || len(pids) == 0 || pids[0] != pid {
		t.Fatalf("ps: %s", r)
	}

	ok(t, runtime(t, nil, "--root", root, "kill", "c1", "KILL"))
	if ws := reap(t, pid); !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Fatalf("the container's process ended with %v, want SIGKILL", ws)
	}
	if s := stateOf(t, root, "c1"); s.Status != "stopped" || s.Pid != 0 {
		t.Fatalf("after kill: %+v", s)
	}
	oneError(t, runtime(t, nil, "--root", root, "kill", "c1", "TERM"), "container not running")
	ok(t, runtime(t, nil, "--root", root, "delete", "c1"))
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("left in the root: %v", entries)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Fatal("the container's process outlived delete")
	}
}

func parentPid(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	var state string
	var ppid int
	fmt.Sscanf(s[i+2:], "%s %d", &state, &ppid)
	return ppid
}

// Exit statuses as the engines read them from the reaped process: the
// workload's own, and 127/126 words from create for what cannot run.
func TestRuntimeExitCodes(t *testing.T) {
	subreaper(t)
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"sh", "-c", "exit 3"}, 3, ""},
		{[]string{"/etc/passwd"}, 0, `exec "/etc/passwd": permission denied`},
		{[]string{"/nonexistent"}, 0, `exec "/nonexistent": no such file or directory`},
		{[]string{"nonexistent"}, 0, `exec "nonexistent": executable file not found in $PATH`},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			bundle := bundleConfig(t, false, c.args...)
			if c.err != "" {
				r := runtime(t, nil, "--root", root, "create", "--bundle", bundle, "--pid-file", filepath.Join(bundle, "pid"), "x")
				oneError(t, r, c.err)
				if _, err := os.Lstat(root); err == nil {
					t.Fatalf("a failed create left the state root")
				}
				return
			}
			pid := createWith(t, root, bundle, "x", nil)
			ok(t, runtime(t, nil, "--root", root, "start", "x"))
			if ws := reap(t, pid); ws.ExitStatus() != c.code {
				t.Fatalf("exit %v, want %d", ws, c.code)
			}
			ok(t, runtime(t, nil, "--root", root, "delete", "x"))
		})
	}
}

// A container with process.terminal: the pty master arrives on the
// console socket, and the workload's stdio is that terminal.
func TestRuntimeConsoleSocket(t *testing.T) {
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := bundleConfig(t, true, "sh", "-c", "tty; echo done")
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	master := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			master <- nil
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			master <- nil
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) != 1 {
			master <- nil
			return
		}
		fds, _ := unix.ParseUnixRights(&msgs[0])
		master <- os.NewFile(uintptr(fds[0]), "ptmx")
	}()
	pid := createWith(t, root, bundle, "tty", nil, "--console-socket", sock)
	m := <-master
	if m == nil {
		t.Fatal("no pty master on the console socket")
	}
	defer m.Close()
	ok(t, runtime(t, nil, "--root", root, "start", "tty"))
	var got strings.Builder
	buf := make([]byte, 512)
	m.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(got.String(), "done") {
		n, err := m.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(got.String(), "/dev/pts/0") {
		t.Fatalf("the workload's terminal: %q", got.String())
	}
	if ws := reap(t, pid); ws.ExitStatus() != 0 {
		t.Fatalf("exit %v", ws)
	}
	ok(t, runtime(t, nil, "--root", root, "delete", "tty"))
	oneError(t, runtime(t, nil, "--root", root, "create", "--bundle", bundle, "tty"), "give --console-socket SOCK")
}

// A map beyond the user's own uid is written through newuidmap and
// newgidmap, with the user's subordinate range; setgroups then works.
func TestRuntimeSubIDMap(t *testing.T) {
	need(t, hasFullMap(), "a subordinate ID range for the test user")
	start := func(file string) string { return subIDStart(t, file) }
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := bundleConfig(t, false, "sh", "-c", "id -G; cat /proc/self/uid_map")
	p := filepath.Join(bundle, "config.json")
	b, _ := os.ReadFile(p)
	own := fmt.Sprintf(`"uidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],
		"gidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],`, os.Getuid(), os.Getgid())
	full := fmt.Sprintf(`"uidMappings": [{"containerID": 0, "hostID": %d, "size": 1}, {"containerID": 1, "hostID": %s, "size": 1000}],
		"gidMappings": [{"containerID": 0, "hostID": %d, "size": 1}, {"containerID": 1, "hostID": %s, "size": 1000}],`,
		os.Getuid(), start("/etc/subuid"), os.Getgid(), start("/etc/subgid"))
	c := strings.Replace(string(b), own, full, 1)
	c = strings.Replace(c, `"user": {"uid": 0, "gid": 0}`, `"user": {"uid": 0, "gid": 0, "additionalGids": [5]}`, 1)
	if c == string(b) {
		t.Fatal("the config's maps were not replaced")
	}
	os.WriteFile(p, []byte(c), 0o600)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pid := createWith(t, root, bundle, "sub", out)
	ok(t, runtime(t, nil, "--root", root, "start", "sub"))
	if ws := reap(t, pid); ws.ExitStatus() != 0 {
		t.Fatalf("exit %v", ws)
	}
	got, _ := os.ReadFile(out.Name())
	if f := strings.Fields(string(got)); len(f) < 8 || f[0] != "0" || f[1] != "5" || f[5] != "1" || f[6] != start("/etc/subuid") || f[7] != "1000" {
		t.Fatalf("groups and uid_map: %q", got)
	}
	ok(t, runtime(t, nil, "--root", root, "delete", "sub"))
}

// A map that leaves the caller's own uid out (uid 0 of the container is
// a subordinate ID): the init becomes that root before it mounts, so
// the namespace's own tmpfs takes the /dev/pts mount point, and it can
// still open the start fifo the runtime made. The configured root
// propagation is the pivoted root's.
func TestRuntimeSubIDRoot(t *testing.T) {
	need(t, hasFullMap(), "a subordinate ID range for the test user")
	start := func(file string) string { return subIDStart(t, file) }
	subreaper(t)
	for _, prop := range []string{"shared", "unbindable"} {
		t.Run(prop, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			bundle := bundleConfig(t, false, "sh", "-c", "id -u; head -1 /proc/self/uid_map; grep -E '^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / ' /proc/self/mountinfo")
			p := filepath.Join(bundle, "config.json")
			b, _ := os.ReadFile(p)
			own := fmt.Sprintf(`"uidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],
		"gidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],`, os.Getuid(), os.Getgid())
			sub := fmt.Sprintf(`"uidMappings": [{"containerID": 0, "hostID": %s, "size": 1000}],
		"gidMappings": [{"containerID": 0, "hostID": %s, "size": 1000}], "rootfsPropagation": %q,`, start("/etc/subuid"), start("/etc/subgid"), prop)
			c := strings.Replace(string(b), own, sub, 1)
			if c == string(b) {
				t.Fatal("the config's maps were not replaced")
			}
			os.WriteFile(p, []byte(c), 0o600)
			out, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			pid := createWith(t, root, bundle, "subroot", out)
			ok(t, runtime(t, nil, "--root", root, "start", "subroot"))
			if ws := reap(t, pid); ws.ExitStatus() != 0 {
				got, _ := os.ReadFile(out.Name())
				t.Fatalf("exit %v: %s", ws, got)
			}
			got, _ := os.ReadFile(out.Name())
			lines := strings.Split(strings.TrimSpace(string(got)), "\n")
			if len(lines) != 3 || lines[0] != "0" || strings.Fields(lines[1])[1] != start("/etc/subuid") {
				t.Fatalf("uid and uid_map: %q", got)
			}
			want := map[string]string{"shared": " shared:", "unbindable": " unbindable"}[prop]
			if !strings.Contains(lines[2], want) {
				t.Fatalf("the container's / is not %s: %q", prop, lines[2])
			}
			ok(t, runtime(t, nil, "--root", root, "delete", "subroot"))
		})
	}
}

// The hooks get the state of their lifecycle step on stdin: "created"
// (after step 2) with the container process's host pid for prestart,
// createRuntime and createContainer (the last run inside the
// container's namespaces, where that pid is 1), "running" for poststart
// even when the process has already ended.
func TestRuntimeHookState(t *testing.T) {
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	out := t.TempDir()
	bundle := bundleConfig(t, false, "true")
	p := filepath.Join(bundle, "config.json")
	b, _ := os.ReadFile(p)
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	hook := func(name string) []any {
		return []any{map[string]any{"path": "/bin/sh", "args": []string{"sh", "-c", "cat > " + filepath.Join(out, name)}, "env": []string{"PATH=/usr/bin:/bin"}}}
	}
	cfg["hooks"] = map[string]any{"prestart": hook("prestart"), "createRuntime": hook("createRuntime"),
		"createContainer": hook("createContainer"), "poststart": hook("poststart")}
	b, _ = json.Marshal(cfg)
	os.WriteFile(p, b, 0o600)
	pid := createWith(t, root, bundle, "hooks", nil)
	ok(t, runtime(t, nil, "--root", root, "start", "hooks"))
	reap(t, pid)
	for name, want := range map[string]string{"prestart": "created", "createRuntime": "created", "createContainer": "created", "poststart": "running"} {
		var st struct {
			ID, Status string
			Pid        int
		}
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("the %s hook did not run: %v", name, err)
		}
		if err := json.Unmarshal(b, &st); err != nil || st.ID != "hooks" || st.Status != want || st.Pid != pid {
			t.Errorf("%s hook got %s, want status %q and pid %d", name, b, want, pid)
		}
	}
	ok(t, runtime(t, nil, "--root", root, "delete", "hooks"))
}
