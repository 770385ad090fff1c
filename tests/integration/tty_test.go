package integration

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPty gives the test a terminal to run rbox on, as a user's shell would.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// readUntil reads the terminal until want shows up (10 s at most).
func readUntil(t *testing.T, m *os.File, buf *bytes.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	b := make([]byte, 4096)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("terminal never showed %q; got %q", want, buf.String())
		}
		m.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _ := m.Read(b)
		buf.Write(b[:n])
	}
}

func TestTty(t *testing.T) {
	m, s := openPty(t)
	unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100})
	before, _ := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)

	cmd := exec.Command(rboxBin, "exec", "-t", "--rootfs", rootfs, "--", "sh", "-c",
		`tty; echo "size $(stty size)"; echo "term $TERM"; read x; echo "size $(stty size)"; exit 7`)
	cmd.Env = baseEnv("TERM=xterm-256color")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var buf bytes.Buffer
	readUntil(t, m, &buf, "term ")
	readUntil(t, m, &buf, "\n")
	out := buf.String()
	if !strings.Contains(out, "/dev/pts/0") {
		t.Errorf("the workload's terminal should be the sandbox's own /dev/pts/0: %q", out)
	}
	if !strings.Contains(out, "size 30 100") || !strings.Contains(out, "term xterm-256color") {
		t.Errorf("initial size or TERM: %q", out)
	}
	// Resizing the user's terminal reaches the sandbox (SIGWINCH to rbox).
	unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120})
	time.Sleep(100 * time.Millisecond)
	m.Write([]byte("go\r"))
	buf.Reset()
	readUntil(t, m, &buf, "size 40 120")
	if code := waitCode(t, cmd); code != 7 {
		t.Errorf("exit status through -t: %d, want 7", code)
	}
	after, _ := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if before.Lflag != after.Lflag || before.Iflag != after.Iflag {
		t.Errorf("the terminal was not restored: lflag %x -> %x", before.Lflag, after.Lflag)
	}
}
