package packet

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

type msg struct {
	Type string `json:"type"`
	N    int    `json:"n,omitempty"`
}

func pair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestSendRecv(t *testing.T) {
	a, b := pair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := Send(a, msg{Type: "pty", N: 7}, int(r.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := Send(a, msg{Type: "ready"}); err != nil {
		t.Fatal(err)
	}
	var m msg
	files, err := Recv(b, &m, 1<<10)
	if err != nil || m != (msg{"pty", 7}) || len(files) != 1 {
		t.Fatalf("first: %+v, %d files, %v", m, len(files), err)
	}
	// The descriptor is the pipe's read end, close-on-exec.
	w.Write([]byte("x"))
	buf := make([]byte, 1)
	if n, err := files[0].Read(buf); n != 1 || err != nil {
		t.Fatalf("read the received descriptor: %d, %v", n, err)
	}
	if fl, _ := unix.FcntlInt(files[0].Fd(), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("received descriptor is not close-on-exec")
	}
	files[0].Close()
	m = msg{}
	if files, err := Recv(b, &m, 1<<10); err != nil || m.Type != "ready" || len(files) != 0 {
		t.Fatalf("second: %+v, %d files, %v", m, len(files), err)
	}
}

func TestRecvErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		send  func(a *os.File)
		limit int
		want  string // "" means ErrClosed
	}{
		{"peer closed", func(a *os.File) { a.Close() }, 1 << 10, ""},
		{"too large, left unread", func(a *os.File) { Send(a, msg{Type: strings.Repeat("x", 100)}) }, 50, "message of 111 bytes is too large"},
		{"not JSON", func(a *os.File) { unix.Write(int(a.Fd()), []byte("{")) }, 1 << 10, "decode message"},
		{"wrong JSON type", func(a *os.File) { unix.Write(int(a.Fd()), []byte(`{"type": 3}`)) }, 1 << 10, "decode message"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := pair(t)
			c.send(a)
			var m msg
			_, err := Recv(b, &m, c.limit)
			switch {
			case c.want == "" && !errors.Is(err, ErrClosed):
				t.Fatalf("got %v, want ErrClosed", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestRecvPastReset: the peer queued its last words and closed with a
// message of ours unread; the kernel reports ECONNRESET once, before
// those words, which Recv must still return.
func TestRecvPastReset(t *testing.T) {
	a, b := pair(t)
	if err := Send(b, msg{Type: "start"}); err != nil {
		t.Fatal(err)
	}
	if err := Send(a, msg{Type: "error", N: 1}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	var m msg
	if _, err := Recv(b, &m, 1<<10); err != nil || m.Type != "error" {
		t.Fatalf("got %+v, %v; want the error message", m, err)
	}
	if _, err := Recv(b, &m, 1<<10); !errors.Is(err, ErrClosed) {
		t.Fatalf("then %v, want ErrClosed", err)
	}
}

// FuzzRecv: whatever one packet holds, Recv returns an error or a
// message, and never panics.
func FuzzRecv(f *testing.F) {
	f.Add([]byte(`{"type":"ready"}`))
	f.Add([]byte(`{"type":`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<12 {
			return
		}
		a, b := pair(t)
		if _, err := unix.Write(int(a.Fd()), data); err != nil {
			return
		}
		var m msg
		files, err := Recv(b, &m, 1<<12)
		if err == nil {
			for _, f := range files {
				f.Close()
			}
		}
	})
}
