package userns

import (
	"os"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (channel, channel) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := channel{os.NewFile(uintptr(fds[0]), "a")}, channel{os.NewFile(uintptr(fds[1]), "b")}
	t.Cleanup(func() { a.f.Close(); b.f.Close() })
	return a, b
}

func TestChannelRoundTrip(t *testing.T) {
	a, b := pair(t)
	cfg := &Config{Args: []string{"sh", "-c", "x"}, Env: []string{"A=1"}, Hostname: "h",
		Mounts: []Mount{{Kind: Bind, Source: "/s", Target: "/t", ReadOnly: true}}}
	if err := a.send(message{Type: msgConfig, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	m, files, err := b.recv()
	if err != nil || m.Type != msgConfig || len(files) != 0 || !reflect.DeepEqual(m.Config, cfg) {
		t.Fatalf("got %+v %v %v", m, files, err)
	}
}

func TestChannelPassesDescriptor(t *testing.T) {
	a, b := pair(t)
	r, w, _ := os.Pipe()
	defer r.Close()
	if err := a.send(message{Type: msgPty}, int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	w.Close()
	m, files, err := b.recv()
	if err != nil || m.Type != msgPty || len(files) != 1 {
		t.Fatalf("got %+v %v %v", m, files, err)
	}
	files[0].Write([]byte("x"))
	files[0].Close()
	buf := make([]byte, 1)
	if n, _ := r.Read(buf); n != 1 || buf[0] != 'x' {
		t.Error("the passed descriptor is not the pipe")
	}
}

func TestChannelEOF(t *testing.T) {
	a, b := pair(t)
	a.f.Close()
	if _, _, err := b.recv(); err != errClosed {
		t.Errorf("want errClosed, got %v", err)
	}
}

func FuzzRecv(f *testing.F) {
	f.Add([]byte(`{"type":"config","config":{"args":["a"]}}`))
	f.Add([]byte(`{"type":"exit","code":3}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || len(b) > 64<<10 {
			return
		}
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Skip(err)
		}
		defer unix.Close(fds[0])
		c := channel{os.NewFile(uintptr(fds[1]), "b")}
		defer c.f.Close()
		if err := unix.Sendmsg(fds[0], b, nil, nil, 0); err != nil {
			return
		}
		c.recv() // must not panic on any packet
	})
}
