package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

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
	// delete kills it with the container; nsenter, the pid the engine
	// waits for, ends then.
	ok(t, runtime(t, nil, "--root", root, "delete", "--force", "det"))
	reap(t, pid)
	reap(t, epid)
}
