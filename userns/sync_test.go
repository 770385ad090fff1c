package userns

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/probe"
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
	cfg := &Config{Args: []string{"sh", "-c", "x"}, Env: []string{"A=1"}, Ops: []Op{
		{Kind: OpOverlay, Target: "/m", Data: json.RawMessage(`{"lower":"/l"}`)},
		{Kind: OpRoot, Target: "/m"},
		{Kind: OpRBind, Source: "/s", Target: "/t", Attrs: unix.MOUNT_ATTR_RDONLY},
		{Kind: OpTmpfs, Target: "/tmp", Options: [][2]string{{"mode", "1777"}, {"noswap", ""}}},
		{Kind: OpFile, Target: "/etc/hosts", Content: "x\n", Mode: 0o644},
		{Kind: OpHostname, Source: "h"}, {Kind: OpPivot},
	}}
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

// The init's receives, driven by a supervisor that sends the wrong thing.
func TestInitExpects(t *testing.T) {
	cfg := &Config{Args: []string{"true"}}
	for _, c := range []struct {
		name  string
		sends []message
		await func(channel) error
		want  string
	}{
		{"start before config", []message{{Type: msgStart}},
			func(c channel) error { _, err := c.awaitConfig(); return err },
			`sync: got "start", expected "config"`},
		{"config before go", []message{{Type: msgConfig, Config: cfg}},
			channel.awaitGo,
			`sync: got "config", expected "go"`},
		{"unknown type", []message{{Type: "bogus"}},
			func(c channel) error { _, err := c.awaitConfig(); return err },
			`sync: got "bogus", expected "config"`},
		{"config without one", []message{{Type: msgConfig}},
			func(c channel) error { _, err := c.awaitConfig(); return err },
			`sync: got "config" without a config`},
		{"start before ports", []message{{Type: msgStart}},
			channel.awaitPorts,
			`sync: got "start", expected "ports"`},
		{"ports at the barrier", []message{{Type: msgPorts}},
			channel.barrier,
			`sync: got "ports", expected "start"`},
		{"anything after start", []message{{Type: msgStart}},
			func(c channel) error { _, _, err := c.expect(); return err },
			`sync: got "start", expected no more messages`},
		{"in order", []message{{Type: msgGo}, {Type: msgConfig, Config: cfg}, {Type: msgPorts}, {Type: msgStart}},
			func(c channel) error {
				if err := c.awaitGo(); err != nil {
					return err
				}
				if _, err := c.awaitConfig(); err != nil {
					return err
				}
				if err := c.awaitPorts(); err != nil {
					return err
				}
				return c.barrier()
			}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sup, init := pair(t)
			for _, m := range c.sends {
				if err := sup.send(m); err != nil {
					t.Fatal(err)
				}
			}
			err := c.await(init)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *SyncError
			if err == nil || err.Error() != c.want {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if c.name != "config without one" && !errors.As(err, &se) {
				t.Errorf("%v is not a *SyncError", err)
			}
		})
	}
}

// The supervisor's side: the init's reports out of order end the run with
// the error; in order they reach the hooks.
func TestFollowExpects(t *testing.T) {
	for _, c := range []struct {
		name  string
		sends []message
		first string
		want  string // the error, or the result as "code pid"
	}{
		{"started before ready", []message{{Type: msgStarted, Pid: 2}}, msgReady,
			`sync: got "started", expected "ready"`},
		{"exit before started", []message{{Type: msgReady}, {Type: msgExit}}, msgReady,
			`sync: got "exit", expected "pty" or "started"`},
		{"unknown type", []message{{Type: msgReady}, {Type: msgStarted, Pid: 2}, {Type: "bogus"}}, msgReady,
			`sync: got "bogus", expected "exit"`},
		{"a supervisor's message", []message{{Type: msgStart}}, msgReady,
			`sync: got "start", expected "ready"`},
		{"error at the barrier", []message{{Type: msgReady}, {Type: msgError, Code: 127, Msg: "no cmd"}}, msgReady,
			"no cmd"},
		{"in order", []message{{Type: msgReady}, {Type: msgStarted, Pid: 2}, {Type: msgExit, Code: 3}}, msgReady,
			"3 2"},
		{"reaper", []message{{Type: msgExit}}, msgExit, "0 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sup, init := pair(t)
			for _, m := range c.sends {
				if err := init.send(m); err != nil {
					t.Fatal(err)
				}
			}
			var seen []string
			h := Hooks{Ready: func() { seen = append(seen, "ready") }, Started: func(int) { seen = append(seen, "started") }}
			res, err := sup.follow(h, c.first)
			got := fmt.Sprintf("%d %d", res.Code, res.WorkloadPid)
			switch {
			case err != nil:
				got = err.Error()
			case res.Err != nil:
				got = res.Err.Error()
			}
			if got != c.want {
				t.Fatalf("got %q, want %q (hooks %v)", got, c.want, seen)
			}
			if c.name == "in order" && !slices.Equal(seen, []string{"ready", "started"}) {
				t.Errorf("hooks %v", seen)
			}
		})
	}
}

// Both sides at once, through the public calls: a supervisor that sends
// "start" before Go gets the init's report as the one line it prints.
func TestWrongOrderReported(t *testing.T) {
	sup, init := pair(t)
	sb := &Sandbox{ch: sup, cfg: &Config{Args: []string{"true"}}}
	if err := sb.StartWorkload(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Go(); err != nil {
		t.Fatal(err)
	}
	_, err := init.awaitConfig()
	if code := tell(init, failure(125, "sandbox init: %w", err)); code != 125 {
		t.Errorf("init exits %d, want 125", code)
	}
	res, err := sup.follow(Hooks{}, msgReady)
	want := `sandbox init: sync: got "start", expected "config"`
	if err != nil || res.Code != 125 || res.Err == nil || res.Err.Error() != want {
		t.Fatalf("got %d %v %v, want 125 %q", res.Code, res.Err, err, want)
	}
}

// Wait ends an init that breaks the protocol rather than follow it.
func TestWaitKillsOutOfOrderInit(t *testing.T) {
	sup, init := pair(t)
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sb := &Sandbox{pid: cmd.Process.Pid, ch: sup, cfg: &Config{}}
	init.send(message{Type: msgStarted, Pid: 5})
	res := sb.Wait(Hooks{})
	if res.Code != 125 || res.Err == nil || res.Err.Error() != `sync: got "started", expected "ready"` {
		t.Fatalf("got %d %v", res.Code, res.Err)
	}
	if !sb.done || !sb.status.Signaled() || sb.status.Signal() != unix.SIGKILL {
		t.Errorf("the init was not killed and reaped: %v", sb.status)
	}
}

// rbox enter's client checks the order too.
func TestEnterWaitExpects(t *testing.T) {
	cl, init := pair(t)
	init.send(message{Type: msgExit, Code: 0})
	res := (&EnterSession{cl}).Wait(Hooks{})
	if res.Code != 125 || res.Err == nil || res.Err.Error() != `sync: got "exit", expected "pty" or "started"` {
		t.Fatalf("got %d %v", res.Code, res.Err)
	}
}

// A "start" that finds the init gone leaves its last word for Wait.
func TestStartAfterInitEnded(t *testing.T) {
	sup, init := pair(t)
	init.send(message{Type: msgError, Code: 125, Msg: "mount failed"})
	init.f.Close()
	sb := &Sandbox{ch: sup, cfg: &Config{}}
	if err := sb.StartWorkload(); err != nil {
		t.Fatalf("StartWorkload: %v", err)
	}
	res, err := sup.follow(Hooks{}, msgReady)
	if err != nil || res.Err == nil || res.Err.Error() != "mount failed" {
		t.Fatalf("got %v %v", res.Err, err)
	}
}

// An init's error keeps its probes across the boundary: the text travels
// as text, the probe names beside it.
func TestInitErrorKeepsProbes(t *testing.T) {
	sup, init := pair(t)
	err := failure(125, "mount rootfs %q: %w", "/img", probe.Wrap(errors.New("kernel overlay: fsopen: no such device"), probe.Overlay))
	if code := tell(init, err); code != 125 {
		t.Errorf("init exits %d, want 125", code)
	}
	res, ferr := sup.follow(Hooks{}, msgReady)
	if ferr != nil || res.Code != 125 || res.Err == nil {
		t.Fatalf("got %d %v %v", res.Code, res.Err, ferr)
	}
	if got := probe.Of(res.Err); len(got) != 1 || got[0] != probe.Overlay {
		t.Errorf("probes %v, want [overlay]", got)
	}
	if want := `mount rootfs "/img": kernel overlay: fsopen: no such device`; res.Err.Error() != want {
		t.Errorf("text %q, want %q", res.Err, want)
	}
}

// After "exit", an init with a cgroup lives on until the supervisor hangs
// up, and the supervisor's Exited hook runs before it does: the workload's
// leaf (--stats) is read while the init keeps the systemd scope alive.
// Without a cgroup the init ends at once.
func TestExitOrder(t *testing.T) {
	for _, c := range []struct {
		cgroup bool
		want   []string
	}{
		{true, []string{"exited hook", "hang-up", "init ends"}},
		{false, []string{"init ends", "exited hook", "hang-up"}},
	} {
		t.Run(fmt.Sprintf("cgroup=%v", c.cgroup), func(t *testing.T) {
			sup, init := pair(t)
			var mu sync.Mutex
			var order []string
			note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }

			// The init's side, as run() ends: the receiver that turns
			// the supervisor's EOF into hangup, then the last word.
			hangup := make(chan struct{})
			go func() {
				if _, _, err := init.expect(); errors.Is(err, errClosed) {
					note("hang-up")
				}
				close(hangup)
			}()
			ended := make(chan struct{})
			for _, m := range []message{{Type: msgReady}, {Type: msgStarted, Pid: 2}} {
				if err := init.send(m); err != nil {
					t.Fatal(err)
				}
			}
			go func() {
				init.exit(3, c.cgroup, hangup)
				note("init ends")
				close(ended)
			}()
			if !c.cgroup {
				select {
				case <-ended:
				case <-time.After(10 * time.Second):
					t.Fatal("the init without a cgroup waits after exit")
				}
			}

			cmd := exec.Command("true")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sb := &Sandbox{pid: cmd.Process.Pid, ch: sup, cfg: &Config{Cgroup: c.cgroup}}
			res := sb.Wait(Hooks{Exited: func() {
				note("exited hook")
				if c.cgroup {
					// Give an init that does not wait the time to end.
					select {
					case <-ended:
						t.Error("the init ended before the Exited hook")
					case <-time.After(50 * time.Millisecond):
					}
				}
			}})
			<-ended
			// The receiver notes the hang-up after Wait closed the
			// supervisor's end; without a cgroup nothing waited for it yet.
			// Waiting also keeps its recv off the socket that the cleanup
			// closes (a data race on the descriptor otherwise).
			select {
			case <-hangup:
			case <-time.After(10 * time.Second):
				t.Fatal("the init did not see the supervisor hang up")
			}
			if res.Code != 3 || res.Err != nil || res.WorkloadPid != 2 {
				t.Errorf("result %+v", res)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(order, c.want) {
				t.Errorf("order %v, want %v", order, c.want)
			}
		})
	}
}

// TestChannelLastWordsOverUnread: an init that fails with a message of
// ours unread ("start", sent right after "config") reports its error and
// exits; the kernel then marks our end ECONNRESET, and reports that
// before the packets the init queued. Its error must still be read
// (TestNestedOuterSeccomp lost it under load: "sandbox init ended without
// reporting a status").
func TestChannelLastWordsOverUnread(t *testing.T) {
	sup, init := pair(t)
	if err := sup.send(message{Type: msgStart}); err != nil {
		t.Fatal(err)
	}
	if err := init.send(message{Type: msgError, Code: 125, Msg: "make / private: operation not permitted"}); err != nil {
		t.Fatal(err)
	}
	init.f.Close()
	m, _, err := sup.recv()
	if err != nil || m.Type != msgError || m.Msg != "make / private: operation not permitted" {
		t.Fatalf("the init's last message: %+v, %v", m, err)
	}
	if _, _, err := sup.recv(); !errors.Is(err, errClosed) {
		t.Fatalf("after it: %v, want the hang-up", err)
	}
}
