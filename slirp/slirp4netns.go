package slirp

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// slirp4netns's fixed addresses, the defaults of its --cidr 10.0.2.0/24.
const (
	tapName      = "tap0"
	slirpIP      = "10.0.2.100"
	slirpNetmask = 24
	slirpGateway = "10.0.2.2"
	slirpDNS     = "10.0.2.3"
)

// startSlirp4netns runs slirp4netns against the network namespace of pid
// with its documented command line and waits on its ready-fd. slirp4netns
// joins the sandbox's user and network namespaces itself and creates the
// tap device there (TUNSETIFF on a name that does not exist yet), left
// down and without an address: the init configures it (ConfigureChild).
// rootlesskit's driver made the device first with two `nsenter ... ip`
// runs and probed the binary with `slirp4netns --help` on every start;
// here the probe is cached (features).
func (n *Network) startSlirp4netns(pid int) error {
	c := n.cfg
	bin, err := exec.LookPath("slirp4netns")
	if err != nil {
		return err
	}
	f, err := probeFeatures(bin, c.CacheDir)
	if err != nil {
		return err
	}
	noLoopback := !c.Mode.AllowHostLoopback
	if noLoopback && !f.DisableHostLoopback {
		return &MissingError{"cannot keep the sandbox from the host's loopback with this slirp4netns (--disable-host-loopback needs v0.3.0 or later): upgrade it, or ask for slirp:allow-host-loopback"}
	}
	args := []string{"--mtu", strconv.Itoa(c.MTU), "--ready-fd", "3"}
	if noLoopback {
		args = append(args, "--disable-host-loopback")
	}
	// The hardening rootlesskit asks for: its own mount namespace with
	// nothing of the host but /etc and /run, and a seccomp filter, where
	// this slirp4netns and kernel have them.
	if f.EnableSandbox && helperSandbox() {
		args = append(args, "--enable-sandbox")
	}
	if f.EnableSeccomp && kernelSeccomp() {
		args = append(args, "--enable-seccomp")
	}
	args = append(args, strconv.Itoa(pid), tapName)

	// The init makes the tap as its first step (MakeTap); wait until it
	// is there, so that slirp4netns attaches to it rather than making a
	// device of its own.
	if err := waitTap(pid, tapName); err != nil {
		return err
	}
	// The init holds the device for a moment after it appears (it makes
	// it persistent, then lets it go): a slirp4netns that came in that
	// moment found it busy and exited. Once more, then, a little later.
	var rerr error
	for try := 0; try < 3; try++ {
		if rerr = n.runSlirp4netns(bin, args); rerr == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if rerr != nil {
		return rerr
	}
	n.child = ChildConfig{Dev: tapName, IP: slirpIP, Netmask: slirpNetmask, Gateway: slirpGateway, MTU: c.MTU, DNS: []string{slirpDNS}}
	return nil
}

// runSlirp4netns starts slirp4netns and waits for its ready-fd.
func (n *Network) runSlirp4netns(bin string, args []string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("ready pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = n.cfg.Log, n.cfg.Log
	cmd.ExtraFiles = []*os.File{w}
	// Ends with the supervisor however it ends (the watchdog is for pasta,
	// which daemonizes).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	// It writes "1" once attached to the device; it closes the pipe
	// unwritten only by dying.
	var b [1]byte
	if k, _ := r.Read(b[:]); k != 1 {
		cmd.Process.Kill()
		cmd.Wait()
		return &NotRunningError{Helper: fmt.Sprintf("slirp4netns (%s %v)", bin, args)}
	}
	n.cmd = cmd
	n.helperPid = cmd.Process.Pid
	if n.helper, err = unix.PidfdOpen(n.helperPid, 0); err != nil {
		n.helper = -1
		return fmt.Errorf("watch slirp4netns (pid %d): %w", n.helperPid, err)
	}
	return nil
}

// waitTap waits until the network namespace of pid has the device name,
// as /proc/PID/net/dev lists it (the init is still dumpable: ours to
// read), for at most 5 s.
func waitTap(pid int, name string) error {
	path := "/proc/" + strconv.Itoa(pid) + "/net/dev"
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("wait for the sandbox's %s: %w", name, err)
		}
		if hasDevice(string(b), name) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sandbox's init did not make %s in 5s", name)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// hasDevice reads /proc/net/dev: two header lines, then "NAME: counters".
func hasDevice(netdev, name string) bool {
	for _, l := range strings.Split(netdev, "\n") {
		if dev, _, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(dev) == name {
			return true
		}
	}
	return false
}

// kernelSeccomp: slirp4netns's --enable-seccomp needs seccomp filters,
// which a kernel without them refuses with EINVAL (a NULL filter is
// EFAULT where they exist).
func kernelSeccomp() bool {
	if unix.Prctl(unix.PR_GET_SECCOMP, 0, 0, 0, 0) == unix.EINVAL {
		return false
	}
	return unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, 0, 0, 0) != unix.EINVAL
}
