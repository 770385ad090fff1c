package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvironment(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# comment\n\nFROM_FILE=1\nBOTH=file\nPASSED\n"), 0o644)
	r := rboxWith(t, opts{env: []string{"SECRET_HOST_VAR=leak", "PASSED=from-host", "TERM=xterm-test"}},
		"exec", "--rootfs", rootfs, "--env-file", envFile, "-e", "A=b c", "-e", "BOTH=flag", "-e", "PASSED", "--", "env")
	out := ok(t, r)
	env := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	want := map[string]string{
		"A": "b c", "FROM_FILE": "1", "BOTH": "flag", "PASSED": "from-host",
		"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"SECRET_HOST_VAR", "TERM"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s leaked into the sandbox", k)
		}
	}
	if !strings.HasPrefix(env["HOSTNAME"], "rbox-") {
		t.Errorf("HOSTNAME=%q", env["HOSTNAME"])
	}
}

func TestWorkdir(t *testing.T) {
	if out := ok(t, sh(t, "pwd")); out != "/\n" {
		t.Errorf("default cwd: %q", out)
	}
	if out := ok(t, sh(t, "pwd", "-w", "/var/www")); out != "/var/www\n" {
		t.Errorf("-w /var/www: %q", out)
	}
	if out := ok(t, sh(t, "pwd", "-w", "/new/dir")); out != "/new/dir\n" {
		t.Errorf("-w creates a missing directory: %q", out)
	}
}

func TestStdio(t *testing.T) {
	r := rboxWith(t, opts{stdin: "line1\nline2\n"}, "exec", "--rootfs", rootfs, "--", "sh", "-c", "cat; echo err >&2")
	if ok(t, r) != "line1\nline2\n" || r.stderr != "err\n" {
		t.Errorf("stdio: got\n%s", r)
	}
}
