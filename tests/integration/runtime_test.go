package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/rbox-sandbox/rbox/oci"
	"github.com/rbox-sandbox/rbox/state"
)

// runtimeBin is bin/rbox-runtime, beside the rbox binary under test.
func runtimeBin() string { return filepath.Join(filepath.Dir(rboxBin), "rbox-runtime") }

// runtime runs rbox-runtime with exactly env as its environment: podman
// runs state, kill and delete with XDG_RUNTIME_DIR alone, no HOME, no
// PATH.
func runtime(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtimeBin(), args...)
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("rbox-runtime %v: timed out\n%s", args, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("rbox-runtime %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// oneError asserts a failure of one line that holds want.
func oneError(t *testing.T, r result, want string) {
	t.Helper()
	if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "rbox-runtime: ") || !strings.Contains(r.stderr, want) {
		t.Fatalf("want a non-zero exit and one line with %q, got\n%s", want, r)
	}
}

// plantContainer records one of the test's own processes as container id
// in root, as create will once it can start containers (it waits for the
// sandbox plan): state, kill and delete then act on a real process.
func plantContainer(t *testing.T, root, id string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() // reaped as conmon would
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	start, err := state.ProcStart(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	st, err := oci.OpenStore(root, os.Getuid(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Create(&oci.Record{OCIVersion: "1.0.2-dev", ID: id, Bundle: "/bundle/" + id, Status: specs.StateCreated,
		Pid: cmd.Process.Pid, PidStart: start, Created: time.Now(), Annotations: map[string]string{"io.podman": "x"}}); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestRuntimeVersionAndFeatures(t *testing.T) {
	r := runtime(t, nil, "--version")
	lines := strings.Split(strings.TrimSpace(ok(t, r)), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "rbox-runtime version ") || !strings.HasPrefix(lines[1], "commit: ") || lines[2] != "spec: "+specs.Version {
		t.Fatalf("--version printed %q", r.stdout)
	}
	var f features.Features
	if err := json.Unmarshal([]byte(ok(t, runtime(t, nil, "features"))), &f); err != nil {
		t.Fatal(err)
	}
	if f.OCIVersionMin != "1.0.0" || f.OCIVersionMax != oci.MaxVersion || f.Linux == nil || len(f.Linux.Namespaces) != 8 || f.Linux.Seccomp == nil || !*f.Linux.Seccomp.Enabled {
		t.Fatalf("features %+v", f)
	}
}

// state and delete as podman calls them (no global flags, XDG_RUNTIME_DIR
// the only variable) on a recorded live process.
func TestRuntimeStateDelete(t *testing.T) {
	xdg := t.TempDir()
	env := []string{"XDG_RUNTIME_DIR=" + xdg}
	root := filepath.Join(xdg, "rbox-runtime")
	cmd := plantContainer(t, root, "c1")

	var st specs.State
	if err := json.Unmarshal([]byte(ok(t, runtime(t, env, "state", "c1"))), &st); err != nil {
		t.Fatal(err)
	}
	if st.ID != "c1" || st.Status != specs.StateCreated || st.Pid != cmd.Process.Pid || st.Bundle != "/bundle/c1" || st.Annotations["io.podman"] != "x" {
		t.Fatalf("state %+v", st)
	}
	ok(t, runtime(t, env, "kill", "c1", "0"))
	// containerd's ps.
	if got := strings.TrimSpace(ok(t, runtime(t, env, "ps", "--format", "json", "c1"))); got != "["+itoa(cmd.Process.Pid)+"]" {
		t.Fatalf("ps: %s", got)
	}
	// A created container is not stopped: delete refuses it and leaves it
	// as it was (runtime-spec "delete"); --force kills it first.
	oneError(t, runtime(t, env, "delete", "c1"), `delete: cannot delete container "c1" that is not stopped: it is created (kill it first, or use --force)`)
	if err := json.Unmarshal([]byte(ok(t, runtime(t, env, "state", "c1"))), &st); err != nil || st.Status != specs.StateCreated {
		t.Fatalf("state after a refused delete: %+v %v", st, err)
	}
	ok(t, runtime(t, env, "delete", "--force", "c1"))
	if _, err := os.Lstat(filepath.Join(root, "c1")); err == nil {
		t.Fatal("delete left the container's directory")
	}
	if _, err := state.ProcStart(cmd.Process.Pid); err == nil {
		if s, _ := os.ReadFile("/proc/" + itoa(cmd.Process.Pid) + "/stat"); !strings.Contains(string(s), ") Z") {
			t.Fatalf("the container's process outlived delete: %s", s)
		}
	}
	oneError(t, runtime(t, env, "state", "c1"), `state: container "c1" does not exist`)
	oneError(t, runtime(t, env, "delete", "c1"), `delete: container "c1" does not exist`)
	oneError(t, runtime(t, env, "kill", "c1", "9"), `kill: container "c1" does not exist`)
	ok(t, runtime(t, env, "delete", "--force", "c1")) // podman's delete of a gone container

	// A stopped one: kill says what containerd takes as done.
	cmd2 := plantContainer(t, root, "c2")
	cmd2.Process.Kill()
	waitFor(t, func() bool { _, err := state.ProcStart(cmd2.Process.Pid); return err != nil })
	st = specs.State{}
	if err := json.Unmarshal([]byte(ok(t, runtime(t, env, "state", "c2"))), &st); err != nil || st.Status != specs.StateStopped || st.Pid != 0 {
		t.Fatalf("state of a stopped container: %+v %v", st, err)
	}
	oneError(t, runtime(t, env, "kill", "c2", "KILL"), "container not running")
	oneError(t, runtime(t, env, "start", "c2"), `start: cannot start container "c2": it has stopped`)
	ok(t, runtime(t, env, "delete", "c2"))
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("left in the root: %v", entries)
	}
}

// Bad input: one line, non-zero, nothing left in --root.
func TestRuntimeBadInput(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	valid := `{"ociVersion": "1.0.2-dev", "root": {"path": "` + rootfs + `"}, "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}}}`
	cases := []struct {
		name, config, id, want string
	}{
		{"no config.json", "", "c1", `has no config.json`},
		{"not JSON", "{ociVersion", "c1", "config.json: not JSON"},
		{"a field of the wrong type", `{"ociVersion": "1.0.2", "process": {"args": "sh"}}`, "c1", "config.json: process.args: cannot be a JSON string, want an array"},
		{"an unknown namespace type", strings.Replace(valid, `"root"`, `"linux": {"namespaces": [{"type": "pid"}, {"type": "vm"}]}, "root"`, 1), "c1", `linux.namespaces[1].type: unknown namespace type "vm"`},
		{"an unknown ociVersion", strings.Replace(valid, "1.0.2-dev", "3.1.0", 1), "c1", `ociVersion: "3.1.0" is a runtime-spec version rbox does not know`},
		{"no root.path", strings.Replace(valid, `"path": "`+rootfs+`"`, `"readonly": true`, 1), "c1", "root.path: empty"},
		{"a bad ID", valid, "../c1", `container ID "../c1" is invalid`},
		// The caller's mount namespace is the container's, and this
		// caller may not mount in it.
		{"no mount namespace", valid, "c1", `bind it: operation not permitted: linux.namespaces has no mount namespace, so the mounts are made in the caller's, which it may not mount in: add {"type": "mount"}`},
		{"a missing root.path", strings.Replace(strings.Replace(valid, `"path": "`+rootfs+`"`, `"path": "/nonexistent-root"`, 1), `"root"`, userMountNS()+`, "root"`, 1), "c1", `root.path "/nonexistent-root"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(c.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			oneError(t, runtime(t, nil, "--root", root, "create", "--bundle", dir, "--pid-file", filepath.Join(dir, "pid"), c.id), c.want)
			if _, err := os.Lstat(root); err == nil {
				t.Fatalf("create left the state root %s", root)
			}
			if _, err := os.Lstat(filepath.Join(dir, "pid")); err == nil {
				t.Fatal("create wrote the pid file")
			}
		})
	}
	oneError(t, runtime(t, nil, "--root", root, "state", "nope"), `state: container "nope" does not exist`)
	oneError(t, runtime(t, nil, "--root", root, "start", "nope"), `start: container "nope" does not exist`)
	oneError(t, runtime(t, nil, "--root", root, "kill", "nope", "SIGFOO"), `kill: unknown signal "SIGFOO"`)
	oneError(t, runtime(t, nil, "state", "nope"), "XDG_RUNTIME_DIR is not set; set it, or pass --root DIR")
	if _, err := os.Lstat(root); err == nil {
		t.Fatalf("a reader left the state root %s", root)
	}

	// An ID in use: the record and its process are left as they were.
	cmd := plantContainer(t, root, "c1")
	before, _ := os.ReadFile(filepath.Join(root, "c1", "state.json"))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(valid), 0o600)
	oneError(t, runtime(t, nil, "--root", root, "create", "--bundle", dir, "--pid-file", filepath.Join(dir, "pid"), "c1"), `create: container "c1" already exists`)
	after, _ := os.ReadFile(filepath.Join(root, "c1", "state.json"))
	if !bytes.Equal(before, after) {
		t.Fatal("a refused create changed the record in use")
	}
	if _, err := state.ProcStart(cmd.Process.Pid); err != nil {
		t.Fatalf("a refused create ended the container in use: %v", err)
	}
	oneError(t, runtime(t, nil, "--root", root, "delete", "c1", "extra"), `delete: 2 arguments`)
	ok(t, runtime(t, nil, "--root", root, "delete", "--force", "c1"))
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("left in the root: %v", entries)
	}
}

// With --log-format json, the error is the whole log file, one JSON
// object as podman decodes it (and the last level=error line containerd
// takes).
func TestRuntimeLogJSON(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "oci-log")
	r := runtime(t, []string{"XDG_RUNTIME_DIR=" + dir}, "--log-format=json", "--log", log, "delete", "gone")
	oneError(t, r, `delete: container "gone" does not exist`)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var entry struct{ Level, Msg, Time string }
	if err := json.Unmarshal(b, &entry); err != nil || entry.Level != "error" || entry.Msg != `delete: container "gone" does not exist` {
		t.Fatalf("log file %q: %+v %v", b, entry, err)
	}
}
