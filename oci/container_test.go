package oci

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/state"
)

// child starts a real process to stand for a container's process (create
// cannot make one until the sandbox plan exists) and returns a record of
// it as create will write it.
func child(t *testing.T, id string) (*Record, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	start, err := state.ProcStart(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return &Record{OCIVersion: "1.0.2-dev", ID: id, Bundle: "/b", Status: specs.StateCreated,
		Pid: cmd.Process.Pid, PidStart: start, Created: time.Now(), Annotations: map[string]string{"a": "b"}}, cmd
}

func TestStore(t *testing.T) {
	root := filepath.Join(t.TempDir(), "deep", "rbox-runtime")
	// A reader does not create the root; nothing is in it.
	st, err := OpenStore(root, os.Getuid(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load("c1"); !errors.Is(err, ErrNotExist) || err.Error() != `container "c1" does not exist` {
		t.Fatalf("load from a missing root: %v", err)
	}
	if _, err := os.Lstat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a reader made the root: %v", err)
	}
	st, err = OpenStore(root, os.Getuid(), true)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("root %v %v, want 0700", fi.Mode(), err)
	}
	r, _ := child(t, "c1")
	if err := st.Create(r); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, "c1")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("container dir %v %v, want 0700", fi.Mode(), err)
	}
	if err := st.Create(r); !errors.Is(err, ErrExist) {
		t.Fatalf("an ID in use: %v", err)
	}
	got, err := st.Load("c1")
	if err != nil {
		t.Fatal(err)
	}
	s := got.State()
	if s.Status != specs.StateCreated || s.Pid != r.Pid || s.ID != "c1" || s.Bundle != "/b" || s.Annotations["a"] != "b" {
		t.Fatalf("state %+v", s)
	}
	unlock, err := st.Lock("c1")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := st.Remove("c1"); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("left in the root: %v", entries)
	}
	// A root of another user's, or open to others, is refused.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(root, os.Getuid(), false); err == nil || !strings.Contains(err.Error(), "has mode 0755") {
		t.Fatalf("a 0755 root: %v", err)
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"c1", "0123abcdef", "a_b-c.d+e", strings.Repeat("x", 1024)} {
		if err := CheckID(id); err != nil {
			t.Errorf("CheckID(%q): %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", "../x", "a b", "a\x00", strings.Repeat("x", 1025), "é"} {
		if err := CheckID(id); err == nil {
			t.Errorf("CheckID(%q) accepted", id)
		}
	}
}

// Signal, Kill and Processes on a real process; the errors of a kill of
// an ended container carry the words containerd matches.
func TestSignal(t *testing.T) {
	r, cmd := child(t, "c1")
	if pids := Processes(r); !slices.Equal(pids, []int{r.Pid}) {
		t.Fatalf("processes %v, want [%d]", pids, r.Pid)
	}
	if err := Signal(r, unix.Signal(0), false); err != nil {
		t.Fatalf("signal 0: %v", err)
	}
	// A reused pid: the record's start time no longer matches.
	stale := *r
	stale.PidStart++
	if err := Signal(&stale, unix.SIGKILL, false); !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "container not running") {
		t.Fatalf("a stale record: %v", err)
	}
	if err := Kill(r, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if s := r.State(); s.Status != specs.StateStopped || s.Pid != 0 {
		t.Fatalf("after Kill: %+v", s)
	}
	if err := Signal(r, unix.SIGTERM, false); err == nil || !strings.Contains(err.Error(), "container not running") {
		t.Fatalf("kill of a stopped container: %v", err)
	}
	if pids := Processes(r); pids != nil {
		t.Fatalf("processes of a stopped container: %v", pids)
	}
}

// A process that has exited but is not reaped yet (its parent, conmon or
// the shim, has not waited) is stopped.
func TestZombieIsStopped(t *testing.T) {
	r, cmd := child(t, "c1")
	cmd.Process.Signal(unix.SIGKILL)
	for i := 0; i < 100 && !zombie(r.Pid); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if s := r.State().Status; s != specs.StateStopped {
		t.Fatalf("a zombie is %s", s)
	}
}

func TestRunHook(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	st := specs.State{Version: "1.0.2", ID: "c1", Status: specs.StateStopped, Bundle: "/b"}
	h := Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `cat >"$OUT"; echo "$0 $HOME" >>"$OUT"`}, Env: []string{"OUT=" + out}}
	if err := RunHook(context.Background(), h, st); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), `"id":"c1"`) || !strings.HasSuffix(string(b), "sh \n") {
		t.Fatalf("the hook read %q (want the state JSON, and no HOME: only the hook's env)", b)
	}
	err := RunHook(context.Background(), Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo bad >&2; exit 3"}}, st)
	if err == nil || !strings.Contains(err.Error(), "exit status 3: bad") {
		t.Fatalf("failing hook: %v", err)
	}
	err = RunHook(context.Background(), Hook{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Timeout: 100 * time.Millisecond}, st)
	if err == nil || !strings.Contains(err.Error(), "timed out after 100ms") {
		t.Fatalf("slow hook: %v", err)
	}
}
