package userns

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/rbox-sandbox/rbox/packet"
	"github.com/rbox-sandbox/rbox/probe"
)

// The supervisor and the init talk over a SOCK_SEQPACKET socketpair: one JSON
// message per packet, so message boundaries come from the kernel and a file
// descriptor (the pty master) can ride on the packet that announces it.
//
//	supervisor                              init (PID 1, waiting)
//	    │   ID map <pid> [newuidmap, newgidmap]│ (stage "map": ambient caps,
//	    │   [network, cgroup against <pid>]    │  unmapped)
//	    │── go ──────────────────────────────▶ │ mapped: now root of the
//	    │                                      │ namespace [and in its cgroup]
//	    │── config {Config} ─────────────────▶ │ [network: address, route;
//	    │   [-p: listen on the host ports]     │  -p: serve the port driver's
//	    │── ports ───────────────────────────▶ │  child side, wait for ports]
//	    │                                      │ mounts, pivot_root
//	    │◀───────────────────────── ready ──── │ root ready: the barrier
//	    │── start ───────────────────────────▶ │ (rbox exec sends it with
//	    │                                      │  config; a create/start
//	    │                                      │  front end when told to)
//	    │◀─────────────────────── pty + fd ──  │ (with -t) master to the host
//	    │◀──────────────────── started {pid} ─ │ workload running
//	    │   forward signals (kill)             │ reap, forward to workload
//	    │◀─────────────────── exit {code} ──── │ or error {msg, code}
//	    │   [cgroup: read the workload's leaf] │ [cgroup: wait for EOF]
//	    │   hang up, wait(init), clean up      ▼ exit(code)
//
// The init is cloned unmapped (cloneinit.go) and always starts in stage
// "map" - unless it maps itself under a foreign /proc and the sandbox gets
// no cgroup: then it starts in stage "run" and there is no "go".
// A reaper (ReapMain) answers "config" with "exit" and builds nothing.
// The init may send "error" instead of any of its messages, and sends
// nothing after it.
//
// Every receive names what it expects (expect); anything else is a
// *SyncError, `sync: got "X", expected "Y"`. The init reports its own as an
// "error" message and exits 125; the supervisor's ends Wait with it. Either
// way the user reads it once, as one line.
//
// If the supervisor dies, the init reads EOF and kills the sandbox (and the
// kernel's parent-death signal does so too, should the init be stuck).

const (
	msgGo      = "go"
	msgConfig  = "config"
	msgPorts   = "ports"
	msgReady   = "ready"
	msgStart   = "start"
	msgPty     = "pty"
	msgStarted = "started"
	msgExit    = "exit"
	msgError   = "error"
)

type message struct {
	Type   string  `json:"type"`
	Config *Config `json:"config,omitempty"`
	Pid    int     `json:"pid,omitempty"`
	Code   int     `json:"code,omitempty"`
	Msg    string  `json:"msg,omitempty"`
	// Probes, on "error": the probes of rbox check that explain it
	// (package probe), so that the tie survives the text.
	Probes []string `json:"probes,omitempty"`
	// Enter and Signal are for enter sessions (enter.go).
	Enter  *EnterRequest `json:"enter,omitempty"`
	Signal int           `json:"signal,omitempty"`
}

// maxMessage bounds a packet; a Config is a few KiB even with many variables.
const maxMessage = 1 << 20

// The init's descriptors, by their names in its childfd table: the sync
// socket, and the sealed copy it was executed from (SealedCopy). stageEnv
// says whether it must first wait for its ID map ("map") or can build the
// sandbox at once ("run").
const (
	fdSync   = "sync"
	fdExe    = "exe"
	stageEnv = "_RBOX_STAGE"
	tapEnv   = "_RBOX_TAP" // StartOptions.Tap
	stageMap = "map"
	stageRun = "run"
)

// SyncError is a message out of the protocol's order.
type SyncError struct {
	Got  string
	Want []string // none: nothing more may come
}

func (e *SyncError) Error() string {
	if len(e.Want) == 0 {
		return fmt.Sprintf("sync: got %q, expected no more messages", e.Got)
	}
	q := make([]string, len(e.Want))
	for i, w := range e.Want {
		q[i] = fmt.Sprintf("%q", w)
	}
	return fmt.Sprintf("sync: got %q, expected %s", e.Got, strings.Join(q, " or "))
}

type channel struct{ f *os.File }

func (c channel) send(m message, fds ...int) error {
	if err := packet.Send(c.f, m, fds...); err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// errClosed is the peer hanging up.
var errClosed = errors.New("sync channel closed")

// expect receives the next message, which must be one of want; any other
// is a *SyncError (its descriptors closed).
func (c channel) expect(want ...string) (message, []*os.File, error) {
	m, files, err := c.recv()
	if err != nil {
		return m, nil, err
	}
	if !slices.Contains(want, m.Type) {
		closeAll(files)
		return m, nil, &SyncError{Got: m.Type, Want: want}
	}
	return m, files, nil
}

// recv returns the next message and any descriptors that came with it.
func (c channel) recv() (message, []*os.File, error) {
	var m message
	files, err := packet.Recv(c.f, &m, maxMessage)
	if errors.Is(err, packet.ErrClosed) {
		err = errClosed
	}
	if err != nil {
		return message{}, nil, err
	}
	return m, files, nil
}

// The init's receives, in the diagram's order. None takes a descriptor.

// awaitGo is stage "map": the supervisor has mapped us (and put us in the
// init's leaf of the sandbox's cgroup).
func (c channel) awaitGo() error {
	_, files, err := c.expect(msgGo)
	closeAll(files)
	return err
}

func (c channel) awaitConfig() (*Config, error) {
	m, files, err := c.expect(msgConfig)
	closeAll(files)
	if err == nil && m.Config == nil {
		err = fmt.Errorf("sync: got %q without a config", msgConfig)
	}
	return m.Config, err
}

// awaitPorts waits until the host listens on the published ports.
func (c channel) awaitPorts() error {
	_, files, err := c.expect(msgPorts)
	closeAll(files)
	return err
}

// barrier says the root is ready and waits until the workload may start.
func (c channel) barrier() error {
	if err := c.send(message{Type: msgReady}); err != nil {
		return err
	}
	_, files, err := c.expect(msgStart)
	closeAll(files)
	return err
}

// exit is the init's last word, the workload's status. With a cgroup the
// init then waits until hangup is closed (the supervisor's EOF): the
// supervisor reads the workload's leaf first (Hooks.Exited), and the leaf
// lives only as long as the init keeps the systemd scope populated.
func (c channel) exit(code int, cgroup bool, hangup <-chan struct{}) {
	c.send(message{Type: msgExit, Code: code})
	if cgroup {
		<-hangup
	}
}

// after follows the init's reports: after one of them, what may come next
// ("error" may always come, and ends the run).
var after = map[string][]string{
	msgReady:   {msgPty, msgStarted},
	msgPty:     {msgStarted},
	msgStarted: {msgExit},
}

// follow receives the init's reports, first one of want, then in the
// diagram's order, calling h as they come, until "exit" or "error"; the
// caller hangs up after it returns. err is
// a receive that failed (errClosed: the init died without a word) or a
// report out of order (*SyncError).
func (c channel) follow(h Hooks, want ...string) (res Result, err error) {
	for {
		m, files, err := c.expect(append(want, msgError)...)
		var se *SyncError
		if errors.As(err, &se) {
			se.Want = want // "error" is always welcome: no need to say so
		}
		if err != nil {
			return res, err
		}
		switch m.Type {
		case msgReady:
			if h.Ready != nil {
				h.Ready()
			}
		case msgPty:
			if len(files) == 1 && h.Pty != nil {
				h.Pty(files[0])
				files = nil
			}
		case msgStarted:
			res.WorkloadPid = m.Pid
			if h.Started != nil {
				h.Started(m.Pid)
			}
		case msgExit:
			closeAll(files)
			res.Code = m.Code
			// Before the caller hangs up: an init with a cgroup waits
			// for that, so the workload's leaf is still there.
			if h.Exited != nil {
				h.Exited()
			}
			return res, nil
		case msgError:
			closeAll(files)
			res.Code, res.Err = m.Code, probe.Wrap(&InitError{Msg: m.Msg, Code: m.Code}, m.Probes...)
			return res, nil
		}
		closeAll(files)
		want = after[m.Type]
	}
}
