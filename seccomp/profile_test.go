package seccomp

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestLoadDockerShaped(t *testing.T) {
	f, err := os.Open("testdata/docker-shaped.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := LoadOCI(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		a := arches[arch]
		call := func(name string, args ...uint64) seccompData {
			n, ok := a.syscalls[name]
			if !ok {
				t.Fatalf("%s has no %s", arch, name)
			}
			d := seccompData{nr: int32(n), arch: a.audit}
			copy(d.args[:], args)
			return d
		}
		for _, tc := range []struct {
			caps []string
			d    seccompData
			want uint32
			what string
		}{
			{nil, call("read"), retAllow, "read"},
			{nil, call("newfstatat"), retAllow, "newfstatat"},
			{nil, call("ptrace"), retAllow, "ptrace (minKernel 4.8)"},
			{nil, call("getppid"), retEPERM, "getppid (default)"},
			{nil, call("socket", 2), retAllow, "socket AF_INET"},
			{nil, call("socket", 40), retEPERM, "socket AF_VSOCK"},
			{nil, call("clone", 0x11), retAllow, "clone without namespaces"},
			{nil, call("clone", 0x10000000), retEPERM, "clone CLONE_NEWUSER"},
			{nil, call("clone3"), retENOSYS, "clone3 without CAP_SYS_ADMIN"},
			{[]string{"CAP_SYS_ADMIN"}, call("clone3"), retAllow, "clone3 with CAP_SYS_ADMIN"},
			{[]string{"CAP_SYS_ADMIN"}, call("mount"), retAllow, "mount with CAP_SYS_ADMIN"},
			{[]string{"CAP_SYS_ADMIN"}, call("clone", 0x10000000), retEPERM, "clone rule excluded with CAP_SYS_ADMIN"},
			{nil, seccompData{nr: 3, arch: 0x40000003}, retKillProcess, "i386 even though listed"},
		} {
			f, err := Compile(p, arch, tc.caps)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustRun(t, f.Program, tc.d); got != tc.want {
				t.Errorf("%s %s: %#x, want %#x", arch, tc.what, got, tc.want)
			}
		}
	}
}

func TestDefaultRoundTrip(t *testing.T) {
	b, err := json.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadOCI(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Default() does not load back: %v\n%s", err, b)
	}
	f1, _ := Compile(Default(), "amd64", nil)
	f2, err := Compile(p, "amd64", nil)
	if err != nil || len(f1.Program) != len(f2.Program) {
		t.Fatalf("round trip compiles differently: %v", err)
	}
}

func TestLoadOCIErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"empty", ``, "EOF"},
		{"syntax error with line", "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  oops\n}", "line 3:"},
		{"wrong type", `{"defaultAction": 3}`, "defaultAction: cannot be a JSON number"},
		{"unknown field", `{"defaultAction": "SCMP_ACT_ALLOW", "bogus": 1}`, `unknown field "bogus"`},
		{"trailing data", `{"defaultAction": "SCMP_ACT_ALLOW"} {}`, "after the JSON object"},
		{"no default action", `{}`, "defaultAction: missing"},
		{"bad default action", `{"defaultAction": "SCMP_ACT_NOPE"}`, `defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{"notify", `{"defaultAction": "SCMP_ACT_NOTIFY"}`, "SCMP_ACT_NOTIFY is not supported"},
		{"errnoRet with allow", `{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}`, "only valid with SCMP_ACT_ERRNO"},
		{"errnoRet too large", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}`, "out of range"},
		{"bad arch", `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]}`, `architectures[1]: unknown architecture "SCMP_ARCH_Z80"`},
		{"tsync", `{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]}`, "flags[0]: SECCOMP_FILTER_FLAG_TSYNC is not supported"},
		{"listener", `{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}`, "listenerPath: seccomp user notification"},
		{"bad rule action", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
			{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["bpf"], "action": "SCMP_ACT_FOO"}]}`,
			`syscalls[3].action: unknown action "SCMP_ACT_FOO"`},
		{"unknown syscall", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", "fooo"], "action": "SCMP_ACT_ERRNO"}]}`, `syscalls[0].names[1]: unknown syscall "fooo"`},
		{"no names", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}`, "syscalls[0].names: empty"},
		{"no action", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]}`, "syscalls[0].action: missing"},
		{"arg index", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`, "syscalls[0].args[0].index: 6 is out of range 0-5"},
		{"arg op", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}`, `syscalls[0].args[0].op: unknown operator "SCMP_CMP_ABOUT"`},
		{"negative value", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}`, "syscalls.args.value: cannot be a JSON number"},
		{"includes arch", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["vax"]}}]}`, `syscalls[0].includes.arches[0]: unknown architecture "vax"`},
		{"minKernel", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "six"}}]}`, `syscalls[0].excludes.minKernel: kernel version "six"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadOCI(strings.NewReader(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
		})
	}
}

// TestUnknownHereKnownElsewhere: a name of another architecture loads and
// is skipped when compiling; a name of no architecture is refused.
func TestUnknownHereKnownElsewhere(t *testing.T) {
	p, err := LoadOCI(strings.NewReader(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["socketcall", "arm_fadvise64_64", "s390_runtime_instr", "bpf"], "action": "SCMP_ACT_ERRNO"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if _, err := Compile(p, arch, nil); err != nil {
			t.Errorf("%s: %v", arch, err)
		}
	}
}

func FuzzLoadOCI(f *testing.F) {
	seed, err := os.ReadFile("testdata/docker-shaped.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	def, _ := json.Marshal(Default())
	f.Add(def)
	f.Add([]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := LoadOCI(bytes.NewReader(data))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		// Whatever loads must compile or fail cleanly, and what compiles
		// must run to a return value on any input.
		for _, arch := range []string{"amd64", "arm64"} {
			fl, err := Compile(p, arch, []string{"CAP_SYS_ADMIN"})
			if err != nil {
				continue
			}
			for _, nr := range []int32{0, 1, 16, 39, 435, -1, 1 << 30} {
				if _, err := run(fl.Program, seccompData{nr: nr, arch: arches[arch].audit, args: [6]uint64{1, 0x5412}}); err != nil {
					t.Fatalf("%s nr %d: %v", arch, nr, err)
				}
			}
		}
	})
}

// podman's own profile (containers/common, as Debian 12 ships it in
// /usr/share/containers/seccomp.json) loads and compiles unchanged, with
// libseccomp's answers where its rules overlap.
func TestLoadPodmanProfile(t *testing.T) {
	f, err := os.Open("testdata/podman-containers-common.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := LoadOCI(f)
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != 38 {
		t.Errorf("defaultErrnoRet = %v, want 38 (ENOSYS)", p.DefaultErrnoRet)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		for _, caps := range [][]string{nil, {"CAP_CHOWN", "CAP_SETUID"}, {"CAP_SYS_ADMIN"}} {
			if _, err := Compile(p, arch, caps); err != nil {
				t.Errorf("%s %v: %v", arch, caps, err)
			}
		}
	}
	for _, bad := range []struct{ json, want string }{
		{`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrno":"ENOPE"}`, `defaultErrno: unknown errno name "ENOPE"`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrno":"EPERM","defaultErrnoRet":38}`, `defaultErrno: "EPERM" is 1, but errnoRet says 38`},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errno":"EBOGUS"}]}`, `syscalls[0].errno: unknown errno name "EBOGUS"`},
	} {
		_, err := LoadOCI(strings.NewReader(bad.json))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want %q", bad.json, err, bad.want)
		}
	}
}
