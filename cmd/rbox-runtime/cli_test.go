package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/oci"
	"github.com/rbox-sandbox/rbox/state"
)

type result struct {
	code           int
	stdout, stderr string
}

func invoke(stdin string, env map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return result{code, out.String(), errb.String()}
}

// plant records a real process (a sleep of the test's) as container id
// in root, as create will once it can start one.
func plant(t *testing.T, root, id string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Reaped as soon as it ends, as conmon or the shim would; the cleanup
	// waits for that reaping instead of calling Wait a second time.
	reaped := make(chan struct{})
	go func() { cmd.Wait(); close(reaped) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-reaped })
	start, err := state.ProcStart(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	st, err := oci.OpenStore(root, os.Geteuid(), true)
	if err != nil {
		t.Fatal(err)
	}
	r := &oci.Record{OCIVersion: "1.0.2-dev", ID: id, Bundle: "/b/" + id, Status: specs.StateCreated, Pid: cmd.Process.Pid, PidStart: start, Created: time.Now()}
	if err := st.Create(r); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func bundle(t *testing.T, terminal bool) string {
	t.Helper()
	dir := t.TempDir()
	cfg := `{"ociVersion": "1.0.2-dev", "root": {"path": "rootfs"}, "process": {"terminal": ` + map[bool]string{true: "true", false: "false"}[terminal] + `, "args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEngineArgv runs every command line shape the engines use, taken
// from their sources, against real records: each must be understood (no
// usage error) and do what the engine expects. The steps run in order on
// shared containers.
//
//   - conmon 2.1.6 src/runtime_args.c: [--systemd-cgroup] RUNTIME-ARGS
//     create --bundle B --pid-file P [--no-pivot] [--no-new-keyring]
//     RUNTIME-OPTS [--console-socket S] ID; exec: exec --pid-file P
//     --process F --detach [--console-socket S] ID. Podman's runtime args
//     are --log-format=json --log FILE (with runtime_supports_json), and
//     --cgroup-manager disabled for --cgroups=disabled.
//   - podman 4.3 libpod/oci_conmon_common.go: state ID, start ID,
//     kill [--all] ID NUM, delete --force ID, pause ID, resume ID, all
//     without global flags and with XDG_RUNTIME_DIR as the only variable.
//   - containerd 1.6 go-runc: --root R --log F --log-format json
//     [--systemd-cgroup] [--rootless=B] before create --bundle B --pid-file
//     P [--console-socket S] [--no-pivot] [--no-new-keyring] [--detach]
//     [--preserve-fds N] ID, state ID, kill [--all] ID NUM, delete
//     [--force] ID, exec --process F [--console-socket S] [--detach]
//     [--pid-file P] ID, ps --format json ID, ps --format table ID ARGS,
//     update --resources - ID, pause ID, resume ID, --version.
//   - CRI-O internal/oci/runtime_oci.go: --root R before kill ID SIG,
//     kill ID KILL, kill -a ID NUM, exec --process F ID in the
//     foreground, state ID, pause ID, resume ID, delete --force ID; conmon
//     gets --runtime-arg --root=R and -s (--systemd-cgroup).
func TestEngineArgv(t *testing.T) {
	tmp := t.TempDir()
	xdg := filepath.Join(tmp, "xdg")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(tmp, "root")
	log := filepath.Join(tmp, "log.json")
	plain, tty := bundle(t, false), bundle(t, true)
	proc := filepath.Join(tmp, "process.json")
	if err := os.WriteFile(proc, []byte(`{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c1 := plant(t, root, "c1")
	c2 := plant(t, root, "c2")
	env := map[string]string{"XDG_RUNTIME_DIR": xdg}
	r := []string{"--root", root}

	steps := []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string // in stderr when code != 0, in stdout otherwise
	}{
		{"conmon create", []string{"--root=" + root, "--log-format=json", "--log", log, "--cgroup-manager", "disabled", "create", "--bundle", plain, "--pid-file", filepath.Join(tmp, "pid"), "--no-pivot", "--no-new-keyring", "--preserve-fds", "1", "new1"}, "", 1, `rootfs": bind it: no such file or directory`},
		{"conmon create, systemd", []string{"--systemd-cgroup", "--root", root, "create", "--bundle", tty, "--pid-file", filepath.Join(tmp, "pid"), "--console-socket", filepath.Join(tmp, "sock"), "new1"}, "", 1, `create: --console-socket "` + filepath.Join(tmp, "sock") + `"`},
		{"conmon create, ID in use", []string{"--root", root, "create", "--bundle", plain, "--pid-file", filepath.Join(tmp, "pid"), "c1"}, "", 1, `create: container "c1" already exists`},
		{"conmon exec", append(r, "exec", "--pid-file", filepath.Join(tmp, "pid"), "--process", proc, "--detach", "--preserve-fds", "2", "--console-socket", filepath.Join(tmp, "sock"), "c1"), "", 1, `exec: bundle "/b/c1" has no config.json`},
		{"containerd create", append(r, "--log", log, "--log-format", "json", "--rootless=true", "create", "--bundle", tty, "--pid-file", filepath.Join(tmp, "pid"), "--console-socket", filepath.Join(tmp, "sock"), "--no-pivot", "--no-new-keyring", "--detach", "--preserve-fds", "2", "new2"), "", 1, `create: --console-socket "` + filepath.Join(tmp, "sock") + `"`},
		{"containerd state", append(r, "--log", log, "--log-format", "json", "state", "c1"), "", 0, `"status": "created"`},
		{"state has runc's created", append(r, "state", "c1"), "", 0, `"created": "20`},
		{"containerd ps json", append(r, "ps", "--format", "json", "c1"), "", 0, "[" + itoa(c1.Process.Pid) + "]"},
		{"containerd ps table", append(r, "ps", "--format", "table", "c1", "-ef"), "", 0, "PID"},
		{"containerd exec", append(r, "exec", "--process", proc, "--console-socket", filepath.Join(tmp, "sock"), "--detach", "--pid-file", filepath.Join(tmp, "pid"), "c1"), "", 1, `exec: bundle "/b/c1" has no config.json`},
		{"containerd update", append(r, "update", "--resources", "-", "c1"), `{"memory": {"limit": 1048576}}`, 1, `update: cannot update container "c1": it runs without a cgroup`},
		{"containerd pause", append(r, "pause", "c1"), "", 1, `pause: cannot pause container "c1": it is created, not running`},
		{"containerd resume", append(r, "resume", "c1"), "", 1, `resume: cannot resume container "c1": it is created, not paused`},
		{"crio exec in the foreground", append(r, "--systemd-cgroup", "exec", "--process", proc, "c1"), "", 1, `exec: bundle "/b/c1" has no config.json`},
		{"crio kill of the stop signal", append(r, "kill", "c2", "0"), "", 0, ""},
		{"crio kill -a", append(r, "kill", "-a", "c2", "0"), "", 0, ""},
		{"crio update, bad resources", append(r, "update", "--resources", "-", "c2"), `{"pids": {"limit": "x"}}`, 1, `update: --resources "-": resources.pids.limit: cannot be a JSON string`},
		{"podman start", []string{"start", "c1"}, "", 1, `start: container "c1" does not exist`}, // not in XDG_RUNTIME_DIR
		{"start of a created container", append(r, "start", "c1"), "", 1, `start: start container "c1": open`},
		{"delete of a created container", append(r, "delete", "c1"), "", 1, `delete: cannot delete container "c1" that is not stopped: it is created`},
		{"delete --force of a created container", append(r, "delete", "--force", "c1"), "", 0, ""},
		{"podman state of a deleted container", append(r, "state", "c1"), "", 1, `state: container "c1" does not exist`},
		{"containerd kill --all", append(r, "kill", "--all", "c2", "9"), "", 0, ""},
		{"crio kill of a stopped container", append(r, "kill", "c2", "KILL"), "", 1, `kill: container "c2": container not running`},
		{"state of a stopped container", append(r, "state", "c2"), "", 0, `"status": "stopped"`},
		{"start of a stopped container", append(r, "start", "c2"), "", 1, `start: cannot start container "c2": it has stopped`},
		{"exec in a stopped container", append(r, "exec", "--process", proc, "c2"), "", 1, `exec: cannot exec in container "c2": it is stopped`},
		{"podman delete --force", append(r, "delete", "--force", "c2"), "", 0, ""},
		{"podman delete --force of a gone container", append(r, "delete", "--force", "c2"), "", 0, ""},
		{"containerd delete of a gone container", append(r, "delete", "c2"), "", 1, `delete: container "c2" does not exist`},
		{"containerd kill of a gone container", append(r, "kill", "c2", "15"), "", 1, `kill: container "c2" does not exist`},
		{"podman state, XDG_RUNTIME_DIR only", []string{"state", "c9"}, "", 1, `state: container "c9" does not exist`},
		{"--version", []string{"--version"}, "", 0, "rbox-runtime version "},
		{"features", []string{"features"}, "", 0, `"ociVersionMax": "` + oci.MaxVersion + `"`},
	}
	for _, s := range steps {
		got := invoke(s.stdin, env, s.args...)
		where := got.stdout
		if s.code != 0 {
			where = got.stderr
		}
		if got.code != s.code || !strings.Contains(where, s.want) {
			t.Errorf("%s: rbox-runtime %q: exit %d, stdout %q, stderr %q; want exit %d with %q", s.name, s.args, got.code, got.stdout, got.stderr, s.code, s.want)
		}
		if s.code != 0 && strings.Count(got.stderr, "\n") != 1 {
			t.Errorf("%s: %d lines on stderr, want 1: %q", s.name, strings.Count(got.stderr, "\n"), got.stderr)
		}
		for _, usage := range []string{"unknown flag", "(usage:", "flag needs"} {
			if strings.Contains(got.stderr, usage) {
				t.Errorf("%s: a usage error: %q", s.name, got.stderr)
			}
		}
		if s.name == "containerd kill --all" {
			gone(t, c2.Process.Pid)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("left in the root: %v", entries)
	}
	if entries, _ := os.ReadDir(xdg); len(entries) != 0 {
		t.Errorf("readers made %v in XDG_RUNTIME_DIR", entries)
	}
}

// gone waits until pid has ended (kill does not wait, as runc's does not).
func gone(t *testing.T, pid int) {
	t.Helper()
	for range 500 {
		if _, err := state.ProcStart(pid); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid %d did not end", pid)
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestUsageErrors(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "rbox-runtime: no command: see rbox-runtime --help"},
		{[]string{"--bogus", "state", "x"}, "rbox-runtime: unknown flag --bogus (see rbox-runtime --help)"},
		{[]string{"--log-format", "xml", "state", "x"}, `rbox-runtime: --log-format "xml": want text or json`},
		{[]string{"--cgroup-manager=nope", "state", "x"}, `rbox-runtime: --cgroup-manager "nope": want cgroupfs, systemd or disabled`},
		{[]string{"--rootless=maybe", "state", "x"}, `"maybe" for -rootless: want true, false or auto`},
		{[]string{"frob"}, `rbox-runtime: unknown command "frob": see rbox-runtime --help`},
		{[]string{"--root", root, "state"}, "rbox-runtime: state: no container ID given (usage: rbox-runtime state ID)"},
		{[]string{"--root", root, "state", "a", "b"}, `rbox-runtime: state: 2 arguments ["a" "b"]`},
		{[]string{"--root", root, "kill", "-s", "x"}, "rbox-runtime: kill: unknown flag -s (see rbox-runtime kill --help)"},
		{[]string{"--root", root, "kill", "x", "NOPE"}, `rbox-runtime: kill: unknown signal "NOPE"`},
		{[]string{"--root", root, "state", "../x"}, `rbox-runtime: state: container ID "../x" is invalid`},
		{[]string{"--root", root, "ps", "--format", "xml", "x"}, `rbox-runtime: ps: --format "xml": want table or json`},
		{[]string{"--root", root, "exec", "x"}, "rbox-runtime: exec: no process: give --process FILE"},
		{[]string{"--root", root, "update", "x"}, "rbox-runtime: update: no --resources"},
		{[]string{"--root", root, "create", "--preserve-fds", "x", "c"}, `rbox-runtime: create: invalid value "x" for flag -preserve-fds`},
		{[]string{"--root", root, "features", "x"}, "rbox-runtime: features: 1 arguments"},
	}
	for _, tt := range tests {
		got := invoke("", nil, tt.args...)
		if got.code != exitFailure || !strings.Contains(got.stderr, tt.want) || strings.Count(got.stderr, "\n") != 1 {
			t.Errorf("rbox-runtime %q: exit %d, %q; want exit %d and one line with %q", tt.args, got.code, got.stderr, exitFailure, tt.want)
		}
	}
	if _, err := os.Lstat(root); err == nil {
		t.Error("a usage error made the state root")
	}
	for _, help := range [][]string{{"--help"}, {"-h"}, {"kill", "--help"}} {
		if got := invoke("", nil, help...); got.code != 0 || !strings.Contains(got.stdout, "rbox-runtime") {
			t.Errorf("%q: exit %d, %q", help, got.code, got.stdout)
		}
	}
}

// The bad bundles of issue 16: one line each, non-zero, nothing left in
// the root.
func TestBadBundles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	valid := `{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"}}`
	tests := []struct {
		name, config, want string
	}{
		{"no config.json", "", `has no config.json`},
		{"not JSON", "ociVersion = 1", "config.json: not JSON: line 1:"},
		{"a field of the wrong type", `{"ociVersion": "1.0.2", "root": {"path": 7}}`, "config.json: root.path: cannot be a JSON number, want a string"},
		{"an unknown namespace type", strings.Replace(valid, `"root"`, `"linux": {"namespaces": [{"type": "foo"}]}, "root"`, 1), `config.json: linux.namespaces[0].type: unknown namespace type "foo"`},
		{"ociVersion unknown", strings.Replace(valid, "1.0.2", "7.0.0", 1), `config.json: ociVersion: "7.0.0" is a runtime-spec version rbox does not know`},
		{"no root.path", strings.Replace(valid, `"path": "rootfs"`, `"readonly": true`, 1), "config.json: root.path: empty"},
		{"terminal without a console socket", strings.Replace(valid, `"args"`, `"terminal": true, "args"`, 1), "process.terminal is true: give --console-socket SOCK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got := invoke("", nil, "--root", root, "create", "--bundle", dir, "--pid-file", filepath.Join(dir, "pid"), "c1")
			if got.code != exitFailure || !strings.Contains(got.stderr, tt.want) || strings.Count(got.stderr, "\n") != 1 {
				t.Fatalf("exit %d, %q; want exit %d and one line with %q", got.code, got.stderr, exitFailure, tt.want)
			}
			if _, err := os.Lstat(root); err == nil {
				t.Fatal("a refused create made the state root")
			}
			if _, err := os.Lstat(filepath.Join(dir, "pid")); err == nil {
				t.Fatal("a refused create wrote the pid file")
			}
		})
	}
}

func TestRootDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		g       global
		env     map[string]string
		euid    int
		initial bool
		want    string // "" for an error
	}{
		{"--root", global{root: "/r/x/"}, nil, 1000, true, "/r/x"},
		{"user", global{}, map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, 1000, true, "/run/user/1000/rbox-runtime"},
		{"root of the host, XDG set", global{}, map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"}, 0, true, "/run/rbox-runtime"},
		{"root of the host, nothing set", global{}, nil, 0, true, "/run/rbox-runtime"},
		{"rootless podman's uid 0", global{}, map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, 0, false, "/run/user/1000/rbox-runtime"},
		{"user without XDG_RUNTIME_DIR", global{}, map[string]string{"HOME": "/home/u"}, 1000, true, ""},
		{"relative XDG_RUNTIME_DIR", global{}, map[string]string{"XDG_RUNTIME_DIR": "run"}, 1000, true, ""},
	}
	for _, tt := range tests {
		got, err := rootDir(&tt.g, env(tt.env), tt.euid, tt.initial)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "--root DIR") {
			t.Errorf("%s: %v does not name the fix", tt.name, err)
		}
	}
}

// With --log, an error goes to the file as well as to stderr, in the
// form each engine reads: podman decodes the whole file as one JSON
// object, containerd the last level=error line; text is logrus's.
func TestLogFile(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	jl := filepath.Join(dir, "log.json")
	got := invoke("", nil, "--root", root, "--log", jl, "--log-format", "json", "delete", "gone")
	if got.code == 0 || got.stderr != "rbox-runtime: delete: container \"gone\" does not exist\n" {
		t.Fatalf("exit %d, %q", got.code, got.stderr)
	}
	b, _ := os.ReadFile(jl)
	var entry struct{ Level, Msg, Time string }
	if err := json.Unmarshal(b, &entry); err != nil || entry.Level != "error" || entry.Msg != `delete: container "gone" does not exist` {
		t.Fatalf("log %q: %+v %v", b, entry, err)
	}
	if _, err := time.Parse(time.RFC3339Nano, entry.Time); err != nil {
		t.Fatalf("time %q: %v", entry.Time, err)
	}
	tl := filepath.Join(dir, "log.txt")
	invoke("", nil, "--root", root, "--log", tl, "kill", "gone", "9")
	b, _ = os.ReadFile(tl)
	if !strings.HasPrefix(string(b), `time="`) || !strings.HasSuffix(string(b), ` level=error msg="kill: container \"gone\" does not exist"`+"\n") {
		t.Fatalf("text log %q", b)
	}
	// Success writes nothing; --debug adds debug lines (an ignored
	// AppArmor profile), which podman does not read: it passes --log only
	// when it does not debug.
	invoke("", nil, "--root", root, "--log", tl, "features")
	if b2, _ := os.ReadFile(tl); !bytes.Equal(b, b2) {
		t.Fatalf("features logged %q", b2[len(b):])
	}
	bd := filepath.Join(dir, "b")
	os.Mkdir(bd, 0o700)
	os.WriteFile(filepath.Join(bd, "config.json"), []byte(`{"ociVersion": "1.0.2", "root": {"path": "r"}, "process": {"args": ["sh"], "cwd": "/", "apparmorProfile": "x"}}`), 0o600)
	dl := filepath.Join(dir, "debug.json")
	invoke("", nil, "--root", root, "--debug", "--log", dl, "--log-format=json", "create", "-b", bd, "c")
	b, _ = os.ReadFile(dl)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 || !strings.Contains(lines[0], `"level":"debug","msg":"process.apparmorProfile: ignored`) || !strings.Contains(lines[1], `"level":"error"`) {
		t.Fatalf("debug log %q", b)
	}
}
