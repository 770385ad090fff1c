package attack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goTrace is what a crash of the Go runtime (the init's) prints.
var goTrace = []string{"goroutine ", "runtime.", "SIGSEGV: segmentation violation", "fatal error"}

func noGoTrace(t *testing.T, what string, r result) {
	t.Helper()
	for _, s := range goTrace {
		if strings.Contains(r.stderr, s) {
			t.Errorf("%s: a Go crash in the output (%q):\n%s", what, s, r)
			return
		}
	}
}

// stateLeft lists the sandboxes' state directories left behind.
func stateLeft() []string {
	entries, _ := os.ReadDir(filepath.Join(stateDir, fmt.Sprintf("rbox-%d", os.Getuid())))
	var left []string
	for _, e := range entries {
		if e.Name() != "names" && e.Name() != "slirp4netns.features" { // a cache kept on purpose
			left = append(left, e.Name())
		}
	}
	return left
}

// The filter goes in as the forked child's last step before execve: a
// strict profile constrains the workload, never the init. One that
// denies execve itself cannot start anything and is refused before
// anything starts; anything else the workload meets like any other
// refused call.
func TestSeccompStrictProfiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	errnoAll := write("errno-all.json", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}`)
	noExecve := write("no-execve.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ERRNO"}]}`)
	killExecve := write("kill-execve.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_KILL_PROCESS"}]}`)
	noFutex := write("no-futex.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["futex","futex_waitv"],"action":"SCMP_ACT_ERRNO"}]}`)
	noMkdir := write("no-mkdir.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`)
	// Everything the init's child calls before execve, denied.
	noSetup := write("no-setup.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["setsid","dup3","ioctl","close_range","prctl","setgroups","setgid","setuid","capset","chdir","seccomp","rt_sigaction","rt_sigprocmask","futex","exit","exit_group"],"action":"SCMP_ACT_ERRNO"}]}`)

	for _, p := range []string{errnoAll, noExecve, killExecve} {
		for _, flags := range [][]string{nil, {"-u", "1000"}, {"--allow-new-privs"}, {"-t"}} {
			r := box(t, append([]string{"--seccomp", p}, flags...), "/probe", "hello")
			want := fmt.Sprintf("rbox: --seccomp %q denies execve: the workload cannot start\n", p)
			if r.code != 125 || r.stdout != "" || r.stderr != want {
				t.Errorf("%s %v: want exit 125 and the one line %q, got\n%s", filepath.Base(p), flags, want, r)
			}
			noGoTrace(t, filepath.Base(p), r)
		}
	}
	if left := stateLeft(); len(left) > 0 {
		t.Errorf("refused profiles left sandbox state behind: %v", left)
	}

	for _, flags := range [][]string{nil, {"-u", "1000"}, {"--allow-new-privs"}, {"--allow-new-privs", "-u", "1000"}} {
		what := fmt.Sprintf("no futex %v", flags)
		// busybox is static and single-threaded: it never needs futex
		// (the Go probe would).
		r := box(t, append([]string{"--seccomp", noFutex}, flags...), "/bin/sh", "-c", "echo started; echo hello")
		expect(t, r, 0, "started\nhello\n")
		noGoTrace(t, what, r)

		what = fmt.Sprintf("no mkdir %v", flags)
		r = box(t, append([]string{"--seccomp", noMkdir}, flags...), "/bin/sh", "-c", "mkdir /tmp/d; echo $?; /probe hello")
		expect(t, r, 0, "1\nhello\n")
		if !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("%s: want mkdir refused with EPERM, got\n%s", what, r)
		}
		noGoTrace(t, what, r)

		what = fmt.Sprintf("no setup calls %v", flags)
		// The workload's own calls fail, and its exit too (busybox then
		// dies by a signal): still no crash of the init's.
		r = box(t, append([]string{"--seccomp", noSetup}, flags...), "/bin/echo", "hello")
		if r.stdout != "hello\n" || !strings.Contains(r.stderr, "rbox: warning: --seccomp") || !strings.Contains(r.stderr, "exit_group") {
			t.Errorf("%s: want hello and the warning naming exit_group, got\n%s", what, r)
		}
		noGoTrace(t, what, r)
	}
	if left := stateLeft(); len(left) > 0 {
		t.Errorf("sandbox state left behind: %v", left)
	}
}
