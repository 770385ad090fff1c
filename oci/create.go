package oci

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/packet"
)

// InitArg is argv[1] of the runtime re-executed as a container's init;
// cmd/rbox-runtime dispatches on it before it parses any flag.
const InitArg = "__init"

// The init finds its sync socket by this variable (a number: the
// descriptor after the --preserve-fds ones); it is the init's only
// variable until the process's own environment replaces it at execve.
const syncEnv = "_RBOX_OCI_SYNC"

// FifoName is the file in the container's state directory that the
// init blocks on (opening it for writing) until start opens it for
// reading: runc's exec.fifo. No process waits for the init meanwhile,
// so create can return and the init is the engine's child alone.
const FifoName = "exec.fifo"

// CreateOptions are create's settings besides the bundle.
type CreateOptions struct {
	// ID is the container's, for the hooks' state.
	ID string
	// StateDir is the container's directory under the state root; the
	// fifo is made there.
	StateDir string
	// PreserveFDs are passed on as descriptors 3, 4, ... of the
	// container's process (--preserve-fds).
	PreserveFDs int
	// Console receives the pty master when process.terminal is set.
	Console *os.File
	// Hooks runs prestart and createRuntime hooks with the container's
	// pid, after its namespaces exist and before its root is pivoted.
	Hooks func(pid int) error
	// Debugf, when set, gets the init's debug lines.
	Debugf func(format string, a ...any)
	// Cgroup, when set, is the container's (NewCgroup): the init is
	// born in it, before it runs anything of the container's.
	Cgroup *Cgroup
}

// initMessage is one packet of the create protocol:
//
//	create                                  init (the container's process)
//	  │── config {bundle} ───────────────────▶ │ (after newuidmap, if any)
//	  │                                        │ namespaces joined, mounts
//	  │◀───────────────────────── mounted ──── │ (only with hooks)
//	  │   prestart, createRuntime hooks        │
//	  │── continue ──────────────────────────▶ │ pivot_root, masks, checks
//	  │◀──────────────── pty + master fd ───── │ (process.terminal)
//	  │◀──────────────────────── ready ─────── │ blocks on exec.fifo
//	  │   write the pid file, exit 0           │
//	start: open exec.fifo for reading ───────▶ │ user, caps, seccomp, execve
//
// The init sends "error" instead of any of its messages, and ends.
type initMessage struct {
	Type   string  `json:"type"`
	Bundle *Bundle `json:"bundle,omitempty"`
	Fifo   string  `json:"fifo,omitempty"`
	ID     string  `json:"id,omitempty"`
	Pid    int     `json:"pid,omitempty"` // the init's, as create sees it
	Hooks  bool    `json:"hooks,omitempty"`
	Debug  bool    `json:"debug,omitempty"`
	Msg    string  `json:"msg,omitempty"`
	// Errno is the execve-like failure of process.args[0], so that create
	// words it as ExecError does.
	Errno int    `json:"errno,omitempty"`
	Prog  string `json:"prog,omitempty"`
}

// Create starts the container's process from b and returns its pid once
// the process is set up and blocked before the user's program (the fifo
// barrier). The process is this process's child; after create exits it
// belongs to the engine's subreaper (conmon, the shim), which reaps it.
func Create(b *Bundle, o CreateOptions) (pid int, err error) {
	fifo := o.StateDir + "/" + FifoName
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return 0, fmt.Errorf("create %q: %w", fifo, err)
	}
	// The init opens it for writing through its O_PATH descriptor once it
	// is root of its user namespace, whose uid 0 may be another host uid
	// than the runtime's (runc's mode, for the same reason). The state
	// directory is 0700: nobody else reaches it by path.
	if err := unix.Chmod(fifo, 0o622); err != nil {
		return 0, fmt.Errorf("create %q: %w", fifo, err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("create sync socket: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "sync")
	child := os.NewFile(uintptr(fds[1]), "sync-init")
	defer parent.Close()

	extra := make([]*os.File, 0, o.PreserveFDs+1)
	for i := 0; i < o.PreserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved"))
	}
	argv := []string{"rbox-runtime", InitArg}
	env := []string{syncEnv + "=" + strconv.Itoa(3+o.PreserveFDs), "GODEBUG=containermaxprocs=0,updatemaxprocs=0"}
	// With process.terminal the container's stdio is the pty, and the
	// init keeps none of create's (it gets /dev/null, as runc's does):
	// containerd's shim reads create's stdout and stderr to their end,
	// which an init holding them until start would never give it.
	var proc *os.Process
	var writeMaps func(pid int) error
	joined := joinsAny(b)
	if joined {
		pid, err = spawnJoined(b, o.PreserveFDs, child, argv, env)
		child.Close()
		if err != nil {
			return 0, err
		}
		if proc, err = os.FindProcess(pid); err != nil {
			return 0, err
		}
		if newUserNS(b) {
			writeMaps = func(pid int) error { return writeMapsOf(pid, b) }
		}
	} else {
		attr, newuidmap, err := cloneAttr(b)
		if err != nil {
			child.Close()
			return 0, err
		}
		cmd := &exec.Cmd{
			Path:        "/proc/self/exe",
			Args:        argv,
			ExtraFiles:  append(extra, child),
			Env:         env,
			SysProcAttr: attr,
		}
		if !b.Process.Terminal {
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		}
		err = startIn(o.Cgroup, cmd)
		child.Close()
		if err != nil {
			return 0, fmt.Errorf("start the container's init: %w", err)
		}
		proc, pid = cmd.Process, cmd.Process.Pid
		if newuidmap {
			writeMaps = func(pid int) error { return writeMapsHelper(pid, b) }
		}
	}
	// Until the init reports ready, a failure of ours must not leave it
	// behind: conmon would wait for a pid it was never told.
	defer func() {
		if err != nil {
			proc.Kill()
			proc.Wait()
		}
	}()
	if joined && o.Cgroup != nil {
		// The joining step's clone is not born in the cgroup as
		// startIn's is: the init is moved there before it hears
		// anything, and it forks nothing before that.
		if err := o.Cgroup.add(pid); err != nil {
			return 0, err
		}
	}
	if writeMaps != nil {
		if err := writeMaps(pid); err != nil {
			return 0, err
		}
	}
	ch := channel{parent}
	if err := ch.send(initMessage{Type: "config", Bundle: b, Fifo: fifo, ID: o.ID, Pid: pid, Hooks: o.Hooks != nil, Debug: o.Debugf != nil}); err != nil {
		return 0, err
	}
	for {
		m, files, err := ch.recv()
		if err != nil {
			return 0, fmt.Errorf("container init: %w", err)
		}
		switch m.Type {
		case "debug":
			if o.Debugf != nil {
				o.Debugf("init: %s", m.Msg)
			}
		case "mounted":
			if err := o.Hooks(pid); err != nil {
				return 0, err
			}
			if err := ch.send(initMessage{Type: "continue"}); err != nil {
				return 0, err
			}
		case "pty":
			if len(files) != 1 || o.Console == nil {
				closeFiles(files)
				return 0, errors.New("container init: pty message without a master")
			}
			err := sendFD(o.Console, int(files[0].Fd()))
			files[0].Close()
			if err != nil {
				return 0, fmt.Errorf("send the pty master to --console-socket: %w", err)
			}
		case "ready":
			return pid, nil
		case "error":
			if m.Errno != 0 {
				return 0, ExecError(m.Prog, unix.Errno(m.Errno))
			}
			return 0, errors.New(m.Msg)
		default:
			return 0, fmt.Errorf("container init: unexpected message %q", m.Type)
		}
		closeFiles(files)
	}
}

// cloneAttr is the clone of a config that joins no namespace (spawn.go
// starts the others): the namespaces config.json makes new, and the ID
// maps, which Go's runtime writes when this process may (root of its
// user namespace, or a map of its own IDs alone); otherwise newuidmap
// writes them once the init exists, and the init waits for its config.
func cloneAttr(b *Bundle) (*syscall.SysProcAttr, bool, error) {
	attr := &syscall.SysProcAttr{}
	userNS := false
	for _, ns := range b.Namespaces {
		switch ns.Type {
		case specs.UserNamespace:
			attr.Cloneflags |= unix.CLONE_NEWUSER
			userNS = true
		case specs.MountNamespace:
			attr.Cloneflags |= unix.CLONE_NEWNS
		case specs.PIDNamespace:
			attr.Cloneflags |= unix.CLONE_NEWPID
		case specs.NetworkNamespace:
			attr.Cloneflags |= unix.CLONE_NEWNET
		case specs.IPCNamespace:
			attr.Cloneflags |= unix.CLONE_NEWIPC
		case specs.UTSNamespace:
			attr.Cloneflags |= unix.CLONE_NEWUTS
		case specs.CgroupNamespace:
			attr.Cloneflags |= unix.CLONE_NEWCGROUP
		case specs.TimeNamespace:
			// The init unshares it: a new time namespace applies to
			// the children of the caller (and to it after execve).
		}
	}
	if !userNS {
		return attr, false, nil
	}
	// The init's uid inside may be no root (podman's keep-id maps the
	// runtime's own uid to the user's), and an execve as anyone but root
	// of the namespace keeps no capability: the clone raises them all as
	// ambient ones, which survive it. applyCaps clears them before the
	// process runs.
	for i := 0; i <= lastCap(); i++ {
		attr.AmbientCaps = append(attr.AmbientCaps, uintptr(i))
	}
	if os.Geteuid() == 0 || ownIDsOnly(b) {
		for _, m := range b.UIDMappings {
			attr.UidMappings = append(attr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		for _, m := range b.GIDMappings {
			attr.GidMappings = append(attr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		// An unprivileged writer of gid_map must deny setgroups first.
		attr.GidMappingsEnableSetgroups = os.Geteuid() == 0
		return attr, false, nil
	}
	return attr, true, nil
}

// ownIDsOnly: the maps name this process's uid and gid alone, which it
// may write itself.
func ownIDsOnly(b *Bundle) bool {
	return len(b.UIDMappings) == 1 && len(b.GIDMappings) == 1 &&
		b.UIDMappings[0].Size == 1 && b.UIDMappings[0].HostID == uint32(os.Geteuid()) &&
		b.GIDMappings[0].Size == 1 && b.GIDMappings[0].HostID == uint32(os.Getegid())
}

func lastCap() int {
	bs, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 40
	}
	n, err := strconv.Atoi(string(trimNL(bs)))
	if err != nil {
		return 40
	}
	return n
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func newUserNS(b *Bundle) bool {
	for _, ns := range b.Namespaces {
		if ns.Type == specs.UserNamespace && ns.Path == "" {
			return true
		}
	}
	return false
}

// writeMapsOf writes the init's maps as cloneAttr's would be written:
// directly where this process may, else through the setuid helpers.
func writeMapsOf(pid int, b *Bundle) error {
	if os.Geteuid() != 0 && !ownIDsOnly(b) {
		return writeMapsHelper(pid, b)
	}
	line := func(ms []IDMapping) []byte {
		var s []byte
		for _, m := range ms {
			s = fmt.Appendf(s, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		return s
	}
	proc := fmt.Sprintf("/proc/%d/", pid)
	if os.Geteuid() != 0 {
		// An unprivileged writer of gid_map must deny setgroups first.
		if err := os.WriteFile(proc+"setgroups", []byte("deny"), 0); err != nil {
			return fmt.Errorf("linux.gidMappings: deny setgroups: %w", err)
		}
	}
	if err := os.WriteFile(proc+"uid_map", line(b.UIDMappings), 0); err != nil {
		return fmt.Errorf("linux.uidMappings: %w", err)
	}
	if err := os.WriteFile(proc+"gid_map", line(b.GIDMappings), 0); err != nil {
		return fmt.Errorf("linux.gidMappings: %w", err)
	}
	return nil
}

// writeMapsHelper writes the init's maps through the setuid helpers,
// which check them against /etc/subuid and /etc/subgid.
func writeMapsHelper(pid int, b *Bundle) error {
	for _, h := range []struct {
		prog string
		ms   []IDMapping
	}{{"newuidmap", b.UIDMappings}, {"newgidmap", b.GIDMappings}} {
		args := []string{strconv.Itoa(pid)}
		for _, m := range h.ms {
			args = append(args, strconv.Itoa(int(m.ContainerID)), strconv.Itoa(int(m.HostID)), strconv.Itoa(int(m.Size)))
		}
		out, err := exec.Command(helperPath(h.prog), args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("linux.uidMappings/gidMappings: %s %v: %w: %s", h.prog, args, err, trimNL(out))
		}
	}
	return nil
}

// sendFD sends f over the connected unix socket c, as runc sends the
// pty master to --console-socket: one message, the descriptor attached.
func sendFD(c *os.File, fd int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(s uintptr) {
		serr = unix.Sendmsg(int(s), []byte("/dev/ptmx"), unix.UnixRights(fd), nil, 0)
	})
	if err != nil {
		return err
	}
	return serr
}

// channel is the create protocol's socket: one JSON message a packet.
type channel struct{ f *os.File }

func (c channel) send(m initMessage, fds ...int) error {
	if err := packet.Send(c.f, m, fds...); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

var errHangup = errors.New("the other side hung up before it said why")

// maxMessage bounds one message: the largest config.json Load takes,
// and the init message's few other fields.
const maxMessage = maxConfigSize + 1<<16

func (c channel) recv() (initMessage, []*os.File, error) {
	var m initMessage
	files, err := packet.Recv(c.f, &m, maxMessage)
	if errors.Is(err, packet.ErrClosed) {
		err = errHangup
	}
	if err != nil {
		return initMessage{}, nil, err
	}
	return m, files, nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// Release lets a created container's process run: it opens exec.fifo
// for reading, which unblocks the init's open for writing, and reads the
// byte the init writes once it has. A fifo without a writer (the init
// gone) is an error, not a hang.
func Release(stateDir string, timeout time.Duration) error {
	p := stateDir + "/" + FifoName
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", p, err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1)
	for {
		n, err := unix.Read(fd, buf)
		if n == 1 {
			break
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return fmt.Errorf("read %q: %w", p, err)
		}
		// n == 0 and no error: no writer yet (EOF before the init opened
		// it) or it already closed; poll for its open and write.
		if time.Now().After(deadline) {
			return fmt.Errorf("container process did not take the start within %s", timeout)
		}
		time.Sleep(time.Millisecond)
	}
	// The fifo has done its work; a second start finds none.
	os.Remove(p)
	return nil
}

// helperPath finds a setuid helper in PATH, or where Debian and most
// distributions install it: the engines may run the runtime without PATH.
func helperPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return dir + "/" + name
		}
	}
	return name
}
