package slirp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rootless-containers/rootlesskit/v3/pkg/network/pasta"

	"github.com/rbox-sandbox/rbox/probe"
)

// Config is the host side of one sandbox's network.
type Config struct {
	Mode  Mode
	MTU   int // 0 for DefaultMTU
	Ports []Port
	// StateDir is the sandbox's private state directory: the port forwarder
	// keeps its socket and its ready pipe there.
	StateDir string
	// Log receives what the helpers and drivers print (io.Discard unless
	// the user asked for --debug).
	Log io.Writer
	// Executable is the rbox binary, started as the helper's watchdog
	// (WatchdogArg) where the helper would not end with the sandbox.
	Executable string
	// CacheDir is the state root, where the slirp4netns feature probe is
	// cached; "" probes on every start.
	CacheDir string
}

// MissingError is something a user-mode network needs that this host
// lacks (a tool, the tun device, a feature of the helper); the modes
// none and host need none of it. It says what is missing and the fix,
// not which mode asked: the caller names that.
type MissingError struct{ Reason string }

func (e *MissingError) Error() string { return e.Reason }

// PortError is a published port the host refuses to listen on.
type PortError struct {
	Port Port
	Err  error
}

func (e *PortError) Error() string { return e.Err.Error() }
func (e *PortError) Unwrap() error { return e.Err }

// NotRunningError is a helper that started and is gone already; its own
// output (which the caller can show) says why.
type NotRunningError struct{ Helper string }

func (e *NotRunningError) Error() string { return e.Helper + " started but is not running" }

// portSocket is the init's port forwarder socket in the state directory.
const portSocket = "ports.sock"

// Where the helpers are looked up; tests may point them elsewhere.
var (
	tunDevice       = "/dev/net/tun"
	unprivPortStart = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
)

// Check finds what Start will need before any process exists, so that a
// host without it gets one line that names the missing piece and the fix,
// and nothing to clean up. It also makes sure every published host port
// can be bound now.
func Check(c Config) error {
	if !c.Mode.UserMode() {
		return nil
	}
	for _, t := range c.Mode.Tools() {
		if _, err := exec.LookPath(t.Bin); err != nil {
			return probe.Wrap(&MissingError{fmt.Sprintf("needs %s, which is not installed (not in PATH): as root, apt-get install %s", t.Bin, t.Pkg)}, probe.Slirp)
		}
	}
	f, err := os.OpenFile(tunDevice, os.O_RDWR, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return probe.Wrap(&MissingError{fmt.Sprintf("needs %s, which does not exist: as root, modprobe tun", tunDevice)}, probe.Tun)
	case errors.Is(err, os.ErrPermission):
		return probe.Wrap(&MissingError{fmt.Sprintf("needs %s readable and writable by you, and it is not: as root, chmod 0666 %s (desktop distributions ship it so)", tunDevice, tunDevice)}, probe.Tun)
	case err != nil:
		return probe.Wrap(fmt.Errorf("open %s: %w", tunDevice, err), probe.Tun)
	}
	f.Close()
	return probePorts(c.Ports)
}

// probePorts binds each host port and lets it go again: a port in use or
// a privileged one is reported before the sandbox exists. (The driver binds
// them again after the start; a port taken in between fails there.)
func probePorts(ports []Port) error {
	for _, p := range ports {
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
		var c io.Closer
		var err error
		if p.Proto == "udp" {
			c, err = net.ListenPacket("udp", addr)
		} else {
			c, err = net.Listen("tcp", addr)
		}
		if err != nil {
			return portError(p, err)
		}
		c.Close()
	}
	return nil
}

func portError(p Port, err error) error {
	where := p.HostIP
	if where == "" {
		where = "all addresses"
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return &PortError{p, fmt.Errorf("host port %d/%s is already in use on %s: stop what listens there, or publish on another host port", p.HostPort, p.Proto, where)}
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		if start := unprivilegedPortStart(); p.HostPort < start {
			return &PortError{p, fmt.Errorf("host port %d is privileged (below net.ipv4.ip_unprivileged_port_start=%d): publish on a port >= %d, or as root: sysctl -w net.ipv4.ip_unprivileged_port_start=%d", p.HostPort, start, start, p.HostPort)}
		}
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return &PortError{p, fmt.Errorf("%s is not an address of this host: use one that is, or leave it out to listen on all", p.HostIP)}
	}
	return &PortError{p, fmt.Errorf("listen on host port %d/%s: %w", p.HostPort, p.Proto, err)}
}

func unprivilegedPortStart() int {
	b, err := os.ReadFile(unprivPortStart)
	if err != nil {
		return 1024
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1024
	}
	return n
}

// Network is a running user-mode network: its helper (slirp4netns or
// pasta) and the listeners of its published ports.
type Network struct {
	cfg     Config
	child   ChildConfig
	cleanup func() error
	// helper is a pidfd of slirp4netns or pasta, -1 if unknown.
	helper    int
	helperPid int
	// reap: the helper is a child we must wait for ourselves (pasta,
	// which daemonizes and is re-parented to us as a subreaper).
	reap bool
	// cmd is slirp4netns, which we started ourselves and wait for.
	cmd      *exec.Cmd
	watchdog *exec.Cmd
	wdPipe   *os.File

	ports        *forwarder
	died         chan struct{}
	stopWatching chan struct{}
	watched      chan struct{} // closed when watch returns
}

// Start connects the network namespace of pid (the sandbox's init, which
// waits for its configuration) to the host: it starts the helper, which
// makes or configures the sandbox's device, and prepares the host side of
// the published ports. The init configures its side with Child().
func Start(c Config, pid int) (*Network, error) {
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	n := &Network{cfg: c, helper: -1, died: make(chan struct{}), stopWatching: make(chan struct{})}
	if err := n.start(pid); err != nil {
		n.Close() // whatever started: the helper, the watchdog
		return nil, err
	}
	return n, nil
}

func (n *Network) start(pid int) error {
	c := n.cfg
	switch c.Mode.Kind {
	case Slirp:
		if err := n.startSlirp4netns(pid); err != nil {
			return err
		}
	case Pasta:
		if err := n.startPasta(pid); err != nil {
			return err
		}
	default:
		return fmt.Errorf("network %q has no helper", c.Mode.Kind)
	}
	n.watched = make(chan struct{})
	go n.watch()
	if len(c.Ports) > 0 {
		n.child.PortSocket = filepath.Join(c.StateDir, portSocket)
	}
	return nil
}

// startPasta starts pasta through rootlesskit's driver, which configures
// the sandbox's device itself.
func (n *Network) startPasta(pid int) error {
	c := n.cfg
	// pasta forks into the background and its parent exits; as a
	// subreaper we become the daemon's parent, so that we can watch it
	// and end it.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a subreaper for pasta: %w", err)
	}
	driver, err := pasta.NewParentDriver(c.Log, "pasta", c.MTU, nil, tapName, "", !c.Mode.AllowHostLoopback, false, false)
	if err != nil {
		return err
	}
	n.reap = true
	msg, cleanup, err := driver.ConfigureNetwork(pid, c.StateDir, "")
	n.cleanup = cleanup
	if err != nil {
		// The helper's own words are all there is to tell a tun device it
		// cannot open from any other failure.
		p := probe.Slirp
		if strings.Contains(err.Error(), tunDevice) {
			p = probe.Tun
		}
		return probe.Wrap(fmt.Errorf("start %s: %s", c.Mode.Helper(), oneLine(err)), p)
	}
	n.child = ChildConfig{Dev: msg.Dev, IP: msg.IP, Netmask: msg.Netmask, Gateway: msg.Gateway, MTU: msg.MTU, DNS: msg.DNS}
	info, err := pasta.NewChildDriver().ChildDriverInfo()
	if err != nil {
		return err
	}
	n.child.Configured = info.ConfiguresInterface
	if err := n.adoptHelper(pid); err != nil {
		return err
	}
	if c.Executable != "" {
		// pasta would outlive a SIGKILLed supervisor: it holds the
		// namespace open itself, and this version quits with it only for
		// a namespace given by path. A watchdog ends it then.
		if err := n.startWatchdog(); err != nil {
			return err
		}
	}
	return nil
}

// oneLine folds a helper's multi-line complaint into one line, without
// pasta's complaints that it has no syslog to write to.
func oneLine(err error) string {
	var kept []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if !strings.Contains(l, "to syslog") {
			kept = append(kept, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(kept, " ")
}

// Child is what the init needs to configure its side.
func (n *Network) Child() *ChildConfig { c := n.child; return &c }

// HelperPid is the pid of slirp4netns or pasta, 0 if not known.
func (n *Network) HelperPid() int { return n.helperPid }

// adoptHelper finds the helper among our children (the driver keeps its
// process to itself) and opens a pidfd on it, to notice its death.
func (n *Network) adoptHelper(initPid int) error {
	name := n.cfg.Mode.Helper()
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid == initPid {
				continue
			}
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if err != nil || !isHelper(name, strings.TrimSpace(string(comm))) {
				continue
			}
			fd, err := unix.PidfdOpen(ownPid(pid), 0)
			if err != nil {
				return fmt.Errorf("watch %s (pid %d): %w", name, pid, err)
			}
			n.helper, n.helperPid = fd, pid
			return nil
		}
	}
	return &NotRunningError{Helper: name}
}

// isHelper: pasta is passt under another name, and it executes itself
// again as passt.avx2 where the CPU has AVX2.
func isHelper(name, comm string) bool {
	if name == "pasta" {
		return comm == "pasta" || comm == "passt" || strings.HasPrefix(comm, "passt.")
	}
	return comm == name
}

// watch closes died when the helper ends before Close.
func (n *Network) watch() {
	defer close(n.watched)
	r, w, err := os.Pipe()
	if err != nil {
		return
	}
	defer r.Close()
	go func() { <-n.stopWatching; w.Close() }()
	fds := []unix.PollFd{{Fd: int32(n.helper), Events: unix.POLLIN}, {Fd: int32(r.Fd()), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err == nil && fds[0].Revents != 0 && fds[1].Revents == 0 {
			close(n.died)
		}
		return
	}
}

// Died is closed if the helper ends while the sandbox runs: the sandbox
// has lost its network.
func (n *Network) Died() <-chan struct{} { return n.died }

// Publish listens on the published host ports. Connections reach the
// sandbox once the init serves its side (ServePorts).
func (n *Network) Publish() error {
	if len(n.cfg.Ports) == 0 {
		return nil
	}
	fw := newForwarder(n.child.PortSocket, n.cfg.Log)
	if err := fw.listen(n.cfg.Ports); err != nil {
		return err
	}
	n.ports = fw
	return nil
}

// Close ends the listeners and the helper and waits for them.
func (n *Network) Close() error {
	if n == nil {
		return nil
	}
	if n.ports != nil {
		n.ports.close()
		n.ports = nil
	}
	close(n.stopWatching)
	if n.watched != nil {
		<-n.watched // before the kill, which is no death to report
	}
	var err error
	if n.helper >= 0 {
		unix.PidfdSendSignal(n.helper, unix.SIGKILL, nil, 0)
		if n.reap {
			var ws unix.WaitStatus
			unix.Wait4(n.helperPid, &ws, 0, nil)
		}
		unix.Close(n.helper)
		n.helper = -1
	}
	if n.cmd != nil {
		n.cmd.Process.Kill() // again, if there was no pidfd: harmless
		n.cmd.Wait()
		n.cmd = nil
	}
	if n.cleanup != nil {
		err = n.cleanup()
	}
	if n.watchdog != nil {
		n.wdPipe.Close()
		n.watchdog.Wait()
	}
	return err
}
