// Package attack is the hostile-workload suite: every test runs the built
// rbox binary, as an unprivileged user, over a workload that really tries
// one attack (the test binary itself, copied into the image as /probe,
// making raw syscalls), and asserts that the attack fails and that nothing
// on the host changed. Where an opt-out exists (--cap-add, --seccomp
// unconfined, --allow-new-privs, --net host) the same probe runs with it
// too and must then get further, so no test passes because the attack
// was never attempted.
//
// RBOX_BIN and RBOX_ROOTFS name the binary and the busybox image. With
// RBOX_TEST_STRICT=1 (CI) a test that would skip fails instead.
package attack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	rboxBin  string
	rootfs   string
	strict   bool
	stateDir string // TMPDIR of every rbox run
	image    string // rootfs + /probe + /sprobe (setuid root inside)
	marker   string // a host file no sandbox may see
	victim   *exec.Cmd
	pristine string // the host's state before the suite
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if dir := os.Getenv("RBOX_ATTACKER_DIR"); dir != "" {
		return attackerMain(dir, os.Getenv("RBOX_VICTIM_UID"))
	}
	rboxBin = absEnv("RBOX_BIN", "../../bin/rbox")
	rootfs = absEnv("RBOX_ROOTFS", "../../testdata/rootfs")
	strict = os.Getenv("RBOX_TEST_STRICT") == "1"
	if os.Getuid() == 0 {
		fmt.Fprintln(os.Stderr, "the attack suite runs as an unprivileged user (scripts/integration.sh does that when run as root)")
		return 1
	}
	for _, p := range []string{rboxBin, filepath.Join(rootfs, "bin/busybox")} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "missing %s: run make build testdata\n", p)
			return 1
		}
	}
	work, err := os.MkdirTemp("", "rbox-attack")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(work)
	stateDir = filepath.Join(work, "state")
	image = filepath.Join(work, "img")
	marker = filepath.Join(work, "host-marker-"+fmt.Sprint(os.Getpid()))
	os.Mkdir(stateDir, 0o700)
	if err := os.WriteFile(marker, []byte("host\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := makeImage(image); err != nil {
		fmt.Fprintln(os.Stderr, "build the probe image:", err)
		return 1
	}
	// A host process of the same user: no sandbox may see or signal it.
	victim = exec.Command("sleep", "3600")
	if err := victim.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { victim.Process.Kill(); victim.Wait() }()
	pristine = hostState()
	code := m.Run()
	if left := rootEntries(filepath.Join(stateDir, fmt.Sprintf("rbox-%d", os.Getuid()))); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "LEFTOVERS: sandbox state left in %s\n", stateDir)
		code = 1
	}
	return code
}

func absEnv(name, def string) string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	if abs, err := filepath.Abs(v); err == nil {
		return abs
	}
	return v
}

// makeImage copies the rootfs and adds the probe twice: /probe, and
// /sprobe with the setuid bit, owned by the user, which is root inside.
func makeImage(dir string) error {
	if out, err := exec.Command("cp", "-a", rootfs, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), b, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sprobe"), b, 0o755); err != nil {
		return err
	}
	return os.Chmod(filepath.Join(dir, "sprobe"), 0o755|fs.ModeSetuid)
}

// hostState is what no sandbox may change: the image, the hostname, the
// swap areas, the directory of the marker, the victim process.
func hostState() string {
	var b strings.Builder
	host, _ := os.Hostname()
	swaps, _ := os.ReadFile("/proc/swaps")
	fmt.Fprintf(&b, "hostname %s\nswaps %x\n", host, sha256.Sum256(swaps))
	entries, _ := os.ReadDir(filepath.Dir(marker))
	for _, e := range entries {
		if e.Name() != "state" { // sandbox state comes and goes
			fmt.Fprintf(&b, "work %s\n", e.Name())
		}
	}
	if data, err := os.ReadFile(marker); err != nil || string(data) != "host\n" {
		fmt.Fprintf(&b, "marker changed: %q %v\n", data, err)
	}
	if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
		fmt.Fprintf(&b, "victim: %v\n", err)
	}
	b.WriteString(manifest(image))
	return b.String()
}

// manifest lists every file of dir with mode, owner, size, mtime and a
// hash of the content (or the link target).
func manifest(dir string) string {
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			lines = append(lines, fmt.Sprintf("%s: %v", p, err))
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st := info.Sys().(*syscall.Stat_t)
		sum := ""
		switch {
		case info.Mode().IsRegular():
			if f, err := os.Open(p); err == nil {
				h := sha256.New()
				io.Copy(h, f)
				f.Close()
				sum = fmt.Sprintf("%x", h.Sum(nil))
			}
		case info.Mode()&fs.ModeSymlink != 0:
			sum, _ = os.Readlink(p)
		}
		lines = append(lines, fmt.Sprintf("%s %v %d:%d %d %d %s", p, info.Mode(), st.Uid, st.Gid, info.Size(), info.ModTime().UnixNano(), sum))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// assertHostUnchanged compares the host with its state before the suite.
func assertHostUnchanged(t *testing.T) {
	t.Helper()
	now := hostState()
	if now == pristine {
		return
	}
	a, b := strings.Split(pristine, "\n"), strings.Split(now, "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			t.Fatalf("THE HOST CHANGED: was %q, now %q", x, y)
		}
	}
}

func skipOrFail(t *testing.T, format string, a ...any) {
	t.Helper()
	if strict {
		t.Fatalf("strict mode: "+format, a...)
	}
	t.Skipf(format, a...)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// run runs rbox with args to completion (60 s at most).
func run(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		<-ctx.Done()
		if cmd.Process != nil && ctx.Err() == context.DeadlineExceeded {
			cmd.Process.Kill()
		}
	}()
	if cmd.Env == nil {
		cmd.Env = baseEnv()
	}
	var stdout, stderr bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("%v: timed out\n%s", cmd.Args, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + stateDir}
}

// box runs the probe image with flags and a command (after --).
func box(t *testing.T, flags []string, cmd ...string) result {
	t.Helper()
	return boxIn(t, image, flags, cmd...)
}

func boxIn(t *testing.T, img string, flags []string, cmd ...string) result {
	t.Helper()
	args := append([]string{"exec", "--rootfs", img}, flags...)
	args = append(append(args, "--"), cmd...)
	return run(t, exec.Command(rboxBin, args...))
}

// expect checks the exit status and matches stdout against a regexp
// anchored at both ends.
func expect(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code || !regexp.MustCompile(`^(?s:`+want+`)$`).MatchString(r.stdout) {
		t.Errorf("want exit %d and stdout matching %q, got:\n%s", code, want, r)
	}
}
