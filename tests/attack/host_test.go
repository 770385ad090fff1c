package attack

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The attacks below need something on the host side: a terminal, a
// listening socket, a writable copy of rbox, a hostile image.

// Without -t the host terminal is not the workload's controlling
// terminal (own session) and TIOCSTI is filtered: bubblewrap's
// CVE-2017-5226 cannot push a command into the user's shell.
func TestHostTerminalInjection(t *testing.T) {
	m, s := openPty(t)
	defer m.Close()
	defer s.Close()
	for _, flags := range [][]string{nil, {"--seccomp", "unconfined"}} {
		cmd := exec.Command(rboxBin, append(append([]string{"exec", "--rootfs", image}, flags...), "--", "/probe", "tty")...)
		cmd.Env = baseEnv()
		var out bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s, &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		r := run(t, cmd)
		// Filtered, or (unconfined) refused by the kernel: not our
		// controlling terminal.
		if r.code != 0 || !strings.HasPrefix(out.String(), "TIOCSTI: EPERM\n") {
			t.Errorf("%v: TIOCSTI on the host terminal: %q, want EPERM", flags, out.String())
		}
	}
	unix.SetNonblock(int(m.Fd()), true)
	buf := make([]byte, 256)
	n, _ := unix.Read(int(m.Fd()), buf)
	if bytes.Contains(buf[:max(n, 0)], []byte("x")) {
		t.Errorf("a character reached the host terminal: %q", buf[:n])
	}
	assertHostUnchanged(t)
}

func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		skipOrFail(t, "no pty: %v", err)
	}
	unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0)
	sfd, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		t.Fatal(e)
	}
	return os.NewFile(uintptr(mfd), "ptmx"), os.NewFile(sfd, "pty")
}

// runc's CVE-2024-21626: the workload starts with fds 0, 1, 2 and a
// working directory inside the root, however rbox was started, and no
// descriptor or ".." leads to the host's tree.
func TestLeakedDescriptors(t *testing.T) {
	dir, err := os.Open(filepath.Dir(marker))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	for _, flags := range [][]string{nil, {"--cap-add", "ALL", "--seccomp", "unconfined"}} {
		cmd := exec.Command(rboxBin, append(append([]string{"exec", "--rootfs", image, "-w", "/tmp"}, flags...), "--", "/probe", "fds")...)
		cmd.ExtraFiles = []*os.File{dir, dir, dir, dir}
		cmd.Dir = filepath.Dir(marker)
		r := run(t, cmd)
		// The fourth descriptor is the listing's own.
		expect(t, r, 0, "0 1 2 3 /tmp\n")
		cmd = exec.Command(rboxBin, append(append([]string{"exec", "--rootfs", image}, flags...), "--", "/probe", "find-host", marker)...)
		cmd.ExtraFiles = []*os.File{dir}
		cmd.Dir = filepath.Dir(marker)
		expect(t, run(t, cmd), 0, "routes tried: [0-9]+, found: 0\n")
	}
	assertHostUnchanged(t)
}

// runc's CVE-2019-5736: a workload must not rewrite the binary that runs
// the sandbox. The copy here is owned and writable by the user, as every
// go build output is. By default the init is out of reach (non-dumpable,
// no CAP_SYS_PTRACE); with CAP_SYS_PTRACE the workload reaches it, and
// rbox then runs the init from a sealed copy.
func TestOverwriteRboxBinary(t *testing.T) {
	own := filepath.Join(t.TempDir(), "rbox")
	b, err := os.ReadFile(rboxBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, b, 0o755); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(b)
	for _, tc := range []struct {
		flags []string
		out   string
	}{
		{nil, "write /proc/self/exe: ETXTBSY\nreopen /proc/self/exe: ETXTBSY\nwrite /proc/1/exe: EACCES\nreopen /proc/1/exe: EACCES\nexec /proc/1/exe: EACCES\n"},
		{[]string{"--cap-add", "SYS_PTRACE"}, "write /proc/self/exe: ETXTBSY\nreopen /proc/self/exe: ETXTBSY\nwrite /proc/1/exe: " + notOK + "\nreopen /proc/1/exe: " + notOK + "\nrbox .*\n"},
		{[]string{"--cap-add", "ALL", "--seccomp", "unconfined"}, "write /proc/self/exe: ETXTBSY\nreopen /proc/self/exe: ETXTBSY\nwrite /proc/1/exe: " + notOK + "\nreopen /proc/1/exe: " + notOK + "\nrbox .*\n"},
	} {
		cmd := exec.Command(own, append(append([]string{"exec", "--rootfs", image}, tc.flags...), "--", "/probe", "exe")...)
		expect(t, run(t, cmd), 0, tc.out)
		if got, _ := os.ReadFile(own); sha256.Sum256(got) != want {
			t.Fatalf("%v: the rbox binary was modified from inside the sandbox", tc.flags)
		}
	}
	// The shell way, as the exploit did it: hold the file, write later.
	cmd := exec.Command(own, "exec", "--rootfs", image, "--cap-add", "SYS_PTRACE", "--", "sh", "-c",
		"exec 3</proc/1/exe; sleep 0.2; echo x >/proc/self/fd/3 2>/dev/null && echo wrote; cat /proc/1/exe >/dev/null && echo readable; readlink /proc/1/exe")
	// The init runs from the sealed copy, not from the binary on disk.
	expect(t, run(t, cmd), 0, "readable\n/memfd:rbox \\(deleted\\)\n")
	// A binary the user cannot write needs no copy: the init runs it.
	cmd = exec.Command(rboxBin, "exec", "--rootfs", image, "--cap-add", "SYS_PTRACE", "--", "readlink", "/proc/1/exe")
	if st, err := os.Stat(rboxBin); err == nil && st.Sys().(*syscall.Stat_t).Uid != uint32(os.Getuid()) {
		expect(t, run(t, cmd), 0, regexp.QuoteMeta(rboxBin)+"\n")
	}
	if got, _ := os.ReadFile(own); sha256.Sum256(got) != want {
		t.Fatal("the rbox binary was modified from inside the sandbox")
	}
	assertHostUnchanged(t)
}

// File capabilities: honoured only with --allow-new-privs (the opt-out,
// which proves the capability is really on the file), and never through
// the inheritable set, which rbox leaves empty (CVE-2022-24769: a non-root
// process with inheritable capabilities gains them from a file that
// lists them as inheritable).
func TestFileCapabilities(t *testing.T) {
	layer := filepath.Join(t.TempDir(), "layer")
	t.Cleanup(func() { run(t, exec.Command(rboxBin, "remove-layer", layer)) })
	p := []string{"--persist", layer}
	expect(t, box(t, p, "/bin/sh", "-c", "cp /probe /pprobe && cp /probe /iprobe && /probe setfcap /pprobe 0 perm && /probe setfcap /iprobe 0 inh"), 0,
		"setfcap: ok\nsetfcap: ok\n")
	user := append(p, "-u", "1000")
	const tail = "CapBnd: " + defaultCaps + "\nNoNewPrivs: [01]\nSeccomp: 2\n"
	expect(t, box(t, user, "/pprobe", "caps"), 0, "CapPrm: 0000000000000000\nCapEff: 0000000000000000\n"+tail)
	expect(t, box(t, append(user, "--allow-new-privs"), "/pprobe", "caps"), 0, "CapPrm: 0000000000000001\nCapEff: 0000000000000000\n"+tail)
	expect(t, box(t, append(user, "--allow-new-privs"), "/iprobe", "caps"), 0, "CapPrm: 0000000000000000\nCapEff: 0000000000000000\n"+tail)
	assertHostUnchanged(t)
}

// Host processes are out of sight and out of reach: kill -9 -1 inside,
// the host's pid, the init.
func TestHostProcesses(t *testing.T) {
	pid := strconv.Itoa(victim.Process.Pid)
	for _, flags := range [][]string{nil, {"--cap-add", "ALL", "--seccomp", "unconfined"}} {
		r := box(t, flags, "/probe", "procs", pid)
		expect(t, r, 0, "procs: [12]\nhost pid "+pid+": ENOENT\n")
		r = box(t, flags, "/probe", "kill", pid, "-1")
		expect(t, r, 0, "kill "+pid+": ESRCH\nkill -1: (ok|ESRCH)\n")
		assertHostUnchanged(t)
	}
}

// A host service on an abstract unix socket lives in the host's network
// namespace: out of reach with --net none and the default slirp, reachable
// with --net host (the opt-out, which proves the probe is real).
func TestAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("rbox-attack-%d", os.Getpid())
	l, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b := make([]byte, 16)
			n, _ := c.Read(b)
			got <- string(b[:n])
			c.Close()
		}
	}()
	for _, net := range []string{"none", "slirp"} {
		expect(t, box(t, []string{"--net", net, "--cap-add", "ALL"}, "/probe", "abstract", name), 0, "connect: ECONNREFUSED\n")
		select {
		case m := <-got:
			t.Errorf("the host socket received %q from --net %s", m, net)
		case <-time.After(100 * time.Millisecond):
		}
	}
	expect(t, box(t, []string{"--net", "host"}, "/probe", "abstract", name), 0, "connect: ok\n")
	if m := <-got; m != "escaped\n" {
		t.Errorf("--net host: the socket received %q", m)
	}
	assertHostUnchanged(t)
}

// A host service on 127.0.0.1 is out of reach with --net none and the
// default slirp: the sandbox's loopback is its own. Through slirp's or
// pasta's gateway (10.0.2.2, which stands for the host) it is out of reach
// too unless the user allows it; the allowed run proves the probe real.
func TestHostLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b := make([]byte, 16)
			n, _ := c.Read(b)
			got <- string(b[:n])
			c.Close()
		}
	}()
	addr := l.Addr().String()
	for _, net := range []string{"none", "slirp"} {
		expect(t, box(t, []string{"--net", net, "--cap-add", "ALL", "--seccomp", "unconfined"}, "/probe", "tcp", addr), 0, "connect: ECONNREFUSED\n")
		select {
		case m := <-got:
			t.Errorf("the host service received %q from --net %s", m, net)
		case <-time.After(100 * time.Millisecond):
		}
	}
	gw := "10.0.2.2:" + addr[strings.LastIndexByte(addr, ':')+1:]
	for _, net := range []string{"slirp", "pasta"} {
		// pasta without the gateway mapping routes 10.0.2.2 to the real
		// network, where something may answer: what matters is that the
		// host's service hears nothing.
		box(t, []string{"--net", net, "--cap-add", "ALL", "--seccomp", "unconfined"}, "/probe", "tcp", gw)
		select {
		case m := <-got:
			t.Errorf("the host's 127.0.0.1 service received %q from --net %s through %s", m, net, gw)
		case <-time.After(100 * time.Millisecond):
		}
		expect(t, box(t, []string{"--net", net + ":allow-host-loopback"}, "/probe", "tcp", gw), 0, "connect: ok\n")
		if m := <-got; m != "escaped\n" {
			t.Errorf("--net %s:allow-host-loopback: the service received %q", net, m)
		}
	}
	expect(t, box(t, []string{"--net", "host"}, "/probe", "tcp", addr), 0, "connect: ok\n")
	if m := <-got; m != "escaped\n" {
		t.Errorf("--net host: the service received %q", m)
	}
	assertHostUnchanged(t)
}

// A hostile image: /etc is a symlink to a host directory (absolute, or
// climbing out with ../..), and volume and tmpfs targets lead there too.
// rbox resolves every target inside the image: it either refuses with
// one line or follows the links within the image, and never writes or
// mounts in the host directory.
func TestHostileImageSymlinks(t *testing.T) {
	target := t.TempDir() // the "host" directory the image points at
	must(t, os.WriteFile(filepath.Join(target, "keep"), []byte("host\n"), 0o644))
	must(t, os.Mkdir(filepath.Join(target, "sub"), 0o755))
	vol := t.TempDir()
	must(t, os.WriteFile(filepath.Join(vol, "v"), []byte("volume\n"), 0o644))
	climb := "../../../../../../../../.." + target
	for _, tc := range []struct {
		name  string
		links map[string]string // image path -> link target
		flags []string
		ok    bool // the targets exist in the image too: the run succeeds (else: refused, exit 125)
	}{
		{"etc-absolute", map[string]string{"etc": target}, nil, false},
		{"etc-climbing", map[string]string{"etc": climb}, nil, false},
		{"volume-targets", map[string]string{"mnt": climb, "abs": target + "/sub"},
			[]string{"-v", vol + ":/mnt/x:ro", "-v", vol + ":/abs/y", "--tmpfs", "/abs/t"}, true},
		{"workdir", map[string]string{"w": climb}, []string{"-w", "/w/sub/new"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "hostile")
			if out, err := exec.Command("cp", "-a", rootfs, img).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			if tc.ok {
				// The same path inside the image: resolved in the image's
				// root, the links lead there. (A dangling one is refused.)
				must(t, os.MkdirAll(filepath.Join(img, target, "sub"), 0o755))
			}
			for name, to := range tc.links {
				os.RemoveAll(filepath.Join(img, name))
				must(t, os.Symlink(to, filepath.Join(img, name)))
			}
			before := manifest(target)
			r := boxIn(t, img, tc.flags, "/bin/sh", "-c", "cat /mnt/x/v /abs/y/v 2>/dev/null; touch /etc/probe /mnt/probe /abs/probe /w/sub/new/probe 2>/dev/null; true")
			switch {
			case tc.ok && (r.code != 0 || len(tc.flags) > 2 && r.stdout != "volume\nvolume\n"):
				t.Errorf("want success (links followed inside the image), got\n%s", r)
			case !tc.ok && (r.code != 125 || strings.Count(r.stderr, "\n") != 1):
				t.Errorf("want a one-line refusal, exit 125, got\n%s", r)
			}
			if after := manifest(target); after != before {
				t.Errorf("the host directory the image points at changed:\n%s\nnow:\n%s", before, after)
			}
			if ms, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(ms, []byte(target)) {
				t.Errorf("a mount appeared on the host under %s", target)
			}
			assertHostUnchanged(t)
		})
	}
}

// The image directory cannot be written by any path: through the root,
// /proc/*/root, a read-only volume of its parent; nor chmod or chown in
// a read-only volume.
func TestWriteImage(t *testing.T) {
	parent := filepath.Dir(image)
	base := filepath.Base(image)
	for _, flags := range [][]string{nil, {"--cap-add", "ALL", "--seccomp", "unconfined"}} {
		r := box(t, append([]string{"-v", parent + ":/vol:ro"}, flags...), "/bin/sh", "-c",
			"echo x >> /etc/passwd; echo x >> /proc/1/root/etc/passwd; for f in /proc/*/root/etc/group; do echo x >> $f; done 2>/dev/null; "+
				"/probe write /vol/"+base+"/etc/passwd; /probe chmod /vol/"+base+"/etc/passwd /vol/"+base)
		expect(t, r, 0, "/vol/"+base+"/etc/passwd: EROFS\nchmod /vol/"+base+"/etc/passwd: EROFS\nchown /vol/"+base+"/etc/passwd: EROFS\nchmod /vol/"+base+": EROFS\nchown /vol/"+base+": EROFS\n")
		assertHostUnchanged(t)
	}
}

// A profile file replaces the default: here one that refuses mkdir with
// an errno of its own.
func TestSeccompProfileFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "profile.json")
	must(t, os.WriteFile(p, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":18}]}`), 0o644))
	r := box(t, []string{"--seccomp", p}, "/bin/sh", "-c", "mkdir /tmp/d; /probe sys keyctl")
	if r.code != 0 || !strings.Contains(r.stderr, "Invalid cross-device link") || r.stdout != "keyctl: ok\n" {
		t.Errorf("--seccomp FILE: want mkdir refused with EXDEV and keyctl allowed, got\n%s", r)
	}
}

// A profile can close nested user namespaces, the widest kernel surface
// the default leaves open (SECURITY.md): refuse unshare and clone with
// CLONE_NEWUSER, and clone3, whose flags a filter cannot read, with
// ENOSYS so that libc falls back to clone.
func TestSeccompNoNestedUserns(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no-userns.json")
	must(t, os.WriteFile(p, []byte(noUsernsProfile), 0o644))
	expect(t, box(t, []string{"--seccomp", p}, "/bin/sh", "-c", "/probe nested hello; unshare -U true 2>/dev/null || echo refused; /probe hello"), 0,
		"nested user namespace: EPERM\nrefused\nhello\n")
	// The default allows them (the opt-out, proving the probe real).
	expect(t, box(t, nil, "/probe", "nested", "hello"), 0, "hello\n")
}

const noUsernsProfile = `{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["unshare", "clone"], "action": "SCMP_ACT_ERRNO",
     "args": [{"index": 0, "value": 268435456, "valueTwo": 268435456, "op": "SCMP_CMP_MASKED_EQ"}]},
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
  ]
}`

// podman's own profile, where the host has podman: it loads unchanged
// (containers/common's errno names, libseccomp's overlapping rules) and
// refuses what it refuses.
func TestSeccompPodmanProfile(t *testing.T) {
	const p = "/usr/share/containers/seccomp.json"
	if _, err := os.Stat(p); err != nil {
		skipOrFail(t, "no podman profile at %s (Debian package golang-github-containers-common)", p)
	}
	expect(t, box(t, []string{"--seccomp", p}, "/probe", "sys", "bpf", "userfaultfd", "mount_tmpfs"), 0,
		"bpf: EPERM\nuserfaultfd: EPERM\nmount_tmpfs: EPERM\n")
	expect(t, box(t, []string{"--seccomp", p, "--cap-add", "SYS_ADMIN"}, "/probe", "sys", "mount_tmpfs"), 0, "mount_tmpfs: ok\n")
}

// Bad hardening flags: one line, exit 125, nothing started.
func TestBadHardeningInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	badAction := write("bad-action.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["keyctl"],"action":"SCMP_ACT_NOPE"}]}`)
	badName := write("bad-name.json", "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\n\"syscalls\":[{\"names\":[\"getpid\",\"no_such_call\"],\"action\":\"SCMP_ACT_ERRNO\"}]}")
	truncated := write("truncated.json", "{\"defaultAction\":\n")
	otherArch := write("arch.json", `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_S390X"]}`)
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--cap-add", "CAP_NOPE"}, `"CAP_NOPE"`},
		{[]string{"--cap-drop", "chown,nope"}, `"nope"`},
		{[]string{"--cap-add", "ALL", "--cap-drop", "ALL"}, "contradict"},
		{[]string{"--cap-add", "KILL", "--cap-drop", "kill"}, "CAP_KILL"},
		{[]string{"--seccomp", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"--seccomp", badAction}, `syscalls[0].action: unknown action "SCMP_ACT_NOPE"`},
		{[]string{"--seccomp", badName}, `syscalls[0].names[1]: unknown syscall "no_such_call"`},
		{[]string{"--seccomp", truncated}, "line 2:1"},
		{[]string{"--seccomp", otherArch}, "SCMP_ARCH_X86_64"},
	} {
		if strings.Contains(c.want, "X86_64") && !strings.Contains(runtimeArch(), "amd64") {
			continue
		}
		r := box(t, c.flags, "/probe", "hello")
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != 125 || r.stdout != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "rbox: ") || !strings.Contains(lines[0], c.want) {
			t.Errorf("%v: want exit 125 and one line naming %q, got\n%s", c.flags, c.want, r)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The init's enter socket (rbox enter) is bound before pivot_root: no path
// inside leads to it, and without CAP_SYS_PTRACE the init's descriptors
// are out of reach. A workload that could take the listening socket would
// receive the stdio of the next rbox enter.
func TestEnterSocketOutOfReach(t *testing.T) {
	name := fmt.Sprintf("attack-enter-%d", os.Getpid())
	r := run(t, exec.Command(rboxBin, "exec", "-d", "--name", name, "--rootfs", image, "--", "sleep", "60"))
	if r.code != 0 {
		t.Fatalf("start a detached sandbox: %s", r)
	}
	defer func() {
		run(t, exec.Command(rboxBin, "kill", "-s", "KILL", name))
		run(t, exec.Command(rboxBin, "wait", name))
		run(t, exec.Command(rboxBin, "rm", name))
	}()
	// The directory /proc/1/fd lists (its owner is root of the
	// namespace), but following or opening an entry takes a ptrace check
	// the non-dumpable init fails without CAP_SYS_PTRACE.
	r = run(t, exec.Command(rboxBin, "enter", name, "--", "sh", "-c",
		`find / -xdev -type s 2>/dev/null | grep -c enter.sock; for f in /proc/1/fd/*; do readlink $f || cat $f; done 2>/dev/null | grep -c .; true`))
	expect(t, r, 0, "0\n0\n")
	// The same attack from a sandbox given every capability but
	// SYS_PTRACE, and no filter.
	expect(t, box(t, []string{"--cap-add", "ALL", "--cap-drop", "SYS_PTRACE", "--seccomp", "unconfined"}, "sh", "-c",
		`find / -xdev -type s 2>/dev/null | grep -c enter.sock; for f in /proc/1/fd/*; do readlink $f || cat $f; done 2>/dev/null | grep -c .; true`), 0, "0\n0\n")
	// The opt-out proves the probe: with SYS_PTRACE the init's
	// descriptors are readable (SECURITY.md says what that hands over).
	expect(t, box(t, []string{"--cap-add", "SYS_PTRACE"}, "sh", "-c",
		`for f in /proc/1/fd/*; do readlink $f; done 2>/dev/null | grep -c socket`), 0, "[1-9]\n")
	assertHostUnchanged(t)
}
