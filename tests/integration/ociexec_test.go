package integration

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// subIDStart is the first ID of the test user's range in /etc/subuid or
// /etc/subgid.
func subIDStart(t *testing.T, file string) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) == 3 && (f[0] == u.Username || f[0] == u.Uid) {
			return f[1]
		}
	}
	t.Fatalf("no range for %s in %s", u.Username, file)
	return ""
}

// podman's --userns=keep-id: the runtime's own uid is the user's inside
// the container (1000 here), not root, and the process runs as that
// user. An exec must still set the process up (drop the bounding set,
// which needs CAP_SETPCAP) and run it as the user.
func TestRuntimeExecKeepID(t *testing.T) {
	need(t, hasFullMap(), "a subordinate ID range for the test user")
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := bundleConfig(t, false, "sleep", "60")
	p := filepath.Join(bundle, "config.json")
	b, _ := os.ReadFile(p)
	own := fmt.Sprintf(`"uidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],
		"gidMappings": [{"containerID": 0, "hostID": %d, "size": 1}],`, os.Getuid(), os.Getgid())
	keepID := fmt.Sprintf(`"uidMappings": [{"containerID": 0, "hostID": %s, "size": 1000}, {"containerID": 1000, "hostID": %d, "size": 1}],
		"gidMappings": [{"containerID": 0, "hostID": %s, "size": 1000}, {"containerID": 1000, "hostID": %d, "size": 1}],`,
		subIDStart(t, "/etc/subuid"), os.Getuid(), subIDStart(t, "/etc/subgid"), os.Getgid())
	c := strings.Replace(string(b), own, keepID, 1)
	c = strings.Replace(c, `"user": {"uid": 0, "gid": 0}`, `"user": {"uid": 1000, "gid": 1000}`, 1)
	if c == string(b) {
		t.Fatal("the config's maps were not replaced")
	}
	os.WriteFile(p, []byte(c), 0o600)
	pid := createWith(t, root, bundle, "keep", nil)
	ok(t, runtime(t, nil, "--root", root, "start", "keep"))
	defer func() {
		ok(t, runtime(t, nil, "--root", root, "delete", "--force", "keep"))
		reap(t, pid)
	}()
	r := runtime(t, nil, "--root", root, "exec", "keep", "sh", "-c", "id -u; grep CapBnd /proc/self/status")
	// The bounding set of bundleConfig: CAP_KILL, CAP_NET_BIND_SERVICE,
	// CAP_AUDIT_WRITE (bits 5, 10, 29).
	if r.code != 0 || r.stdout != "1000\nCapBnd:\t0000000020000420\n" {
		t.Fatalf("exec as the keep-id user: %s", r)
	}
}

// exec --detach returns once the process runs, however long it runs:
// podman's exec -i forwards stdin only after that, so a wait for the
// process's end would never end.
func TestRuntimeExecDetachReturns(t *testing.T) {
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := bundleConfig(t, false, "sleep", "60")
	pid := createWith(t, root, bundle, "det", nil)
	ok(t, runtime(t, nil, "--root", root, "start", "det"))
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	proc := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(proc, []byte(`{"args": ["sleep", "50"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]}`), 0o600)
	// The stdio a file, as conmon's pipes are not waited on for EOF.
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(runtimeBin(), "--root", root, "exec", "--process", proc, "--detach", "--pid-file", pidFile, "det")
	cmd.Env, cmd.Stdout, cmd.Stderr = []string{}, out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("exec --detach: %v\n%s", err, b)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("exec --detach did not return within 20 s: it waited for the process")
	}
	b, _ := os.ReadFile(pidFile)
	epid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("pid file %q", b)
	}
	if err := unix.Kill(epid, 0); err != nil {
		t.Fatalf("the exec'd process %d is not running: %v", epid, err)
	}
	// delete kills it with the container. The exec'd process is the pid
	// the engine waits for, and the engine (conmon, the shim: subreapers)
	// reaps it as it ends; until someone does, the container's init, the
	// pid namespace's, cannot finish its exit in the kernel. So it is
	// reaped here while delete runs, as an engine would.
	reaped := make(chan error, 1)
	go func() {
		var ws unix.WaitStatus
		_, err := unix.Wait4(epid, &ws, 0, nil)
		reaped <- err
	}()
	ok(t, runtime(t, nil, "--root", root, "delete", "--force", "det"))
	select {
	case err := <-reaped:
		if err != nil {
			t.Fatalf("wait for the exec'd process %d: %v", epid, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the exec'd process %d did not end", epid)
	}
	reap(t, pid)
}
