package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// userModes are the networks that go through a user-mode helper.
var userModes = []struct{ mode, helper string }{{"slirp", "slirp4netns"}, {"pasta", "pasta"}}

func needHelper(t *testing.T, helper string) {
	t.Helper()
	_, err := exec.LookPath(helper)
	need(t, err == nil, helper+" is not installed")
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	need(t, err == nil, "/dev/net/tun is not usable by this user")
	if f != nil {
		f.Close()
	}
}

// freePort finds a host port that is free now.
func freePort(t *testing.T, proto string) int {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostServer listens on the host's 127.0.0.1 and says marker to whoever
// connects.
func hostServer(t *testing.T, marker string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, marker)
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestNetUserModeDevice(t *testing.T) {
	for _, m := range userModes {
		t.Run(m.mode, func(t *testing.T) {
			needHelper(t, m.helper)
			script := "ip -o -4 addr show tap0; ip route; cat /sys/class/net/tap0/mtu /sys/class/net/lo/operstate /etc/resolv.conf; grep \"$(hostname)\" /etc/hosts"
			out := ok(t, sh(t, script, "--net", m.mode, "--hostname", "netbox"))
			for _, want := range []string{"inet 10.0.2.100/24", "default via 10.0.2.2 dev tap0", "\n65520\n", "nameserver 10.0.2.3", "netbox"} {
				if !strings.Contains(out, want) {
					t.Errorf("--net %s: want %q in\n%s", m.mode, want, out)
				}
			}
			if regexp.MustCompile(`(?m)^nameserver `).FindAllString(out, -1) == nil || strings.Count(out, "nameserver ") != 1 {
				t.Errorf("--net %s: want exactly the forwarder as nameserver:\n%s", m.mode, out)
			}
			out = ok(t, sh(t, "cat /sys/class/net/tap0/mtu", "--net", m.mode, "--mtu", "1500"))
			if strings.TrimSpace(out) != "1500" {
				t.Errorf("--net %s --mtu 1500: device has mtu %q", m.mode, out)
			}
		})
	}
	// The default is slirp.
	needHelper(t, "slirp4netns")
	if out := ok(t, sh(t, "ls /sys/class/net")); !strings.Contains(out, "tap0") {
		t.Errorf("the default network should be slirp (a tap0 device); got %q", out)
	}
}

// The host's loopback services are out of reach unless asked for.
func TestNetHostLoopback(t *testing.T) {
	img := probeImage(t)
	port := hostServer(t, "host-loopback-secret")
	addr := "10.0.2.2:" + itoa(port)
	for _, m := range userModes {
		t.Run(m.mode, func(t *testing.T) {
			needHelper(t, m.helper)
			out := ok(t, rbox(t, "exec", "--rootfs", img, "--net", m.mode, "--", "/probe", "dial", addr))
			if strings.Contains(out, "host-loopback-secret") {
				t.Errorf("--net %s reached the host's 127.0.0.1:%d through %s by default: %q", m.mode, port, addr, out)
			}
			out = ok(t, rbox(t, "exec", "--rootfs", img, "--net", m.mode+":allow-host-loopback", "--", "/probe", "dial", addr))
			if !strings.Contains(out, "host-loopback-secret") {
				t.Errorf("--net %s:allow-host-loopback should reach the host's 127.0.0.1:%d: %q", m.mode, port, out)
			}
		})
	}
}

// hostName is a name this host's own configuration uses (its apt
// sources), and the addresses the host resolves it to.
func hostName(t *testing.T) (string, []string) {
	t.Helper()
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append([]string{"/etc/apt/sources.list"}, files...)
	re := regexp.MustCompile(`https?://([a-zA-Z0-9.-]+\.[a-zA-Z]+)[/:]`)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if addrs, err := net.LookupHost(m[1]); err == nil && len(addrs) > 0 {
				return m[1], addrs
			}
		}
	}
	need(t, false, "the host resolves none of the names in its apt sources")
	return "", nil
}

func TestNetDNS(t *testing.T) {
	name, addrs := hostName(t)
	for _, m := range append(userModes, struct{ mode, helper string }{"host", ""}) {
		t.Run(m.mode, func(t *testing.T) {
			if m.helper != "" {
				needHelper(t, m.helper)
			}
			out := ok(t, sh(t, "nslookup "+name, "--net", m.mode))
			found := false
			for _, a := range addrs {
				found = found || strings.Contains(out, a)
			}
			if !found {
				t.Errorf("--net %s: %s should resolve to one of %v inside as on the host:\n%s", m.mode, name, addrs, out)
			}
		})
	}
	host, _ := os.ReadFile("/etc/resolv.conf")
	if out := ok(t, sh(t, "cat /etc/resolv.conf", "--net", "host")); out != string(host) {
		t.Errorf("--net host: resolv.conf should be the host's:\n%s\nvs\n%s", out, host)
	}
}

// bg runs rbox in the background and collects its output.
type bg struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
}

func startBG(t *testing.T, args ...string) *bg {
	t.Helper()
	b := &bg{cmd: exec.Command(rboxBin, args...), done: make(chan struct{})}
	b.cmd.Env = baseEnv()
	b.cmd.Stdout, b.cmd.Stderr = &syncBuf{b: &b.stdout}, &syncBuf{b: &b.stderr}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { b.cmd.Process.Kill(); <-b.done })
	return b
}

// stop ends the sandbox with SIGTERM and returns rbox's exit status.
func (b *bg) stop(t *testing.T) int {
	t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("rbox did not end in 20 s after SIGTERM")
	}
	return b.cmd.ProcessState.ExitCode()
}

type syncBuf struct {
	b *bytes.Buffer
}

var bufMu = make(chan struct{}, 1)

func (s *syncBuf) Write(p []byte) (int, error) {
	bufMu <- struct{}{}
	defer func() { <-bufMu }()
	return s.b.Write(p)
}

func (b *bg) output() string {
	bufMu <- struct{}{}
	defer func() { <-bufMu }()
	return fmt.Sprintf("stdout: %q\nstderr: %q", b.stdout.String(), b.stderr.String())
}

func portFree(proto string, port int) bool {
	if proto == "udp" {
		c, err := net.ListenPacket("udp", ":"+itoa(port))
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	l, err := net.Listen("tcp", ":"+itoa(port))
	if err == nil {
		l.Close()
	}
	return err == nil
}

func TestPublish(t *testing.T) {
	img := probeImage(t)
	for _, m := range userModes {
		t.Run(m.mode, func(t *testing.T) {
			needHelper(t, m.helper)
			hp, up := freePort(t, "tcp"), freePort(t, "udp")
			page := "page-from-the-sandbox-" + m.mode
			web := startBG(t, "exec", "--rootfs", img, "--net", m.mode, "-p", itoa(hp)+":80", "-p", "127.0.0.1:"+itoa(up)+":7/udp", "--timeout", "50s",
				"--", "sh", "-c", "mkdir /www && echo "+page+" >/www/index.html && httpd -p 80 -h /www && exec /probe udpecho 7")
			var body string
			waitFor(t, func() bool {
				r, err := (&http.Client{Timeout: time.Second}).Get("http://127.0.0.1:" + itoa(hp) + "/")
				if err != nil {
					return false
				}
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				body = string(b)
				return true
			})
			if !strings.Contains(body, page) {
				t.Errorf("-p %d:80: got %q, want the sandbox's page", hp, body)
			}
			// UDP: an echo through 127.0.0.1:up.
			c, err := net.Dial("udp", "127.0.0.1:"+itoa(up))
			if err != nil {
				t.Fatal(err)
			}
			echoed := ""
			for i := 0; i < 50 && echoed == ""; i++ {
				c.Write([]byte("ping-udp"))
				c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				buf := make([]byte, 64)
				if n, err := c.Read(buf); err == nil {
					echoed = string(buf[:n])
				}
			}
			c.Close()
			if echoed != "ping-udp" {
				t.Errorf("-p 127.0.0.1:%d:7/udp: echo got %q", up, echoed)
			}
			// A second sandbox cannot take the same host port.
			r := rbox(t, "exec", "--rootfs", rootfs, "--net", m.mode, "-p", itoa(hp)+":8080", "--", "true")
			if r.code != 125 || !strings.Contains(r.stderr, "already in use") || !strings.Contains(r.stderr, itoa(hp)) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("a second sandbox on host port %d: want 125 and one line naming the port, got\n%s", hp, r)
			}
			if code := web.stop(t); code != 143 {
				t.Errorf("the web sandbox ended with %d, want 143 (SIGTERM)\n%s", code, web.output())
			}
			if !portFree("tcp", hp) || !portFree("udp", up) {
				t.Errorf("host ports %d/tcp and %d/udp should be free after the sandbox", hp, up)
			}
		})
	}
}

func TestPublishBadInput(t *testing.T) {
	needHelper(t, "slirp4netns")
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	start := 1024
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		start, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"port-0", []string{"-p", "0:80"}, `"0:80"`},
		{"port-too-big", []string{"-p", "8080:70000"}, "70000"},
		{"bad-proto", []string{"-p", "8080:80/sctp"}, "sctp"},
		{"bad-ip", []string{"-p", "localhost:8080:80"}, "localhost"},
		{"duplicate", []string{"-p", "18090:80", "-p", "18090:81"}, "already published"},
		{"in-use", []string{"-p", itoa(busy) + ":80"}, "host port " + itoa(busy) + "/tcp is already in use"},
		{"not-a-host-address", []string{"-p", "192.0.2.1:18091:80"}, "192.0.2.1 is not an address of this host"},
		{"with-net-none", []string{"--net", "none", "-p", "18092:80"}, "needs --net slirp or --net pasta"},
		{"mtu-too-small", []string{"--mtu", "100"}, "--mtu 100"},
		{"mtu-with-host", []string{"--net", "host", "--mtu", "1500"}, "--mtu 1500 needs"},
		{"net-option", []string{"--net", "slirp:bogus"}, `unknown option "bogus"`},
	}
	if start > 80 {
		cases = append(cases, struct {
			name string
			args []string
			want string
		}{"privileged", []string{"-p", "80:80"}, "ip_unprivileged_port_start"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"exec", "--rootfs", rootfs}, c.args...), "--", "touch", "/ran")
			r := rbox(t, args...)
			if r.code != 125 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("want exit 125 and one line with %q, got\n%s", c.want, r)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(rootfs, "ran")); err == nil {
		t.Error("a refused run wrote into the image")
	}
}

// Without the helper installed: one line that names it and the fix.
func TestNetHelperMissing(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"newuidmap", "newgidmap", "nsenter", "ip", "fuse-overlayfs"} {
		if p, err := exec.LookPath(tool); err == nil {
			os.Symlink(p, filepath.Join(bin, tool))
		}
	}
	for _, m := range userModes {
		r := rboxWith(t, opts{env: []string{"PATH=" + bin}}, "exec", "--rootfs", rootfs, "--net", m.mode, "--", "true")
		if r.code != 125 || !strings.Contains(r.stderr, m.helper+", which is not installed") || !strings.Contains(r.stderr, "apt-get install") {
			t.Errorf("--net %s without %s: want 125 and the fix, got\n%s", m.mode, m.helper, r)
		}
		if !strings.Contains(r.stderr, "hint: run rbox check (probe slirp)") {
			t.Errorf("--net %s without %s: want the hint naming the slirp probe, got\n%s", m.mode, m.helper, r)
		}
	}
	// rbox check says the same, and that the default exec cannot work.
	r := rboxWith(t, opts{env: []string{"PATH=" + bin}}, "check")
	probeLine(t, r.stdout, "not ok", "slirp")
	if r.code != 1 || !strings.Contains(r.stdout, "apt-get install slirp4netns") || !strings.Contains(r.stdout, "exec         no (probe slirp)") {
		t.Errorf("rbox check without slirp4netns: want exit 1, the fix and exec no, got\n%s", r)
	}
}

// The default network needs slirp4netns alone on the host (no nsenter, no
// ip: the init makes its tap), and reads its --help once per binary: a
// second start finds the features in the state root's cache.
func TestNetSlirpOnlyHelper(t *testing.T) {
	needHelper(t, "slirp4netns")
	real, _ := exec.LookPath("slirp4netns")
	bin := t.TempDir()
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if p, err := exec.LookPath(tool); err == nil {
			os.Symlink(p, filepath.Join(bin, tool))
		}
	}
	helps := filepath.Join(bin, "helps")
	wrapper := "#!/bin/sh\n[ \"$1\" = --help ] && echo run >>" + helps + "\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "slirp4netns"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		r := rboxWith(t, opts{env: []string{"PATH=" + bin}}, "exec", "--rootfs", rootfs, "--", "/sbin/ip", "-o", "-4", "addr", "show", "tap0")
		if r.code != 0 || !strings.Contains(r.stdout, "inet 10.0.2.100/24") {
			t.Fatalf("run %d with only slirp4netns (and newuidmap, newgidmap) in PATH: want tap0 configured, got\n%s", i, r)
		}
	}
	b, _ := os.ReadFile(helps)
	if n := strings.Count(string(b), "run"); n != 1 {
		t.Errorf("three starts ran slirp4netns --help %d times, want once", n)
	}
}

// helperOf finds the network helper a supervisor started.
func helperOf(t *testing.T, supervisor int) int {
	t.Helper()
	pid := 0
	waitFor(t, func() bool {
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			b, err := os.ReadFile(filepath.Join(d, "stat"))
			if err != nil {
				continue
			}
			s := string(b)
			i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
			comm := s[i+1 : j]
			var state string
			var ppid int
			fmt.Sscanf(s[j+2:], "%s %d", &state, &ppid)
			if ppid == supervisor && (comm == "slirp4netns" || strings.HasPrefix(comm, "pass") || comm == "pasta") {
				pid, _ = strconv.Atoi(filepath.Base(d))
				return true
			}
		}
		return false
	})
	return pid
}

// The helper dies during the run: rbox says so, the workload goes on
// without a network, and nothing hangs.
func TestNetHelperKilled(t *testing.T) {
	for _, m := range userModes {
		t.Run(m.mode, func(t *testing.T) {
			needHelper(t, m.helper)
			b := startBG(t, "exec", "--rootfs", rootfs, "--net", m.mode, "--", "sh", "-c", "echo ready; sleep 2; echo survived")
			waitFor(t, func() bool { return strings.Contains(b.output(), "ready") })
			helper := helperOf(t, b.cmd.Process.Pid)
			syscall.Kill(helper, syscall.SIGKILL)
			select {
			case <-b.done:
			case <-time.After(30 * time.Second):
				t.Fatal("rbox hung after its network helper died")
			}
			out := b.output()
			if b.cmd.ProcessState.ExitCode() != 0 || !strings.Contains(out, "survived") || !strings.Contains(out, "exited during the run: the sandbox has no network any more") {
				t.Errorf("want the workload to finish and one line about the helper, got %d\n%s", b.cmd.ProcessState.ExitCode(), out)
			}
		})
	}
}

// A SIGKILLed supervisor leaves no helper, listener or state behind.
func TestNetSupervisorKilled(t *testing.T) {
	for _, m := range userModes {
		t.Run(m.mode, func(t *testing.T) {
			needHelper(t, m.helper)
			hp := freePort(t, "tcp")
			b := startBG(t, "exec", "--rootfs", rootfs, "--net", m.mode, "-p", itoa(hp)+":80", "--", "sh", "-c", "httpd -p 80 -h /; echo ready; exec sleep 300")
			waitFor(t, func() bool { return strings.Contains(b.output(), "ready") })
			helper := helperOf(t, b.cmd.Process.Pid)
			if portFree("tcp", hp) {
				t.Fatalf("host port %d is not published", hp)
			}
			b.cmd.Process.Kill()
			<-b.done
			waitNoStrays(t, "processes outlived the SIGKILLed supervisor")
			if syscall.Kill(helper, 0) == nil {
				t.Errorf("%s (pid %d) outlived the SIGKILLed supervisor", m.helper, helper)
			}
			if !portFree("tcp", hp) {
				t.Errorf("host port %d still taken after the supervisor died", hp)
			}
			ok(t, sh(t, "true", "--net", "none"))
			if entries := stateEntries(); len(entries) != 0 {
				t.Errorf("state left after the next run: %v", entries)
			}
		})
	}
}

// A detached sandbox publishes its ports until rbox rm, and ps shows them.
func TestPublishDetached(t *testing.T) {
	needHelper(t, "slirp4netns")
	hp := freePort(t, "tcp")
	r := rbox(t, "exec", "-d", "--name", "webd", "--rootfs", rootfs, "-p", "127.0.0.1:"+itoa(hp)+":80", "--", "httpd", "-f", "-p", "80", "-h", "/etc")
	t.Cleanup(func() { rbox(t, "kill", "-s", "KILL", "webd"); rbox(t, "wait", "webd"); rbox(t, "rm", "webd") })
	if r.code != 0 {
		t.Fatalf("rbox exec -d: %s", r)
	}
	waitFor(t, func() bool {
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://127.0.0.1:" + itoa(hp) + "/hostname")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	if ps := ok(t, rbox(t, "ps")); !strings.Contains(ps, "127.0.0.1:"+itoa(hp)+":80/tcp") || !strings.Contains(ps, "slirp") {
		t.Errorf("rbox ps should show the network and the port:\n%s", ps)
	}
	rbox(t, "kill", "webd")
	rbox(t, "wait", "webd")
	ok(t, rbox(t, "rm", "webd"))
	if !portFree("tcp", hp) {
		t.Errorf("host port %d still taken after rbox rm", hp)
	}
}
