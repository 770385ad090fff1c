package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// checkReport is the part of rbox check --json the tests read.
type checkReport struct {
	Probes []struct {
		Name, Status, Detail, Fix string
	}
	Features []struct {
		Name   string
		Works  bool
		Probes []string
	}
	ExecWorks bool
}

func (c checkReport) probe(t *testing.T, name string) (status, detail, fix string) {
	t.Helper()
	for _, p := range c.Probes {
		if p.Name == name {
			return p.Status, p.Detail, p.Fix
		}
	}
	t.Fatalf("no probe %q in the report", name)
	return
}

func checkJSON(t *testing.T, o opts) checkReport {
	t.Helper()
	r := rboxWith(t, o, "check", "--json")
	var c checkReport
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("rbox check --json: %v\n%s", err, r)
	}
	if (r.code == 0) != c.ExecWorks {
		t.Errorf("exit %d with execWorks %v", r.code, c.ExecWorks)
	}
	return c
}

// probeLine finds a probe's line in the text report: "ok      NAME  ..."
// or "not ok  NAME  ...", and the fix lines under it.
func probeLine(t *testing.T, out, verdict, name string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(verdict) + ` +` + regexp.QuoteMeta(name) + ` .*(\n {10,}.*)*`)
	m := re.FindString(out)
	if m == "" {
		t.Fatalf("no line %q %q in\n%s", verdict, name, out)
	}
	return m
}

// On this host, as the test user with a subordinate range, every probe
// rbox exec needs passes, for real.
func TestCheck(t *testing.T) {
	subIDRange(t)
	r := rbox(t, "check")
	if r.code != 0 {
		t.Fatalf("want exit 0, got\n%s", r)
	}
	for _, p := range []string{"userns", "subuid", "subgid", "newuidmap", "newgidmap", "idmap", "overlay", "fuse", "store", "slirp", "tun", "ports"} {
		probeLine(t, r.stdout, "ok    ", p)
	}
	if line := probeLine(t, r.stdout, "ok    ", "store"); !strings.Contains(line, "in "+dataDir()+"/rbox (") || !strings.Contains(line, "user xattrs kept, kernel overlay layers mounted") {
		t.Errorf("store: %s", line)
	}
	for _, want := range []string{"features:", "exec         yes", "full ID map  yes", "overlay      yes: kernel overlayfs", "rbox exec works here with default flags."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in\n%s", want, r.stdout)
		}
	}
	c := checkJSON(t, opts{})
	if s, d, _ := c.probe(t, "idmap"); s != "ok" || !strings.Contains(d, "65537 uids") {
		t.Errorf("idmap: %s %s", s, d)
	}
	if len(c.Features) != 5 || c.Features[0].Name != "exec" || !c.Features[0].Works {
		t.Errorf("features: %+v", c.Features)
	}
	// The tries left nothing in the state root.
	if e := stateEntries(); len(e) != 0 {
		t.Errorf("rbox check left %v in %s", e, stateRoot())
	}
}

// The user without a subordinate range (make test runs this as that user):
// the probe says so with the usermod line, rbox check still exits 0 (exec
// works with the single map), and exec --idmap full ends with the hint.
func TestCheckNoSubID(t *testing.T) {
	need(t, !hasFullMap(), "runs as the test user without a subuid range (RBOX_EXPECT_NO_SUBID=1)")
	r := rbox(t, "check")
	if r.code != 0 {
		t.Fatalf("want exit 0 (exec works with the single map), got\n%s", r)
	}
	line := probeLine(t, r.stdout, "not ok", "subuid")
	if !strings.Contains(line, "no range for user") || !regexp.MustCompile(`fix: as root: usermod --add-subuids \d+-\d+ --add-subgids \d+-\d+ \S+`).MatchString(line) {
		t.Errorf("want the missing range and the usermod fix, got\n%s", line)
	}
	probeLine(t, r.stdout, "not ok", "subgid")
	probeLine(t, r.stdout, "skip  ", "idmap")
	if !strings.Contains(r.stdout, "full ID map  no (probe subuid, subgid)") {
		t.Errorf("want the full ID map feature off, got\n%s", r.stdout)
	}
	r = rbox(t, "exec", "--rootfs", rootfs, "--idmap", "full", "--", "true")
	if r.code != 125 || !strings.HasSuffix(r.stderr, "\nhint: run rbox check (probe subuid)\n") {
		t.Errorf("want exit 125 and the subuid hint, got\n%s", r)
	}
	r = sh(t, "true")
	if r.code != 0 || !strings.Contains(r.stderr, "probe subuid") {
		t.Errorf("the fallback's warning must name the probe, got\n%s", r)
	}
}

// Without newuidmap on PATH: the probe says how to install it, exec
// --idmap full names it in its hint.
func TestCheckNoHelpers(t *testing.T) {
	subIDRange(t)
	// A PATH with what the default network runs, and no newuidmap.
	bin := t.TempDir()
	for _, tool := range []string{"slirp4netns", "nsenter", "ip"} {
		if p, err := exec.LookPath(tool); err == nil {
			os.Symlink(p, filepath.Join(bin, tool))
		}
	}
	o := opts{env: []string{"PATH=" + bin}}
	r := rboxWith(t, o, "check")
	if r.code != 0 {
		t.Fatalf("want exit 0 (exec works with the single map), got\n%s", r)
	}
	line := probeLine(t, r.stdout, "not ok", "newuidmap")
	if !strings.Contains(line, "not found in PATH") || !strings.Contains(line, "fix: as root: apt-get install uidmap") {
		t.Errorf("got\n%s", line)
	}
	probeLine(t, r.stdout, "skip  ", "idmap")
	r = rboxWith(t, o, "exec", "--rootfs", rootfs, "--idmap", "full", "--", "/bin/true")
	if r.code != 125 || !strings.HasSuffix(r.stderr, "\nhint: run rbox check (probe newuidmap)\n") {
		t.Errorf("want exit 125 and the newuidmap hint, got\n%s", r)
	}
}

// Copies of the helpers without their setuid bit first in PATH: the probe
// says why and how to fix it, the idmap try shows what running them does,
// and rbox exec's failure names the probe.
func TestCheckHelpersWithoutSetuid(t *testing.T) {
	subIDRange(t)
	dir := t.TempDir()
	for _, h := range []string{"newuidmap", "newgidmap"} {
		src, err := exec.LookPath(h)
		need(t, err == nil, h+" not installed")
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, h), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o := opts{env: []string{"PATH=" + dir + ":" + os.Getenv("PATH")}}
	r := rboxWith(t, o, "check")
	line := probeLine(t, r.stdout, "not ok", "newuidmap")
	if !strings.Contains(line, "neither the setuid bit nor file capabilities") || !strings.Contains(line, "chmod u+s "+filepath.Join(dir, "newuidmap")) {
		t.Errorf("got\n%s", line)
	}
	line = probeLine(t, r.stdout, "not ok", "idmap")
	if !strings.Contains(line, filepath.Join(dir, "newuidmap")) || !strings.Contains(line, "fix: see probe newuidmap") {
		t.Errorf("want the helper's failure and a pointer to its probe, got\n%s", line)
	}
	r = rboxWith(t, o, "exec", "--rootfs", rootfs, "--", "true")
	if r.code != 125 || !strings.HasSuffix(r.stderr, "\nhint: run rbox check (probe idmap)\n") {
		t.Errorf("want exit 125 and the idmap hint, got\n%s", r)
	}
}

// inUserns runs script as root of a new user namespace with a mount
// namespace of its own (unshare -Urm): there an unprivileged test may set
// user.max_user_namespaces for everything below it, or hide a device,
// without touching the host.
func inUserns(t *testing.T, script string) result {
	t.Helper()
	_, err := exec.LookPath("unshare")
	need(t, err == nil, "unshare (util-linux) not installed")
	return rboxWithCmd(t, "unshare", "-Urm", "sh", "-ec", script)
}

func rboxWithCmd(t *testing.T, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = baseEnv("RBOX=" + rboxBin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{out.String(), errb.String(), code}
}

// user.max_user_namespaces=0, set in a user namespace of the test's own
// (the limit holds for every namespace below; setting it on the host
// would break every other user of the machine): the probe names the
// sysctl and its fix, rbox check exits 1, and rbox exec's failure to
// clone ends with the hint.
func TestCheckUsernsDisabled(t *testing.T) {
	r := inUserns(t, `echo 0 > /proc/sys/user/max_user_namespaces
"$RBOX" check || echo "check exit $?"
"$RBOX" exec --rootfs "`+rootfs+`" --idmap single -- true 2>&1 || echo "exec exit $?"`)
	line := probeLine(t, r.stdout, "not ok", "userns")
	if !strings.Contains(line, "user.max_user_namespaces=0") || !strings.Contains(line, "sysctl -w user.max_user_namespaces=15000") {
		t.Errorf("want the sysctl and its fix, got\n%s", line)
	}
	for _, want := range []string{"check exit 1", "exec         no (probe userns)\n", "hint: run rbox check (probe userns)\nexec exit 125"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in\n%s", want, r.stdout)
		}
	}
}

// /dev/net/tun and /dev/fuse that the user cannot open (a root-only file
// mounted over each, in the test's own mount namespace): the probes say so
// with the chmod fix; rbox exec --overlay fuse ends with the fuse hint.
func TestCheckDevicesInaccessible(t *testing.T) {
	st, err := os.Stat("/etc/shadow")
	need(t, err == nil && st.Mode().Perm()&0o006 == 0, "no root-only file to mount over the devices")
	r := inUserns(t, `mount --bind /etc/shadow /dev/net/tun
mount --bind /etc/shadow /dev/fuse
"$RBOX" check || echo "check exit $?"
"$RBOX" exec --rootfs "`+rootfs+`" --idmap single --net none --overlay fuse -- true 2>&1 || echo "exec exit $?"
"$RBOX" exec --rootfs "`+rootfs+`" --idmap single -- true 2>&1 || echo "slirp exit $?"`)
	line := probeLine(t, r.stdout, "not ok", "tun")
	if !strings.Contains(line, "/dev/net/tun is not readable and writable by you") || !strings.Contains(line, "chmod 0666 /dev/net/tun") {
		t.Errorf("tun: got\n%s", line)
	}
	line = probeLine(t, r.stdout, "not ok", "fuse")
	if !strings.Contains(line, "/dev/fuse is not readable and writable by you") || !strings.Contains(line, "chmod 0666 /dev/fuse") {
		t.Errorf("fuse: got\n%s", line)
	}
	// The default network needs the tun device: exec with defaults cannot
	// work, --net none can.
	for _, want := range []string{"slirp        no (probe tun)", "exec         no (probe tun)", "rbox exec cannot work here yet", "hint: run rbox check (probe fuse)\nexec exit 125",
		"rbox: --net slirp needs /dev/net/tun readable and writable by you", "hint: run rbox check (probe tun)\nslirp exit 125"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in\n%s", want, r.stdout)
		}
	}
}

// A state root on overlayfs, which kernel overlayfs refuses as an upper
// layer (an overlay mounted in the test's own namespaces, as a container's
// root is): the probe and exec put the upper layer on a tmpfs in the
// sandbox instead, with the kernel driver, and say so.
func TestCheckKernelOverlayRefused(t *testing.T) {
	dir := t.TempDir()
	r := inUserns(t, `cd `+dir+`
mkdir L U W M
mount -t overlay overlay -o lowerdir=L,upperdir=U,workdir=W,userxattr M
export TMPDIR=$PWD/M XDG_DATA_HOME=$PWD/M/data
"$RBOX" check || echo "check exit $?"
"$RBOX" exec --rootfs "`+rootfs+`" --idmap single --overlay kernel -- sh -c 'echo x >/x && cat /x' 2>&1 || echo "exec exit $?"
"$RBOX" exec --rootfs "`+rootfs+`" --idmap single -- true && echo "auto ok"
ls -A M/rbox-0 M/data/rbox/sandboxes 2>/dev/null | grep -v -e names -e '^M/' -e '^$' -e '[.]features$'`)
	line := probeLine(t, r.stdout, "ok    ", "overlay")
	if !strings.Contains(line, "its upper layer on a tmpfs in the sandbox ("+dir+"/M/rbox-0 is on overlayfs") {
		t.Errorf("got\n%s", line)
	}
	// The image store and the writable layers in $XDG_DATA_HOME, on the
	// same overlayfs: user xattrs pass there, and overlay layers do with
	// the upper on a tmpfs.
	line = probeLine(t, r.stdout, "ok    ", "store")
	if !strings.Contains(line, "image store and writable layers in "+dir+"/M/data/rbox (overlay)") {
		t.Errorf("got\n%s", line)
	}
	for _, want := range []string{"overlay      yes: kernel overlayfs", "rbox exec works here", "is on overlayfs, which cannot hold an overlay's upper layer: the writable layer is a tmpfs of 1g in the sandbox (--layer-size sets it)\nx\n", "auto ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "exec exit") || !strings.HasSuffix(r.stdout, "auto ok\n") {
		t.Errorf("exec on a tmpfs layer failed, or left state:\n%s", r.stdout)
	}
}

// --status-json: a workload that ignores SIGTERM under --timeout.
func TestStatusJSON(t *testing.T) {
	f := filepath.Join(t.TempDir(), "status.json")
	r := sh(t, "trap '' TERM; sleep 5", "--timeout", "300ms", "--stop-timeout", "300ms", "--status-json", f)
	if r.code != 124 {
		t.Fatalf("want 124, got\n%s", r)
	}
	var s struct {
		Name      string
		ExitCode  int
		Signal    string
		TimedOut  bool
		OOMKilled *bool
		SetupMs   int64
		RunMs     int64
		TotalMs   int64
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if s.ExitCode != 124 || !s.TimedOut || s.Signal != "SIGKILL" || s.OOMKilled != nil || s.RunMs < 500 || s.TotalMs < s.RunMs || !strings.HasPrefix(s.Name, "rbox-") {
		t.Errorf("got %+v\n%s", s, b)
	}
	r = sh(t, "exit 3", "--status-json", f)
	b, _ = os.ReadFile(f)
	if r.code != 3 || !strings.Contains(string(b), `"exitCode": 3`) || strings.Contains(string(b), "signal") {
		t.Errorf("exit 3: %s\n%s", r, b)
	}
	// Detached: the supervisor writes it before rbox wait returns.
	os.Remove(f)
	ok(t, rbox(t, "exec", "-d", "--name", "status-json", "--rootfs", rootfs, "--status-json", f, "--", "sh", "-c", "sleep 0.2; exit 7"))
	if r := rbox(t, "wait", "status-json"); r.code != 7 {
		t.Errorf("wait: %s", r)
	}
	b, err = os.ReadFile(f)
	if err != nil || !strings.Contains(string(b), `"exitCode": 7`) || !strings.Contains(string(b), `"name": "status-json"`) {
		t.Errorf("detached: %v\n%s", err, b)
	}
	ok(t, rbox(t, "rm", "status-json"))
	r = rbox(t, "exec", "--rootfs", filepath.Join(t.TempDir(), "nope"), "--status-json", f, "--", "true")
	b, _ = os.ReadFile(f)
	if r.code != 125 || !strings.Contains(string(b), `"error": "rootfs`) {
		t.Errorf("a failure of rbox: %s\n%s", r, b)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	a, b := rbox(t, "version"), rbox(t, "--version")
	if a.code != 0 || a.stdout != b.stdout || !strings.HasPrefix(a.stdout, "rbox ") {
		t.Errorf("version:\n%s\n%s", a, b)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if r := rbox(t, "completion", shell); r.code != 0 || !strings.Contains(r.stdout, "rbox") {
			t.Errorf("completion %s:\n%s", shell, r)
		}
	}
	if r := rbox(t, "completion", "tcsh"); r.code != 125 {
		t.Errorf("completion tcsh: want 125, got\n%s", r)
	}
}
