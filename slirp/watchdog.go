package slirp

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/childfd"
)

// WatchdogArg is argv[1] of the rbox binary started as a helper's
// watchdog; cmd/rbox dispatches on it before the CLI parses anything.
const WatchdogArg = "__netwatchdog"

// startWatchdog starts a small process that kills the helper when the
// supervisor goes away, however it goes: it holds a pidfd of the helper
// and the read end of a pipe whose write end only the supervisor has.
func (n *Network) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("watchdog pipe: %w", err)
	}
	defer r.Close()
	pidfd := os.NewFile(uintptr(n.helper), "helper-pidfd")
	cmd := &exec.Cmd{
		Path: n.cfg.Executable,
		Args: []string{"rbox", WatchdogArg},
		// Its own process group: a Ctrl-C meant for the workload must not
		// end it before the supervisor has cleaned up.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	var fds childfd.Table
	fds.Add(fdHelper, pidfd)
	fds.Add(fdSupervisor, r)
	fds.Attach(cmd)
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start the network watchdog (%s): %w", n.cfg.Executable, err)
	}
	n.watchdog, n.wdPipe = cmd, w
	return nil
}

// The watchdog's descriptors, by their names in its childfd table.
const (
	fdHelper     = "helper"
	fdSupervisor = "supervisor"
)

// Watchdog is the watchdog's main: it waits until the helper ends or the
// supervisor's pipe closes, and then makes sure the helper is gone.
func Watchdog() {
	signal.Ignore(unix.SIGINT, unix.SIGQUIT, unix.SIGHUP, unix.SIGTERM, unix.SIGPIPE)
	helper, err := childfd.Lookup(fdHelper)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbox: network watchdog: %v\n", err)
		os.Exit(125)
	}
	supervisor, err := childfd.Lookup(fdSupervisor)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbox: network watchdog: %v\n", err)
		os.Exit(125)
	}
	fds := []unix.PollFd{{Fd: int32(helper), Events: unix.POLLIN}, {Fd: int32(supervisor), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		break
	}
	unix.PidfdSendSignal(helper, unix.SIGKILL, nil, 0)
	os.Exit(0)
}
