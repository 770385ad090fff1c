package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Detach, ps, logs, kill, wait, rm: the round trip a user makes.
func TestDetachedRoundTrip(t *testing.T) {
	r := rbox(t, "exec", "-d", "--name", "bg1", "--rootfs", rootfs, "--", "sh", "-c",
		"echo started; trap 'echo got-term; exit 42' TERM; while :; do sleep 0.05; done")
	if ok(t, r) != "bg1\n" {
		t.Fatalf("-d prints the name, got %q", r.stdout)
	}
	t.Cleanup(func() { rbox(t, "kill", "-s", "KILL", "bg1"); rbox(t, "wait", "bg1"); rbox(t, "rm", "bg1") })

	var list []map[string]any
	if err := json.Unmarshal([]byte(ok(t, rbox(t, "ps", "--json"))), &list); err != nil || len(list) != 1 {
		t.Fatalf("ps --json: %v %v", list, err)
	}
	if list[0]["name"] != "bg1" || list[0]["running"] != true || list[0]["net"] != "slirp" {
		t.Errorf("ps --json entry: %v", list[0])
	}
	if out := ok(t, rbox(t, "ps")); !strings.Contains(out, "bg1") || !strings.Contains(out, "running") {
		t.Errorf("ps: %q", out)
	}
	r = rbox(t, "exec", "-d", "--name", "bg1", "--rootfs", rootfs, "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, `"bg1" is in use`) {
		t.Errorf("a second sandbox with the same name: want 125, got\n%s", r)
	}
	waitFor(t, func() bool { return strings.Contains(rbox(t, "logs", "bg1").stdout, "started") })
	ok(t, rbox(t, "kill", "bg1"))
	if r := rbox(t, "wait", "bg1"); r.code != 42 {
		t.Errorf("wait: want the workload's 42, got\n%s", r)
	}
	if out := ok(t, rbox(t, "logs", "bg1")); out != "started\ngot-term\n" {
		t.Errorf("logs after exit: %q", out)
	}
	if out := ok(t, rbox(t, "ps")); strings.Contains(out, "bg1") {
		t.Errorf("ps without --all lists an exited sandbox: %q", out)
	}
	if out := ok(t, rbox(t, "ps", "--all")); !strings.Contains(out, "exited (42)") {
		t.Errorf("ps --all: %q", out)
	}
	r = rbox(t, "kill", "bg1")
	if r.code != 125 || !strings.Contains(r.stderr, "exited") {
		t.Errorf("kill of an exited sandbox: want 125, got\n%s", r)
	}
	ok(t, rbox(t, "rm", "bg1"))
	r = rbox(t, "logs", "bg1")
	if r.code != 125 || !strings.Contains(r.stderr, `"bg1"`) {
		t.Errorf("logs of a removed sandbox: want 125, got\n%s", r)
	}
}

func TestDetachFailureReported(t *testing.T) {
	r := rbox(t, "exec", "-d", "--rootfs", rootfs, "--", "no-such-command")
	if r.code != 127 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("a detached start that fails: want 127 and the reason, got\n%s", r)
	}
}

// A detached sandbox whose supervisor is killed is gone from ps, and
// cleaned; it is never reported as running.
func TestDetachedSupervisorKilled(t *testing.T) {
	ok(t, rbox(t, "exec", "-d", "--name", "victim", "--rootfs", rootfs, "--", "sleep", "300"))
	var list []struct {
		SupervisorPid int `json:"supervisorPid"`
	}
	json.Unmarshal([]byte(ok(t, rbox(t, "ps", "--json"))), &list)
	if len(list) != 1 {
		t.Fatalf("ps: %v", list)
	}
	syscall.Kill(list[0].SupervisorPid, syscall.SIGKILL)
	waitNoStrays(t, "processes outlived the killed detached supervisor")
	if r := rbox(t, "ps", "--all"); strings.Contains(r.stdout, "victim") || r.stderr != "" {
		out := r.String()
		t.Errorf("a dead sandbox is listed: %q", out)
	}
	if e := stateEntries(); len(e) != 0 {
		t.Errorf("state of the dead sandbox left: %v", e)
	}
}

func TestManageBadInput(t *testing.T) {
	cases := [][]string{
		{"kill", "nosuch"}, {"wait", "nosuch"}, {"rm", "nosuch"}, {"logs", "nosuch"},
		{"kill", "-s", "NOSIG", "x"}, {"exec", "--name", "bad name", "--rootfs", rootfs, "--", "true"},
		{"exec", "-d", "-t", "--rootfs", rootfs, "--", "true"},
		{"exec", "--timeout", "soon", "--rootfs", rootfs, "--", "true"},
		{"exec", "--timeout", "-5s", "--rootfs", rootfs, "--", "true"},
		{"enter", "nosuch", "--", "true"},
	}
	for _, c := range cases {
		r := rbox(t, c...)
		if r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "rbox: ") {
			t.Errorf("%v: want exit 125 and one line, got\n%s", c, r)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A supervisor killed while it started leaves a lock with no directory (or
// no meta.json): nobody holds it, and rbox ps sweeps it.
func TestPsSweepsOrphanLock(t *testing.T) {
	ok(t, rbox(t, "ps")) // makes the root
	for _, id := range []string{"0badc0ffee00", "0badc0ffee01"} {
		if err := os.WriteFile(filepath.Join(stateRoot(), id+".lock"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(stateRoot(), "0badc0ffee01"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, rbox(t, "ps", "-a")); strings.Contains(out, "0badc0ffee") {
		t.Errorf("ps lists a dead sandbox:\n%s", out)
	}
	if left := stateEntries(); len(left) > 0 {
		t.Errorf("ps left the dead sandboxes' state: %v", left)
	}
}
