package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbox-sandbox/rbox/caps"
)

func TestHardening(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["nope"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","exit_group","execve"],"action":"SCMP_ACT_ALLOW"}]}`), 0o644)
	profile := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	errnoAll := profile("errno-all.json", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}`)
	killExec := profile("kill-execve.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_KILL_PROCESS"}]}`)
	traceExec := profile("trace-execve.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_TRACE"}]}`)
	logExec := profile("log-execve.json", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["execve"],"action":"SCMP_ACT_LOG"}]}`)
	noExecveat := profile("no-execveat.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execveat","futex","mkdir"],"action":"SCMP_ACT_ERRNO"}]}`)
	for _, tc := range []struct {
		name       string
		spec       Spec
		caps       caps.Set
		unconfined bool
		err        string
	}{
		{name: "defaults", caps: caps.Default()},
		{name: "default by name", spec: Spec{Seccomp: "default"}, caps: caps.Default()},
		{name: "unconfined", spec: Spec{Seccomp: "unconfined"}, caps: caps.Default(), unconfined: true},
		{name: "file", spec: Spec{Seccomp: good}, caps: caps.Default()},
		{name: "drop all add one", spec: Spec{CapDrop: []string{"ALL"}, CapAdd: []string{"net_raw"}}, caps: 1 << 13},
		{name: "unknown cap", spec: Spec{CapAdd: []string{"CAP_WIZARD"}}, err: `unknown capability "CAP_WIZARD" in --cap-add`},
		{name: "contradiction", spec: Spec{CapAdd: []string{"ALL"}, CapDrop: []string{"ALL"}}, err: "contradict"},
		{name: "errno everything", spec: Spec{Seccomp: errnoAll}, err: `Seccomp "` + errnoAll + `" denies execve: the workload cannot start`},
		{name: "kills execve", spec: Spec{Seccomp: killExec}, err: "denies execve"},
		{name: "traces execve", spec: Spec{Seccomp: traceExec}, err: "denies execve"},
		{name: "logs execve", spec: Spec{Seccomp: logExec}, caps: caps.Default()},
		{name: "execveat, futex denied", spec: Spec{Seccomp: noExecveat}, caps: caps.Default()},
		{name: "missing file", spec: Spec{Seccomp: filepath.Join(dir, "nope.json")}, err: "nope.json"},
		{name: "bad profile", spec: Spec{Seccomp: bad}, err: `Seccomp "` + bad + `": seccomp profile: syscalls[0].names[0]: unknown syscall "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, f, err := hardening(&tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "Seccomp" && fe.Field != "CapAdd" {
					t.Errorf("err = %#v, want a *FieldError of Seccomp or CapAdd", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if set != tc.caps {
				t.Errorf("caps = %s, want %s", set, tc.caps)
			}
			if (f == nil) != tc.unconfined {
				t.Errorf("filter = %v, want unconfined %v", f, tc.unconfined)
			}
		})
	}
}

func TestReadOnlyWarning(t *testing.T) {
	admin := caps.Default() | 1<<21 // CAP_SYS_ADMIN
	ro := []Volume{{Source: "/h", Target: "/a"}, {Source: "/h", Target: "/b", ReadOnly: true}, {Source: "/h", Target: "/c", ReadOnly: true}}
	for _, tc := range []struct {
		name string
		spec Spec
		set  caps.Set
		want string
	}{
		{name: "default caps", spec: Spec{Volumes: ro, ReadOnly: true}, set: caps.Default()},
		{name: "no read-only mount", spec: Spec{Volumes: ro[:1]}, set: admin},
		{name: "ro volumes", spec: Spec{Volumes: ro}, set: admin, want: "SYS_ADMIN (CapAdd) lets the workload remount the :ro volumes read-write (see SECURITY.md)"},
		{name: "read-only root", spec: Spec{ReadOnly: true}, set: admin, want: "remount the ReadOnly root read-write"},
		{name: "both", spec: Spec{Volumes: ro, ReadOnly: true}, set: admin, want: "the :ro volumes and the ReadOnly root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if w := readOnlyWarning(&tc.spec, tc.set); w != nil {
				got = w.Error()
			}
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSeccompWarning(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		profile, want string
	}{
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","futex"],"action":"SCMP_ACT_ERRNO"}]}`, ""},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["exit_group"],"action":"SCMP_ACT_ERRNO"}]}`, `denies exit_group: most programs cannot start or exit under it`},
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ALLOW"}]}`, `brk, mmap, exit_group: most`},
	} {
		p := filepath.Join(dir, "p.json")
		os.WriteFile(p, []byte(tc.profile), 0o644)
		s := &Spec{Seccomp: p}
		_, f, err := hardening(s)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if w := seccompWarning(s, f); w != nil {
			got = w.Error()
		}
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: warning %q, want %q", tc.profile, got, tc.want)
		}
	}
	if w := seccompWarning(&Spec{}, nil); w != nil {
		t.Errorf("unconfined: warning %q", w)
	}
	_, f, _ := hardening(&Spec{})
	if w := seccompWarning(&Spec{}, f); w != nil {
		t.Errorf("the default profile: warning %q", w)
	}
}
