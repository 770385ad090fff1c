package integration

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as a probe: copied into an image as /probe (it
// is static), it runs there as the hostile workload and tries one thing
// per invocation, printing what happened. This keeps every attack in Go,
// with exact errnos, without a compiler in the busybox image.
func init() {
	if filepath.Base(os.Args[0]) != "probe" || len(os.Args) < 2 {
		return
	}
	os.Exit(probe(os.Args[1], os.Args[2:]))
}

func probe(what string, args []string) int {
	switch what {
	case "ids":
		fmt.Printf("uid=%d euid=%d\n", unix.Getuid(), unix.Geteuid())
	case "write": // write FILE: try to open FILE for writing
		f, err := os.OpenFile(args[0], os.O_WRONLY, 0)
		if err != nil {
			fmt.Println("denied:", errnoOf(err))
			return 0
		}
		f.Close()
		fmt.Println("opened")
	case "fds":
		entries, _ := os.ReadDir("/proc/self/fd")
		var fds []string
		for _, e := range entries {
			fds = append(fds, e.Name())
		}
		cwd, _ := os.Getwd()
		fmt.Println(strings.Join(fds, " "), cwd)
	case "tiocsti":
		c := byte('x')
		err := unix.IoctlSetPointerInt(0, unix.TIOCSTI, int(c))
		fmt.Println("tiocsti:", errnoOf(err))
	case "abstract": // abstract NAME: connect to an abstract unix socket
		c, err := net.Dial("unix", "@"+args[0])
		if err != nil {
			fmt.Println("connect:", errnoOf(err))
			return 0
		}
		io.WriteString(c, "escaped\n")
		c.Close()
		fmt.Println("connected")
	case "udpecho": // udpecho PORT: echo datagrams for 20 s at most
		c, err := net.ListenPacket("udp", ":"+args[0])
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		fmt.Println("listening")
		c.SetDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 2048)
		for range 100 {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return 0
			}
			c.WriteTo(buf[:n], from)
		}
	case "dial": // dial ADDR: connect over TCP (3 s at most), print what the server says
		c, err := net.DialTimeout("tcp", args[0], 3*time.Second)
		if err != nil {
			fmt.Println("dial:", errnoOf(err))
			return 0
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		fmt.Printf("read: %s\n", b)
	case "dns": // dns ADDR: a DNS server on ADDR:53 answering every A query with 192.0.2.55 (30 s, 50 queries at most)
		return dnsServer(args[0])
	case "reap": // reap CMD ARGS...: CMD's subreaper (see reapAll)
		return reapAll(args)
	case "mknod":
		err := unix.Mknod("/dev/probe-null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
		fmt.Println("mknod:", errnoOf(err))
	default:
		fmt.Fprintln(os.Stderr, "unknown probe", what)
		return 2
	}
	return 0
}

func errnoOf(err error) string {
	if err == nil {
		return "ok"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// probeImage is a copy of the rootfs with this test binary at /probe.
func probeImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img")
	if out, err := exec.Command("cp", "-a", rootfs, img).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v %s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(img, "probe"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return img
}

// dnsServer is the resolver of a host whose resolv.conf names a loopback
// address (systemd-resolved's 127.0.0.53, a local dnsmasq on 127.0.0.1);
// scripts/integration.sh runs it as root in a network namespace of its
// own. It answers A queries for any name with 192.0.2.55 and others with
// no records.
func dnsServer(addr string) int {
	c, err := net.ListenPacket("udp", net.JoinHostPort(addr, "53"))
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	for range 50 {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return 0
		}
		q := buf[:n]
		// The question: header (12 bytes), the name's labels, type, class.
		i := 12
		for i < len(q) && q[i] != 0 {
			i += int(q[i]) + 1
		}
		if i+5 > len(q) {
			continue
		}
		question := q[12 : i+5]
		isA := q[i+1] == 0 && q[i+2] == 1
		resp := append([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, question...)
		if isA {
			resp[7] = 1 // one answer: a pointer to the name, A, IN, TTL 60, 4 bytes
			resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 55)
		}
		c.WriteTo(resp, from)
	}
	return 0
}

// reapAll runs CMD as a child subreaper with the probe's stdio: SIGTERM
// SIGKILLs CMD, and the probe exits once CMD and every orphan it left (the
// descendants re-parented to the probe) are reaped, so none of them is
// left a zombie in the test's session. The flag is this process's alone:
// the test binary never adopts anything.
func reapAll(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "reap: no command")
		return 2
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "reap: become a subreaper:", err)
		return 1
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, unix.SIGTERM)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "reap:", err)
		return 1
	}
	// Through a pidfd where the runtime has one: a CMD already reaped
	// below is not signalled by pid.
	go func() { <-term; cmd.Process.Kill() }()
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			return 0
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "reap: wait:", err)
			return 1
		}
	}
}
