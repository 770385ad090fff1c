package userns

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The supervisor and the init talk over a SOCK_SEQPACKET socketpair: one JSON
// message per packet, so message boundaries come from the kernel and a file
// descriptor (the pty master) can ride on the packet that announces it.
//
//	supervisor                              init (PID 1, waiting)
//	    │   newuidmap + newgidmap <pid>        │ (stage "map": ambient caps,
//	    │   [network, cgroup against <pid>]    │  unmapped)
//	    │── go ──────────────────────────────▶ │ mapped: now root of the
//	    │                                      │ namespace [and in its cgroup]
//	    │── config {Config} ─────────────────▶ │ [network: address, route;
//	    │   [-p: listen on the host ports]     │  -p: serve the port driver's
//	    │── ports ───────────────────────────▶ │  child side, wait for ports]
//	    │                                      │ mounts, pivot_root
//	    │◀─────────────────────── pty + fd ──  │ (with -t) master to the host
//	    │◀──────────────────── started {pid} ─ │ workload running
//	    │   forward signals (kill)             │ reap, forward to workload
//	    │◀─────────────────── exit {code} ──── │ or error {msg, code}
//	    │   [cgroup: read the workload's leaf] │ [cgroup: wait for EOF]
//	    │   hang up, wait(init), clean up      ▼ exit(code)
//
// With a single map the Go runtime writes the map before the init's execve,
// so the init starts in stage "run" and there is no "go" - unless the
// sandbox gets a cgroup: then the init waits for "go" in stage "map" too.
//
// If the supervisor dies, the init reads EOF and kills the sandbox (and the
// kernel's parent-death signal does so too, should the init be stuck).

const (
	msgConfig  = "config"
	msgGo      = "go"
	msgPorts   = "ports"
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
	// Enter and Signal are for enter sessions (enter.go).
	Enter  *EnterRequest `json:"enter,omitempty"`
	Signal int           `json:"signal,omitempty"`
}

// maxMessage bounds a packet; a Config is a few KiB even with many variables.
const maxMessage = 1 << 20

// syncFDEnv names the inherited descriptor of the sync socket in the init;
// stageEnv says whether it must first wait for its ID map ("map") or can
// build the sandbox at once ("run").
const (
	syncFDEnv = "_RBOX_SYNC_FD"
	stageEnv  = "_RBOX_STAGE"
	stageMap  = "map"
	stageRun  = "run"
)

type channel struct{ f *os.File }

func (c channel) send(m message, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(int(c.f.Fd()), b, oob, nil, 0); err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// errClosed is the peer hanging up.
var errClosed = errors.New("sync channel closed")

// recv returns the next message and any descriptors that came with it.
func (c channel) recv() (message, []*os.File, error) {
	// Peek at the packet's size first: a buffer of maxMessage for every
	// message costs page faults on the start path for nothing.
	size := 0
	for {
		n, _, _, _, err := unix.Recvmsg(int(c.f.Fd()), nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return message{}, nil, fmt.Errorf("receive: %w", err)
		}
		size = n
		break
	}
	if size > maxMessage {
		return message{}, nil, fmt.Errorf("receive: message of %d bytes is too large", size)
	}
	buf := make([]byte, max(size, 1))
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(int(c.f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return message{}, nil, fmt.Errorf("receive: %w", err)
		}
		if n == 0 && oobn == 0 {
			return message{}, nil, errClosed
		}
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			return message{}, nil, errors.New("receive: message truncated")
		}
		files, err := parseRights(oob[:oobn])
		if err != nil {
			return message{}, nil, err
		}
		var m message
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			for _, f := range files {
				f.Close()
			}
			return message{}, nil, fmt.Errorf("decode message: %w", err)
		}
		return m, files, nil
	}
}

func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var files []*os.File
	for _, cm := range cmsgs {
		fds, err := unix.ParseUnixRights(&cm)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "received"))
		}
	}
	return files, nil
}
