package integration

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
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
