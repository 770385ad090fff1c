package attack

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Another local user (the second test user, see hijack_attacker_test.go)
// made our TMPDIR/rbox-UID first and planted a sandbox "web" in it that
// names a process of ours. No command may believe it: ps lists nothing
// planted, kill signals nothing, enter hands no descriptor to the planted
// listener, logs, wait and rm refuse, check runs its probes elsewhere, and
// exec works through a private fallback that every command finds again.
func TestHijackedStateRoot(t *testing.T) {
	shared := os.Getenv("RBOX_HIJACK_DIR")
	if shared == "" {
		skipOrFail(t, "no attacker: RBOX_HIJACK_DIR is unset (scripts/integration.sh, run as root, starts one as the second test user)")
	}
	planted := filepath.Join(shared, fmt.Sprintf("rbox-%d", os.Getuid()))
	// A process of ours that the planted meta.json names.
	sleeper := exec.Command("sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	tmp := filepath.Join(shared, ".victim.pid")
	if err := os.WriteFile(tmp, []byte(fmt.Sprint(sleeper.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(shared, victimPidFile)); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(filepath.Join(shared, victimDone), nil, 0o644)
	waitFor(t, 30*time.Second, "the attacker to plant its sandbox", func() bool { return exists(filepath.Join(shared, attackerReady)) })
	var st unix.Stat_t
	if err := unix.Lstat(planted, &st); err != nil || int(st.Uid) == os.Getuid() {
		t.Fatalf("%s is not another user's (%v, uid %d): the attack did not happen", planted, err, st.Uid)
	}
	before := manifest(planted)

	home := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + shared}
	rb := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(rboxBin, args...)
		cmd.Env = env
		return run(t, cmd)
	}
	notice := noticeRE(planted, int(st.Uid), home)
	var fallback string
	// fallbackOf checks the one notice line and that every command lands
	// in the same private root.
	fallbackOf := func(r result) {
		t.Helper()
		line, _, _ := strings.Cut(r.stderr, "\n")
		m := notice.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("want the fallback notice first on stderr, got:\n%s", r)
		}
		if fallback == "" {
			fallback = m[1]
		}
		if m[1] != fallback {
			t.Fatalf("this command fell back to %s, an earlier one to %s", m[1], fallback)
		}
	}
	alive := func() {
		t.Helper()
		var ws syscall.WaitStatus
		if pid, _ := syscall.Wait4(sleeper.Process.Pid, &ws, syscall.WNOHANG, nil); pid != 0 {
			t.Fatalf("our process named in the planted meta.json was signalled: %v", ws)
		}
	}
	noSandbox := func(what string, r result) {
		t.Helper()
		fallbackOf(r)
		if r.code != 125 || !strings.Contains(r.stderr, `no sandbox named "web"`) || strings.Contains(r.stdout, "planted") || strings.Contains(r.stdout, "hijacked") {
			t.Errorf("%s: want exit 125 and no sandbox named web, got:\n%s", what, r)
		}
	}

	r := rb("ps", "-a")
	fallbackOf(r)
	if r.code != 0 || strings.Contains(r.stdout, "web") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("ps lists what the attacker planted:\n%s", r)
	}
	if r := rb("ps", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("ps --json:\n%s", r)
	}
	var fst unix.Stat_t
	if err := unix.Lstat(fallback, &fst); err != nil || int(fst.Uid) != os.Getuid() || fst.Mode&0o7777 != 0o700 || fst.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatalf("fallback %s: %v, mode %o, uid %d; want a 0700 directory of ours", fallback, err, fst.Mode, fst.Uid)
	}
	noSandbox("kill", rb("kill", "web"))
	noSandbox("kill -s KILL", rb("kill", "-s", "KILL", "web"))
	alive()
	noSandbox("enter", rb("enter", "web", "--", "id"))
	noSandbox("logs", rb("logs", "web"))
	noSandbox("wait", rb("wait", "web"))
	noSandbox("rm", rb("rm", "web"))

	r = rb("check")
	fallbackOf(r)
	if !strings.Contains(r.stdout, "(layers in "+fallback+")") {
		t.Errorf("check did not run its overlay probe in the fallback root:\n%s", r)
	}

	r = rb("exec", "--rootfs", image, "--net", "none", "--", "/bin/echo", "exec works")
	fallbackOf(r)
	if r.code != 0 || r.stdout != "exec works\n" {
		t.Errorf("exec through the fallback:\n%s", r)
	}
	// A detached sandbox in the fallback is found again by every command.
	r = rb("exec", "-d", "--name", "mine", "--rootfs", image, "--net", "none", "--", "/bin/sleep", "30")
	fallbackOf(r)
	if r.code != 0 || r.stdout != "mine\n" {
		t.Fatalf("exec -d:\n%s", r)
	}
	if r := rb("ps"); !strings.Contains(r.stdout, "mine") || strings.Contains(r.stdout, "web") {
		t.Errorf("ps after exec -d:\n%s", r)
	}
	if r := rb("kill", "mine"); r.code != 0 {
		t.Errorf("kill mine:\n%s", r)
	}
	if r := rb("wait", "mine"); r.code != 128+15 {
		t.Errorf("wait mine: want 143\n%s", r)
	}
	if r := rb("rm", "mine"); r.code != 0 {
		t.Errorf("rm mine:\n%s", r)
	}
	alive()

	// HOME unset (env -i, some cron jobs): the passwd entry's home holds
	// the record, and every command finds the same root through it.
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(u.HomeDir, ".cache"), filepath.Join(u.HomeDir, ".cache/rbox")} {
		if !exists(d) {
			defer os.RemoveAll(d)
			break
		}
	}
	env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + shared}
	notice, fallback = noticeRE(planted, int(st.Uid), u.HomeDir), ""
	fallbackOf(rb("ps"))
	if r := rb("exec", "--rootfs", image, "--net", "none", "--", "/bin/echo", "no home"); r.code != 0 || r.stdout != "no home\n" {
		t.Errorf("exec without HOME:\n%s", r)
	} else {
		fallbackOf(r)
	}
	noSandbox("kill without HOME", rb("kill", "web"))
	alive()
	defer os.RemoveAll(fallback)

	// The attacker's side: nobody connected, nothing was sent, and its
	// directory holds what it planted, nothing of ours.
	os.WriteFile(filepath.Join(shared, victimDone), nil, 0o644)
	logPath := filepath.Join(shared, attackerLog)
	waitFor(t, 10*time.Second, "the attacker to stop", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "\nend\n")
	})
	b, _ := os.ReadFile(logPath)
	if strings.Contains(string(b), "accept") || strings.Contains(string(b), "recv") {
		t.Errorf("the attacker's listener got a connection:\n%s", b)
	}
	if now := manifest(planted); now != before {
		t.Errorf("the planted directory changed:\nwas %s\nnow %s", before, now)
	}
	if entries := rootEntries(fallback); len(entries) > 0 {
		t.Errorf("state left in the fallback root %s: %v", fallback, entries)
	}
}

// A meta.json in our own root that names a process it cannot prove (a
// reused pid: another start time) is not signalled, and an enter socket
// served by anything but the recorded init gets no descriptor.
func TestForgedSandboxRecord(t *testing.T) {
	root := filepath.Join(stateDir, fmt.Sprintf("rbox-%d", os.Getuid()))
	if r := run(t, exec.Command(rboxBin, "ps")); r.code != 0 {
		t.Fatalf("ps: %s", r)
	}
	sleeper := exec.Command("sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	pid := sleeper.Process.Pid
	start := procStart(pid)
	const id = "feedfacecafe"
	dir := filepath.Join(root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	lock, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir + ".lock")
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	lfd, err := listenSeqpacket(filepath.Join(dir, "enter.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	var got []string
	logged := make(chan string, 16)
	go serve(lfd, func(f string, a ...any) { logged <- fmt.Sprintf(f, a...) })
	writeMeta := func(supStart, initStart uint64) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"id": id, "name": "forged", "command": []string{"sleep"}, "net": "none",
			"supervisorPid": pid, "supervisorStart": supStart, "initPid": pid, "initStart": initStart,
			"created": time.Now(), "status": "running"})
		if err := os.WriteFile(filepath.Join(dir, "meta.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rb := func(args ...string) result { t.Helper(); return run(t, exec.Command(rboxBin, args...)) }

	for _, c := range []struct {
		name       string
		sup, init  uint64
		args       []string
		wantStderr string
	}{
		{"reused supervisor pid", start + 1, start + 1, []string{"kill", "forged"}, "is not the recorded supervisor any more"},
		{"reused init pid", start + 1, start + 1, []string{"kill", "-s", "KILL", "forged"}, "is not the recorded init any more"},
		{"no start time", 0, 0, []string{"kill", "forged"}, "names no supervisor it can prove"},
		{"reused init pid, enter", start, start + 1, []string{"enter", "forged", "--", "id"}, "is not the recorded init any more"},
		{"listener is not the init", start, start, []string{"enter", "forged", "--", "id"}, "refusing to enter: the enter socket is not served by the sandbox's init"},
	} {
		writeMeta(c.sup, c.init)
		r := rb(c.args...)
		if r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, c.wantStderr) || r.stdout != "" {
			t.Errorf("%s: %v: want exit 125 and one line with %q, got:\n%s", c.name, c.args, c.wantStderr, r)
		}
	}
	var ws syscall.WaitStatus
	if p, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); p != 0 {
		t.Fatalf("the process named in the forged meta.json was signalled: %v", ws)
	}
	time.Sleep(200 * time.Millisecond)
	for len(logged) > 0 {
		got = append(got, <-logged)
	}
	// The client connects, reads SO_PEERCRED, and hangs up: one accept,
	// no message.
	sort.Strings(got)
	if strings.Join(got, ",") != "accept" {
		t.Errorf("the forged listener saw %q, want one connection and nothing sent", got)
	}
}

// noticeRE matches the one line of a fallback from planted, of owner,
// recorded under home; its group is the fallback root.
func noticeRE(planted string, owner int, home string) *regexp.Regexp {
	return regexp.MustCompile(`^rbox: notice: ` + regexp.QuoteMeta(planted) + fmt.Sprintf(` belongs to uid %d, not to you, `, owner) +
		`.*: using (` + regexp.QuoteMeta(planted) + `-\S+) instead \(recorded in ` + regexp.QuoteMeta(filepath.Join(home, ".cache/rbox/state-root")) +
		`\); set XDG_RUNTIME_DIR=DIR, a private directory of yours, to choose the root$`)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// rootEntries is what a state root holds, but for an empty names/ and
// the slirp4netns feature cache, which is kept across runs on purpose.
func rootEntries(root string) []string {
	entries, _ := os.ReadDir(root)
	var out []string
	for _, e := range entries {
		if sub, _ := os.ReadDir(filepath.Join(root, e.Name())); e.Name() == "names" && len(sub) == 0 || e.Name() == "slirp4netns.features" {
			continue
		}
		out = append(out, e.Name())
	}
	return out
}
