package sandbox

import (
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// ttyRelay copies between the host's terminal and the sandbox's pty master.
type ttyRelay struct {
	mu       sync.Mutex
	master   *os.File
	restore  func()
	hostTerm int
	done     chan struct{}
}

func (t *ttyRelay) start(master *os.File, o Options) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.master = master
	t.hostTerm = -1
	if term.IsTerminal(int(o.Stdin.Fd())) {
		if old, err := term.MakeRaw(int(o.Stdin.Fd())); err == nil {
			fd := int(o.Stdin.Fd())
			t.restore = func() { term.Restore(fd, old) }
			t.hostTerm = fd
		}
	}
	t.done = make(chan struct{})
	go func() {
		// EIO marks the end: every slave descriptor is closed.
		io.Copy(o.Stdout, master)
		close(t.done)
	}()
	go io.Copy(master, o.Stdin)
	t.resizeLocked()
}

// resize copies the host's window size to the pty; the kernel then sends
// SIGWINCH to the workload's foreground process group.
func (t *ttyRelay) resize() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.master == nil {
		return false
	}
	t.resizeLocked()
	return true
}

func (t *ttyRelay) resizeLocked() {
	if t.hostTerm < 0 {
		return
	}
	if ws, err := unix.IoctlGetWinsize(t.hostTerm, unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

func (t *ttyRelay) finish() {
	t.mu.Lock()
	done, restore := t.done, t.restore
	t.mu.Unlock()
	if done != nil {
		<-done
	}
	if restore != nil {
		restore()
	}
}
