package oci

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// goodConfig is a config.json as podman 4.3 writes one for
// `podman run --rm IMAGE sh` (trimmed): the fixture every case below
// breaks in one field.
const goodConfig = `{
  "ociVersion": "1.0.2-dev",
  "process": {
    "user": {"uid": 0, "gid": 0, "additionalGids": [10]},
    "args": ["sh", "-c", "echo hi"],
    "env": ["PATH=/usr/bin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_CHOWN", "CAP_KILL"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}],
    "noNewPrivileges": true,
    "oomScoreAdj": 0
  },
  "root": {"path": "rootfs"},
  "hostname": "c1",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/etc/hosts", "type": "bind", "source": "/tmp/hosts", "options": ["bind", "rprivate"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]},
    {"destination": "/data", "source": "data", "options": ["rbind", "ro"]}
  ],
  "hooks": {"poststop": [{"path": "/bin/true", "timeout": 5}]},
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 1, "hostID": 100000, "size": 65536}],
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}],
    "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
      "syscalls": [{"names": ["read", "write", "exit_group", "execve"], "action": "SCMP_ACT_ALLOW"}]},
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "cgroupsPath": "/libpod_parent/c1"
  }
}`

func good(t *testing.T) *specs.Spec {
	t.Helper()
	s, err := Parse([]byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidate(t *testing.T) {
	if err := Validate(good(t)); err != nil {
		t.Fatalf("the good config: %v", err)
	}
	tests := []struct {
		name   string
		change func(s *specs.Spec)
		want   string // "" for accepted; else the start of the error
	}{
		{"version 1.0.0", func(s *specs.Spec) { s.Version = "1.0.0" }, ""},
		{"version 1.2.1", func(s *specs.Spec) { s.Version = "1.2.1" }, ""},
		{"version 1.3.0+dev", func(s *specs.Spec) { s.Version = "1.3.0+dev" }, ""},
		{"version 1.0.0-rc5", func(s *specs.Spec) { s.Version = "1.0.0-rc5" }, ""},
		{"version missing", func(s *specs.Spec) { s.Version = "" }, "ociVersion: missing"},
		{"version 2.0.0", func(s *specs.Spec) { s.Version = "2.0.0" }, `ociVersion: "2.0.0" is a runtime-spec version rbox does not know`},
		{"version 1.9.0", func(s *specs.Spec) { s.Version = "1.9.0" }, `ociVersion: "1.9.0" is a runtime-spec version`},
		{"version 0.5.0", func(s *specs.Spec) { s.Version = "0.5.0" }, `ociVersion: "0.5.0" is a runtime-spec version`},
		{"version garbage", func(s *specs.Spec) { s.Version = "1.0" }, `ociVersion: "1.0" is not a version`},
		{"version leading zero", func(s *specs.Spec) { s.Version = "1.01.0" }, `ociVersion: "1.01.0" is not a version`},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root: missing"},
		{"no root.path", func(s *specs.Spec) { s.Root.Path = "" }, "root.path: empty"},
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process: missing"},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args: empty"},
		{"empty args[0]", func(s *specs.Spec) { s.Process.Args = []string{""} }, "process.args[0]: empty"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, `process.cwd: "tmp" is not an absolute path`},
		{"no cwd", func(s *specs.Spec) { s.Process.Cwd = "" }, "process.cwd: empty"},
		{"env without =", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "FOO") }, `process.env[2]: "FOO" is not KEY=VALUE`},
		{"unknown capability", func(s *specs.Spec) { s.Process.Capabilities.Effective[1] = "CAP_FLY" }, `process.capabilities.effective[1]: unknown capability "CAP_FLY"`},
		{"capability without CAP_", func(s *specs.Spec) { s.Process.Capabilities.Bounding[0] = "CHOWN" }, `process.capabilities.bounding[0]: unknown capability "CHOWN"`},
		{"unknown rlimit", func(s *specs.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_FOO" }, `process.rlimits[0].type: unknown resource "RLIMIT_FOO"`},
		{"rlimit twice", func(s *specs.Spec) { s.Process.Rlimits = append(s.Process.Rlimits, s.Process.Rlimits[0]) }, "process.rlimits[1].type: RLIMIT_NOFILE is given twice"},
		{"rlimit soft above hard", func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 1 << 21 }, "process.rlimits[0]: soft limit"},
		{"oomScoreAdj", func(s *specs.Spec) { v := 1001; s.Process.OOMScoreAdj = &v }, "process.oomScoreAdj: 1001 is out of range"},
		{"scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FIFO"} }, "process.scheduler: not supported by rbox"},
		{"mount without destination", func(s *specs.Spec) { s.Mounts[1].Destination = "" }, "mounts[1].destination: empty"},
		{"mount of nfs", func(s *specs.Spec) { s.Mounts[2].Type = "nfs" }, `mounts[2].type: not supported by rbox: file system "nfs"`},
		{"mount without type", func(s *specs.Spec) { s.Mounts[0].Type = "" }, "mounts[0].type: empty type without a bind"},
		{"idmapped mount", func(s *specs.Spec) { s.Mounts[3].Options = append(s.Mounts[3].Options, "idmap") }, "mounts[3].options[2]: not supported by rbox"},
		{"hook with a relative path", func(s *specs.Spec) { s.Hooks.Poststop[0].Path = "true" }, `hooks.poststop[0].path: "true" is not an absolute path`},
		{"hook timeout 0", func(s *specs.Spec) { v := 0; s.Hooks.Poststop[0].Timeout = &v }, "hooks.poststop[0].timeout: 0"},
		{"unknown namespace", func(s *specs.Spec) { s.Linux.Namespaces[2].Type = "foo" }, `linux.namespaces[2].type: unknown namespace type "foo"`},
		{"namespace twice", func(s *specs.Spec) { s.Linux.Namespaces[2].Type = "pid" }, `linux.namespaces[2].type: namespace "pid" is listed twice`},
		{"relative namespace path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "ns/net" }, `linux.namespaces[1].path: "ns/net" is not an absolute path`},
		{"mappings without a user namespace", func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:5] }, "linux.uidMappings: given without a new user namespace"},
		{"mapping of size 0", func(s *specs.Spec) { s.Linux.GIDMappings[1].Size = 0 }, "linux.gidMappings[1].size: 0"},
		{"overlapping mappings", func(s *specs.Spec) { s.Linux.UIDMappings[1].ContainerID = 0 }, "linux.uidMappings[1].containerID: 0-65535 overlaps linux.uidMappings[0]"},
		{"mapping past the top", func(s *specs.Spec) { s.Linux.UIDMappings[1].HostID = 1<<32 - 10 }, "linux.uidMappings[1]: the range runs past"},
		{"only uid mappings", func(s *specs.Spec) { s.Linux.GIDMappings = nil }, "linux.uidMappings: uidMappings and gidMappings must be given together"},
		{"relative masked path", func(s *specs.Spec) { s.Linux.MaskedPaths[0] = "proc/kcore" }, `linux.maskedPaths[0]: "proc/kcore" is not an absolute path`},
		{"device type", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}} }, `linux.devices[0].type: "z" is not a device type`},
		{"propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "everywhere" }, `linux.rootfsPropagation: "everywhere"`},
		{"seccomp action", func(s *specs.Spec) { s.Linux.Seccomp.Syscalls[0].Action = "SCMP_ACT_FOO" }, `linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_FOO"`},
		{"seccomp notify", func(s *specs.Spec) { s.Linux.Seccomp.Syscalls[0].Action = specs.ActNotify }, "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY is not supported"},
		{"seccomp listener", func(s *specs.Spec) { s.Linux.Seccomp.ListenerPath = "/run/agent.sock" }, "linux.seccomp.listenerPath: seccomp user notification"},
		{"seccomp unknown syscall", func(s *specs.Spec) { s.Linux.Seccomp.Syscalls[0].Names[0] = "frobnicate" }, `linux.seccomp.syscalls[0].names[0]: unknown syscall "frobnicate"`},
		{"intelRdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{} }, "linux.intelRdt: not supported by rbox"},
		{"personality", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} }, "linux.personality: not supported by rbox"},
		{"time offsets without a time namespace", func(s *specs.Spec) { s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}} }, "linux.timeOffsets: given without a time namespace"},
		{"windows section", func(s *specs.Spec) { s.Windows = &specs.Windows{} }, "windows: not supported by rbox"},
		{"no linux section", func(s *specs.Spec) { s.Linux = nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good(t)
			tt.change(s)
			err := Validate(s)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error starting %q", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%q is not a one-line FieldError", err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", ``, "not JSON: it ends at line 1:1"},
		{"not JSON", `ociVersion: 1.0.2`, "not JSON: line 1:2: invalid character"},
		{"truncated", `{"ociVersion": "1.0.2", "process": {`, "not JSON: it ends at line 1:"},
		{"an array", `[]`, "the top level: cannot be a JSON array, want an object"},
		{"args a string", `{"process": {"args": "sh"}}`, "process.args: cannot be a JSON string, want an array (line 1:"},
		{"uid a string", `{"process": {"user": {"uid": "0"}}}`, "process.user.uid: cannot be a JSON string, want a number"},
		{"negative uid", `{"process": {"user": {"uid": -1}}}`, "process.user.uid: cannot be a JSON number -1, want a number"},
		{"root a string", `{"root": "rootfs"}`, "root: cannot be a JSON string, want an object"},
		{"namespaces an object", "{\n\"linux\": {\"namespaces\": {}}}", "linux.namespaces: cannot be a JSON object, want an array (line 2:"},
		{"two objects", `{} {}`, "not JSON: data after the top-level object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error starting %q", err, tt.want)
			}
		})
	}
	// Unknown properties are ignored, as the runtime spec requires.
	if _, err := Parse([]byte(`{"ociVersion": "1.0.2", "rboxFuture": {"x": 1}, "process": {"newThing": true}}`)); err != nil {
		t.Fatalf("unknown properties: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || err.Error() != `bundle "`+dir+`" has no config.json` {
		t.Fatalf("no config.json: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(goodConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
}

func TestParseProcessAndResources(t *testing.T) {
	if _, err := ParseProcess([]byte(`{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}}`)); err != nil {
		t.Fatal(err)
	}
	for data, want := range map[string]string{
		`{"args": [], "cwd": "/"}`:     "process.args: empty",
		`{"args": "sh", "cwd": "/"}`:   "process.args: cannot be a JSON string",
		`{"args": ["sh"], "cwd": "x"}`: `process.cwd: "x" is not an absolute path`,
		`[1]`:                          "process: cannot be a JSON array",
	} {
		if _, err := ParseProcess([]byte(data)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseProcess(%s) = %v, want %q", data, err, want)
		}
	}
	if _, err := ParseResources([]byte(`{"memory": {"limit": 1048576}, "pids": {"limit": 10}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseResources([]byte(`{"memory": {"limit": "1m"}}`)); err == nil || !strings.HasPrefix(err.Error(), "resources.memory.limit: cannot be a JSON string") {
		t.Fatalf("got %v", err)
	}
}

// FuzzConfig feeds config.json text through everything the runtime does
// with a bundle's config before anything runs: no input may panic, and
// every refusal is one line.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte(`{"ociVersion": "1.0.2", "root": {"path": "r"}, "process": {"args": ["x"], "cwd": "/"}}`))
	f.Add([]byte(`{"process": {"args": "sh"}}`))
	f.Add([]byte(`{"linux": {"uidMappings": [{"containerID": 4294967295, "hostID": 0, "size": 4294967295}]}}`))
	f.Add([]byte(`{"mounts": [{"destination": "/x", "type": "none", "options": ["rbind", "rshared", "mode=1777", ""]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a two-line error: %q", err)
			}
			return
		}
		b, err := Translate(s, "/bundle")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a two-line error: %q", err)
			}
			return
		}
		if !filepath.IsAbs(b.Root.Path) || len(b.Mounts) != len(s.Mounts) || len(b.Process.Args) == 0 {
			t.Fatalf("accepted %q as %+v", data, b)
		}
		for _, m := range b.Mounts {
			if !filepath.IsAbs(m.Destination) || filepath.Clean(m.Destination) != m.Destination {
				t.Fatalf("mount destination %q", m.Destination)
			}
		}
		if _, err := json.Marshal(b); err != nil {
			t.Fatalf("the Bundle does not marshal: %v", err)
		}
	})
}
