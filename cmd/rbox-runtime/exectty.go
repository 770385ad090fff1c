package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// ownConsole is exec --tty in the foreground without --console-socket,
// as CRI-O runs a streamed exec with a terminal (its own pty as the
// runtime's stdio): the runtime takes the pty's master itself, copies
// its stdin to it and it to its stdout, and keeps the pty's size that of
// the terminal on its stdin, at the start and at each SIGWINCH.
type ownConsole struct {
	local, peer *os.File // the socket pair: peer goes to the process
	master      *os.File
	restore     func()
	copied      chan struct{} // the master's output is all written out
}

func newOwnConsole() (*ownConsole, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("--tty: console socket pair: %w", err)
	}
	return &ownConsole{local: os.NewFile(uintptr(fds[0]), "console"), peer: os.NewFile(uintptr(fds[1]), "console-peer"), restore: func() {}}, nil
}

// start takes the master the process sent, makes the runtime's stdin
// raw when it is a terminal, sizes the pty and starts the copies.
func (c *ownConsole) start(stdin io.Reader, stdout io.Writer) error {
	c.peer.Close()
	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(c.local.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	c.local.Close()
	if err != nil {
		return fmt.Errorf("--tty: receive the pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return errors.New("--tty: no pty master from the process")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return errors.New("--tty: no pty master from the process")
	}
	c.master = os.NewFile(uintptr(fds[0]), "ptmx")
	if term.IsTerminal(0) {
		if st, err := term.MakeRaw(0); err == nil {
			c.restore = func() { term.Restore(0, st) }
		}
	}
	c.resize()
	go io.Copy(c.master, stdin)
	c.copied = make(chan struct{})
	go func() {
		// EIO once the process and everything else holding the pty
		// have closed it.
		io.Copy(stdout, c.master)
		close(c.copied)
	}()
	return nil
}

// resize gives the pty the size of the terminal on stdin; the kernel
// signals the pty's foreground group.
func (c *ownConsole) resize() {
	if c.master == nil {
		return
	}
	ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ)
	if err != nil {
		return // stdin is no terminal
	}
	unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, ws)
}

// finish waits (a little) for the output the process left in the pty,
// and puts the terminal back.
func (c *ownConsole) finish() {
	if c.copied != nil {
		select {
		case <-c.copied:
		case <-time.After(2 * time.Second):
			// A process left behind still holds the pty.
		}
	}
	c.restore()
	if c.master != nil {
		c.master.Close()
	}
}
