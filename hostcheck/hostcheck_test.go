package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/probe"
)

func TestUsernsSysctls(t *testing.T) {
	cases := []struct {
		name     string
		sysctls  map[string]string
		label    string
		problem  string // substring; "" for none
		fix      string // substring
		allowedN string
	}{
		{"debian-default", map[string]string{"kernel/unprivileged_userns_clone": "1", "user/max_user_namespaces": "96365"}, "", "", "", "96365"},
		{"no-debian-knob", map[string]string{"user/max_user_namespaces": "100"}, "", "", "", "100"},
		{"clone-off", map[string]string{"kernel/unprivileged_userns_clone": "0", "user/max_user_namespaces": "100"}, "",
			"unprivileged_userns_clone=0", "sysctl -w kernel.unprivileged_userns_clone=1", ""},
		{"max-zero", map[string]string{"user/max_user_namespaces": "0"}, "",
			"max_user_namespaces=0", "sysctl -w user.max_user_namespaces=15000", ""},
		{"ubuntu-restricted-unconfined", map[string]string{"user/max_user_namespaces": "100", "kernel/apparmor_restrict_unprivileged_userns": "1"}, "unconfined",
			"apparmor_restrict_unprivileged_userns=1", "profile rbox /opt/rbox flags=(unconfined)", ""},
		{"ubuntu-restricted-no-label", map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1"}, "",
			"apparmor_restrict_unprivileged_userns=1", "apparmor_parser -r /etc/apparmor.d/rbox", ""},
		{"ubuntu-restricted-profiled", map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1"}, "rbox (unconfined)", "", "", ""},
		{"ubuntu-unrestricted", map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "0"}, "unconfined", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			read := func(k string) (string, bool) { v, ok := c.sysctls[k]; return v, ok }
			problem, fix, allowed := usernsSysctls(read, c.label, "/opt/rbox")
			if c.problem == "" {
				if problem != "" || allowed == "" || !strings.Contains(allowed, c.allowedN) {
					t.Fatalf("want allowed (%s), got problem %q allowed %q", c.allowedN, problem, allowed)
				}
				return
			}
			if !strings.Contains(problem, c.problem) || !strings.Contains(fix, c.fix) {
				t.Fatalf("got problem %q fix %q, want %q and %q", problem, fix, c.problem, c.fix)
			}
		})
	}
}

func TestUsernsErrnoFix(t *testing.T) {
	for errno, want := range map[unix.Errno]string{
		unix.ENOSPC: "max_user_namespaces", unix.EPERM: "seccomp", unix.EINVAL: "CONFIG_USER_NS", unix.EIO: "see the error",
	} {
		if got := usernsErrnoFix(fmt.Errorf("fork/exec: %w", errno)); !strings.Contains(got, want) {
			t.Errorf("%v: got %q, want %q", errno, got, want)
		}
	}
}

const subFile = `# owners
alice:100000:65536
bob:165536:65536
1003:231072:65536
small:296608:1000
shared:120000:1000
`

func TestSubIDVerdict(t *testing.T) {
	entries, err := parseSubEntries(strings.NewReader(subFile), "/etc/subuid")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user    string
		uid     uint32
		problem string
		ranges  []idmap.Range
	}{
		{"bob", 1001, "", []idmap.Range{{Start: 165536, Count: 65536}}},
		{"carol", 1003, "", []idmap.Range{{Start: 231072, Count: 65536}}},
		{"dave", 1004, `no range for user "dave" in /etc/subuid`, nil},
		{"small", 1005, "only 1000 IDs", []idmap.Range{{Start: 296608, Count: 1000}}},
		{"shared", 1006, `overlaps "alice"'s 100000-165535 (/etc/subuid:2)`, []idmap.Range{{Start: 120000, Count: 1000}}},
		{"alice", 1000, `overlaps "shared"'s`, []idmap.Range{{Start: 100000, Count: 65536}}},
	}
	for _, c := range cases {
		t.Run(c.user, func(t *testing.T) {
			problem, mine := subIDVerdict(entries, "/etc/subuid", c.user, c.uid)
			if c.problem == "" && problem != "" || !strings.Contains(problem, c.problem) {
				t.Errorf("problem %q, want %q", problem, c.problem)
			}
			if !reflect.DeepEqual(mine, c.ranges) {
				t.Errorf("ranges %v, want %v", mine, c.ranges)
			}
		})
	}
	if got := freeStart(entries); got != 296608+1000 {
		t.Errorf("freeStart = %d", got)
	}
	if got := freeStart(nil); got != 100000 {
		t.Errorf("freeStart of nothing = %d", got)
	}
}

func TestParseSubEntriesMalformed(t *testing.T) {
	for _, text := range []string{"alice:1\n", "alice:x:1\n", ":1:1\n", "a:1:0\n", "a:4294967295:1\n", "a:1:1:1\n"} {
		if _, err := parseSubEntries(strings.NewReader(text), "/etc/subuid"); err == nil || !strings.Contains(err.Error(), "/etc/subuid:1:") {
			t.Errorf("%q: want an error naming the line, got %v", text, err)
		}
	}
}

// The probe must accept exactly what the supervisor's parser accepts, and
// find the same ranges for the user.
func FuzzParseSubEntries(f *testing.F) {
	f.Add(subFile, "alice", uint32(1000))
	f.Add("1000:1:4294967294\nbob:0:1\n", "bob", uint32(1000))
	f.Add("#x\n\n a:b:c \n", "a", uint32(0))
	f.Fuzz(func(t *testing.T, text, user string, uid uint32) {
		entries, err := parseSubEntries(strings.NewReader(text), "f")
		want, werr := idmap.ParseSubID(strings.NewReader(text), "f", user, uid)
		if (err == nil) != (werr == nil) {
			t.Fatalf("hostcheck says %v, idmap says %v", err, werr)
		}
		if err != nil {
			return
		}
		_, mine := subIDVerdict(entries, "f", user, uid)
		if len(mine) != len(want) || len(mine) > 0 && !reflect.DeepEqual(mine, want) {
			t.Fatalf("ranges %v, idmap's %v", mine, want)
		}
		if s := freeStart(entries); len(entries) > 0 && s < entries[0].Start+entries[0].Count {
			t.Fatalf("freeStart %d inside %v", s, entries[0])
		}
	})
}

func TestProbeSubID(t *testing.T) {
	dir := t.TempDir()
	uidFile, gidFile := filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	os.WriteFile(uidFile, []byte("alice:100000:65536\n"), 0o644)
	os.WriteFile(gidFile, []byte("alice:100000:65536\nbob:200000:65536\n"), 0o644)
	h := &Host{User: "bob", UID: 1001, SubUIDFile: uidFile, SubGIDFile: gidFile}
	r, mine := probeSubID(h, "subuid", uidFile)
	if r.Status != Fail || mine != nil || !strings.Contains(r.Fix, "usermod --add-subuids 265536-331071 --add-subgids 265536-331071 bob") {
		t.Errorf("no range: got %+v", r)
	}
	r, mine = probeSubID(h, "subgid", gidFile)
	if r.Status != OK || len(mine) != 1 || !strings.Contains(r.Detail, "200000-265535") {
		t.Errorf("a range: got %+v", r)
	}
	h.SubUIDFile = filepath.Join(dir, "missing")
	if r, _ := probeSubID(h, "subuid", h.SubUIDFile); r.Status != Fail || !strings.Contains(r.Detail, "no range") {
		t.Errorf("missing file: got %+v", r)
	}
	os.WriteFile(uidFile, []byte("bob:1\n"), 0o644)
	if r, _ := probeSubID(h, "subuid", uidFile); r.Status != Fail || !strings.Contains(r.Detail, ":1: malformed") {
		t.Errorf("malformed: got %+v", r)
	}
}

func TestHelperMode(t *testing.T) {
	cases := []struct {
		mode    os.FileMode
		uid     uint32
		caps    bool
		nosuid  bool
		how     string
		problem string
	}{
		{0o755 | os.ModeSetuid, 0, false, false, "setuid root", ""},
		{0o755, 0, true, false, "file capabilities", ""},
		{0o755, 0, false, false, "", "neither the setuid bit nor file capabilities"},
		{0o755 | os.ModeSetuid, 1000, false, false, "", "setuid to uid 1000"},
		{0o755 | os.ModeSetuid, 0, false, true, "", "nosuid"},
	}
	for _, c := range cases {
		how, problem := helperMode(c.mode, c.uid, c.caps, c.nosuid)
		if how != c.how || !strings.Contains(problem, c.problem) || (c.problem == "") != (problem == "") {
			t.Errorf("%v uid %d caps %v nosuid %v: got %q %q", c.mode, c.uid, c.caps, c.nosuid, how, problem)
		}
	}
}

func TestProbeHelper(t *testing.T) {
	dir := t.TempDir()
	h := &Host{Path: dir}
	if r, p := probeHelper(h, "newuidmap"); r.Status != Fail || p != "" || !strings.Contains(r.Fix, "apt-get install uidmap") {
		t.Errorf("missing: got %+v", r)
	}
	// A copy without its setuid bit, as an unprivileged cp makes it.
	os.WriteFile(filepath.Join(dir, "newuidmap"), []byte("#!/bin/sh\n"), 0o755)
	r, p := probeHelper(h, "newuidmap")
	if os.Getuid() != 0 && (r.Status != Fail || p == "" || !strings.Contains(r.Fix, "chmod u+s")) {
		t.Errorf("no setuid: got %+v", r)
	}
	if os.Getuid() == 0 {
		os.Chmod(filepath.Join(dir, "newuidmap"), 0o755|os.ModeSetuid)
		if r, p := probeHelper(h, "newuidmap"); r.Status != OK && !strings.Contains(r.Detail, "nosuid") || r.Status == OK && p == "" {
			t.Errorf("setuid root: got %+v", r)
		}
	}
}

func TestDevProblem(t *testing.T) {
	if p, _ := devProblem("/dev/null", "x"); p != "" {
		t.Errorf("/dev/null: %s", p)
	}
	p, fix := devProblem(filepath.Join(t.TempDir(), "tun"), "tun")
	if !strings.Contains(p, "missing") || fix != "as root: modprobe tun" {
		t.Errorf("missing: %q %q", p, fix)
	}
	if os.Getuid() != 0 {
		f := filepath.Join(t.TempDir(), "tun")
		os.WriteFile(f, nil, 0o600)
		os.Chmod(f, 0)
		if p, fix := devProblem(f, "tun"); !strings.Contains(p, "not readable and writable") || !strings.Contains(fix, "chmod 0666") {
			t.Errorf("mode 0: %q %q", p, fix)
		}
	}
}

func TestOverlayFix(t *testing.T) {
	for release, want := range map[string]string{
		"5.10.0-28-amd64": "needs Linux 5.11 or later (this is 5.10.0-28-amd64)",
		"4.19.0":          "needs Linux 5.11",
		"6.1.0-18-amd64":  "the writable layers live in /run/user/1000/rbox",
		"5.11.0":          "the writable layers live in",
		"junk":            "needs Linux 5.11",
	} {
		if got := overlayFix(release, "/run/user/1000/rbox"); !strings.Contains(got, want) || !strings.Contains(got, "probe fuse") {
			t.Errorf("%s: got %q", release, got)
		}
	}
}

func TestPortStart(t *testing.T) {
	cases := []struct {
		v       string
		present bool
		status  Status
		detail  string
	}{
		{"1024", true, OK, "from 1024"},
		{"0", true, OK, "every host port"},
		{"", false, OK, "absent"},
		{"x", true, Fail, "not a number"},
	}
	for _, c := range cases {
		r := portStart(c.v, c.present)
		if r.Status != c.status || !strings.Contains(r.Detail, c.detail) {
			t.Errorf("%q: got %+v", c.v, r)
		}
	}
}

func TestProbesFor(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, noHelpers := idmap.FindHelpers()
	missing := overlay.Config{Lower: "/nonexistent/lower", Upper: "/nonexistent/u", Work: "/nonexistent/w"}
	kernel, fuse := missing, missing
	kernel.Driver, fuse.Driver = overlay.Kernel, overlay.Fuse
	_, kernelErr := overlay.Mount(kernel, "/nonexistent/merged")
	_, fuseErr := overlay.Mount(fuse, "/nonexistent/merged")
	_, autoErr := overlay.Mount(missing, "/nonexistent/merged")
	cases := []struct {
		name string
		err  error
		want []string
	}{
		{"newuidmap-missing", fmt.Errorf("--idmap full: %w", noHelpers), []string{"newuidmap"}},
		{"kernel-overlay", fmt.Errorf("mount rootfs: %w", kernelErr), []string{"overlay"}},
		{"fuse-overlay", fmt.Errorf("mount rootfs: %w", fuseErr), []string{"fuse"}},
		{"auto-overlay", fmt.Errorf("mount rootfs: %w", autoErr), []string{"overlay", "fuse"}},
		{"cgroup", fmt.Errorf("--memory: %w", &cgroupv2.UnavailableError{Reasons: []string{"x"}}), []string{"cgroup", "systemd", "controllers"}},
		{"tied", fmt.Errorf("ctx: %w", probe.Wrap(errors.New("x"), probe.Tun)), []string{"tun"}},
		// Wording alone ties nothing any more: a message is free to change.
		{"words", errors.New(`clone sandbox init (/proc/self/exe): no space left on device`), nil},
		{"plain", errors.New(`rootfs "/img" does not exist: point --rootfs at an unpacked image directory`), nil},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Fatalf("%s: the producer returned no error", c.name)
		}
		if got := ProbesFor(c.err); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s (%v):\n got %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

func TestHint(t *testing.T) {
	base := &fs.PathError{Op: "mount", Path: "/img", Err: probe.Wrap(errors.New(`kernel overlay: fsopen: no such device`), probe.Overlay)}
	err := Hint(base)
	if want := base.Error() + "\nhint: run rbox check (probe overlay)"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Error("the hint hides the chain")
	}
	two := Hint(probe.Wrap(errors.New(`mount rootfs "/i": kernel overlay: x; fallback: open /dev/fuse: permission denied`), probe.Overlay, probe.Fuse))
	if !strings.HasSuffix(two.Error(), "\nhint: run rbox check (probes overlay, fuse)") {
		t.Errorf("got %q", two)
	}
	plain := errors.New("bad flag")
	if Hint(plain) != plain || Hint(nil) != nil {
		t.Error("an error no probe explains must come back as it was")
	}
}

func report(status map[string]Status) *Report {
	r := &Report{}
	for _, n := range []string{"userns", "subuid", "subgid", "newuidmap", "newgidmap", "idmap", "overlay", "fuse", "slirp", "tun", "cgroup", "systemd", "controllers", "ports"} {
		s, ok := status[n]
		if !ok {
			s = OK
		}
		r.Probes = append(r.Probes, Result{Name: n, Status: s, Detail: n + " detail"})
	}
	r.summarize()
	return r
}

func TestSummarize(t *testing.T) {
	features := func(r *Report) map[string]string {
		out := map[string]string{}
		for _, f := range r.Features {
			v := "yes"
			if !f.Works {
				v = "no:" + strings.Join(f.Probes, ",")
			}
			out[f.Name] = v
		}
		return out
	}
	cases := []struct {
		name   string
		status map[string]Status
		exec   bool
		want   map[string]string
	}{
		{"all-ok", nil, true, map[string]string{"exec": "yes", "full ID map": "yes", "overlay": "yes", "slirp": "yes", "limits": "yes"}},
		{"this-host", map[string]Status{"cgroup": Fail, "systemd": Fail, "controllers": Skip}, true,
			map[string]string{"exec": "yes", "limits": "no:cgroup"}},
		{"no-subuid", map[string]Status{"subuid": Fail, "subgid": Fail, "idmap": Skip}, true,
			map[string]string{"exec": "yes", "full ID map": "no:subuid,subgid"}},
		{"small-range-still-maps", map[string]Status{"subuid": Fail}, true, map[string]string{"full ID map": "yes"}},
		{"fuse-only", map[string]Status{"overlay": Fail}, true, map[string]string{"exec": "yes", "overlay": "yes"}},
		{"no-overlay", map[string]Status{"overlay": Fail, "fuse": Fail}, false, map[string]string{"exec": "no:overlay,fuse", "overlay": "no:overlay,fuse"}},
		{"no-userns", map[string]Status{"userns": Fail, "overlay": Skip, "fuse": Skip, "idmap": Skip}, false,
			map[string]string{"exec": "no:userns", "overlay": "no:userns", "full ID map": "no:idmap"}},
		{"no-tun", map[string]Status{"tun": Fail}, false, map[string]string{"exec": "no:tun", "slirp": "no:tun"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := report(c.status)
			if r.ExecWorks != c.exec {
				t.Errorf("ExecWorks = %v", r.ExecWorks)
			}
			got := features(r)
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	r := report(map[string]Status{"subuid": Fail})
	r.Probes[1].Fix = "as root: usermod x\nsecond line"
	var b strings.Builder
	r.WriteText(&b)
	out := b.String()
	for _, want := range []string{
		"ok      userns       userns detail\n",
		"not ok  subuid       subuid detail\n",
		"                     fix: as root: usermod x\n",
		"                          second line\n",
		"  full ID map  yes",
		"rbox exec works here with default flags.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// Run over fixtures, without the real tries or the host's cgroups.
func TestRunFixtures(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"subuid", "subgid"} {
		os.WriteFile(filepath.Join(dir, f), []byte("alice:100000:65536\n"), 0o644)
	}
	os.MkdirAll(filepath.Join(dir, "sys/user"), 0o755)
	os.WriteFile(filepath.Join(dir, "sys/user/max_user_namespaces"), []byte("0\n"), 0o644)
	h := &Host{
		User: "alice", UID: 1000, GID: 1000,
		SubUIDFile: filepath.Join(dir, "subuid"), SubGIDFile: filepath.Join(dir, "subgid"),
		ProcSys: filepath.Join(dir, "sys"), Path: filepath.Join(dir, "bin"),
		DevFuse: "/dev/null", DevTun: filepath.Join(dir, "tun"), NoCgroup: true,
	}
	r := Run(context.Background(), h)
	want := map[string]Status{
		"userns": Fail, "subuid": OK, "subgid": OK, "newuidmap": Fail, "idmap": Skip,
		"overlay": Skip, "fuse": Fail, "slirp": Fail, "tun": Fail, "cgroup": Skip, "ports": OK,
	}
	for n, s := range want {
		if got := r.Get(n); got.Status != s {
			t.Errorf("%s: got %+v, want %s", n, got, s)
		}
	}
	if r.ExecWorks || !strings.Contains(r.Get("userns").Fix, "user.max_user_namespaces=15000") {
		t.Errorf("exec must not work with max_user_namespaces=0: %+v", r.Get("userns"))
	}
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"execWorks": false`) {
		t.Errorf("JSON: %v %s", err, b.String())
	}
}
