package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/probe"
	"github.com/rbox-sandbox/rbox/slirp"
	"github.com/rbox-sandbox/rbox/state"
	"github.com/rbox-sandbox/rbox/userns"
)

// Options are the supervisor's host-side settings, which are not part of
// what the sandbox is.
type Options struct {
	// Detached, when set, makes this a detached run: output goes to the
	// sandbox's log, the state stays after exit for rbox ps/wait/rm, and
	// the outcome of the start is reported on this pipe (see Detach).
	Detached *os.File
	// StateRoot is the per-user directory for sandbox state.
	StateRoot string
	// LayerRoot is where the sandboxes' writable layers go, on disk
	// ($XDG_DATA_HOME/rbox/sandboxes); "" keeps them in the state root.
	LayerRoot string
	// Executable is the rbox binary to re-execute as the init.
	Executable            string
	Stdin, Stdout, Stderr *os.File
	// CgroupEnv is how to reach the user's systemd (the CLI reads the
	// variables); used only when the Spec asks for limits or statistics.
	CgroupEnv cgroupv2.Env
	// Status, when set, is filled as the run goes (see Status).
	Status *Status
	// Words renders the {Field} references of a notice the run prints
	// (cmd/rbox: the flag); nil leaves the Go names.
	Words func(field string) string
}

// ExitTimeout is the status of a run ended by --timeout, as timeout(1).
const ExitTimeout = 124

// exitFailure is the status of rbox's own failures, as docker's.
const exitFailure = 125

// cleanup is a stack of undo steps: every resource the run acquires
// pushes the step that lets it go, and the run pops them all, the last
// first, however it ends.
type cleanup []func()

func (c *cleanup) push(f func()) { *c = append(*c, f) }

func (c *cleanup) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}

// supervisor is one run of a sandbox.
type supervisor struct {
	p     *Plan
	spec  *Spec
	o     Options
	epoch int64
	undo  cleanup

	st      *state.Box
	meta    *state.Meta
	cgm     cgroupv2.Manager
	cg      *cgroupv2.Cgroup
	nw      *slirp.Network
	sb      *userns.Sandbox
	waited  bool        // sb's init has been waited for
	started atomic.Bool // the workload runs
	code    int         // the status the run ends with

	// release is the undo step of the state, run once: early, while the
	// kernel finishes the init's exit (see early), or from the undo
	// stack, which then waits for the early run to end.
	release func()
}

// Run runs the planned sandbox to its end. It returns the status to exit
// with: the workload's (128+N for a signal, 124 for --timeout), or
// 125-127 with the error when rbox itself, or the start of the workload,
// failed.
func Run(p *Plan, o Options) (int, error) {
	s := &supervisor{p: p, spec: &p.Spec, o: o, epoch: userns.Now(), code: exitFailure}
	code, err := s.run()
	if err != nil && s.sb != nil && !s.waited {
		// Before anything else is undone: the init must not outlive its
		// network, cgroup or state directory.
		s.sb.Kill()
	}
	s.code = code
	s.undo.run()
	s.debugf("supervisor: state removed")
	return code, err
}

func (s *supervisor) debugf(format string, a ...any) {
	if s.spec.Debug {
		userns.Debugf(s.epoch, format, a...)
	}
}

func (s *supervisor) run() (int, error) {
	spec, o, p := s.spec, s.o, s.p
	// Nothing we inherited beyond stdio may reach the helpers or the
	// sandbox.
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)

	// The network's helpers, the tun device and the host ports are checked
	// before anything exists.
	netCfg := slirp.Config{Mode: p.Net, MTU: spec.MTU, Ports: spec.Ports, Executable: o.Executable, CacheDir: o.StateRoot}
	if netCfg.Executable == "" {
		netCfg.Executable = "/proc/self/exe"
	}
	if err := slirp.Check(netCfg); err != nil {
		return exitFailure, netError(spec, p.Net, err)
	}

	// The cgroup manager is picked before anything exists, so a host
	// that cannot give limits refuses them with nothing to clean up.
	if spec.NeedsCgroup() {
		cgm, err := openCgroupManager(spec, o)
		if err != nil {
			return exitFailure, err
		}
		s.cgm = cgm
		s.undo.push(func() { cgm.Close() })
		s.debugf("supervisor: cgroup manager %s", cgm.Kind())
	}

	if err := s.openState(); err != nil {
		return exitFailure, err
	}
	o = s.o // a detached sandbox's output goes to its log now
	merged, rootfs, err := s.prepareLayer()
	if err != nil {
		return exitFailure, err
	}

	st := s.st
	s.debugf("supervisor: state %s, id map %s", st.Dir, mapName(p.IDMap))
	cfg := initConfig(spec, st, p.IDMap)
	cfg.Epoch = s.epoch
	cfg.Caps, cfg.Seccomp = p.Caps, p.Seccomp
	s.debugf("supervisor: capabilities [%s], seccomp %s", p.Caps, seccompName(spec, p.Seccomp))
	hostname := sandboxHostname(spec, st)
	in := opInput{Hostname: hostname, Merged: merged, Overlay: rootfs, Files: etcFiles(spec, hostname), Cgroup: s.cgm != nil}
	in.Etc = in.Files
	if in.Overlay.Generated, err = generatedLayer(genDir(st.Layer(), rootfs.Tmpfs), spec, in.Files); err != nil {
		return exitFailure, err
	} else if in.Overlay.Generated != "" {
		in.Files = nil
	}
	if line, err := chooseOverlay(&in.Overlay, spec, p.IDMap); err != nil {
		return exitFailure, err
	} else if line != "" {
		fmt.Fprintf(o.Stderr, "rbox: %s\n", line)
	}
	cfg.Layer = filepath.Dir(in.Overlay.Upper)
	cfg.Cgroup = s.cgm != nil
	if spec.Tty && !st.Keep {
		if ws, err := unix.IoctlGetWinsize(int(o.Stdout.Fd()), unix.TIOCGWINSZ); err == nil {
			cfg.Rows, cfg.Cols = ws.Row, ws.Col
		}
	}

	sb, err := userns.Start(cfg, userns.StartOptions{
		Executable: o.Executable,
		NewNetwork: p.Net.Kind != NetHost,
		SealedCopy: needSealedCopy(p.Caps, o.Executable),
		Cgroup:     s.cgm != nil,
		Tap:        slirp.Tap(p.Net),
		Stdin:      o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr,
	})
	if err != nil {
		return exitFailure, err
	}
	s.sb = sb
	s.debugf("supervisor: init cloned, pid %d (%d in /proc)", sb.Pid(), sb.ProcPid())
	s.meta.InitPid = sb.Pid()
	if s.meta.InitStart, err = state.ProcStart(sb.ProcPid()); err != nil {
		return exitFailure, fmt.Errorf("read the init's start time: %w", err)
	}
	if err := state.WriteMeta(st.Dir, s.meta); err != nil {
		return exitFailure, err
	}
	if p.IDMap.Full {
		if err := idmap.Apply(p.IDMap, sb.Pid(), p.Helpers); err != nil {
			return exitFailure, fmt.Errorf("write the sandbox's ID map: %w", err)
		}
		s.debugf("supervisor: newuidmap and newgidmap done")
	}
	// The init waits for "go": it is in its cgroup before anything of the
	// sandbox runs, and its cgroup namespace will be rooted there.
	if s.cgm != nil {
		s.undo.push(func() { destroyCgroup(s.cgm, s.cg, o.StateRoot, s.o.Stderr) })
		if s.cg, err = createCgroup(s.cgm, spec, st.ID, sb.Pid()); err != nil {
			return exitFailure, err
		}
		cfg.CgroupLeaf = s.cg.Workload()
		s.debugf("supervisor: cgroup %s", s.cg.Path())
	}
	// The user-mode network: its helper against the init's pid, while the
	// init waits; the init configures its side before it pivots.
	if p.Net.UserMode() {
		netCfg.StateDir = st.Dir
		netCfg.Log = io.Discard
		if spec.Debug {
			netCfg.Log = s.o.Stderr
		}
		if s.nw, err = slirp.Start(netCfg, sb.ProcPid()); err != nil {
			return exitFailure, netError(spec, p.Net, err)
		}
		s.undo.push(func() { s.nw.Close() })
		in.Network = s.nw.Child()
		hostResolv, _ := os.ReadFile("/etc/resolv.conf")
		resolv := etcFile{Path: "/etc/resolv.conf", Content: slirp.ResolvConf(in.Network.DNS, hostResolv)}
		in.Etc = append(in.Etc, resolv)
		if in.Overlay.Generated == "" {
			in.Files = append(in.Files, resolv)
		} else if err := writeGenerated(in.Overlay.Generated, resolv.Path, resolv.Content); err != nil {
			return exitFailure, err
		}
		s.debugf("supervisor: network %s up (%s, pid %d)", p.Net, p.Net.Helper(), s.nw.HelperPid())
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	s.undo.push(func() { signal.Stop(sigs) })
	// The op list last: it names the network's side, known only now.
	cfg.Ops = initOps(p, in)
	if err := sb.Go(); err != nil {
		return exitFailure, err
	}
	if s.nw != nil && len(spec.Ports) > 0 {
		if err := s.nw.Publish(); err != nil {
			return exitFailure, netError(spec, p.Net, err)
		}
		if err := sb.PortsPublished(); err != nil {
			return exitFailure, err
		}
		s.debugf("supervisor: ports published")
	}
	// rbox exec creates and starts at once: "start" waits in the socket
	// for the init to reach it, so the exec path pays no round trip.
	if err := sb.StartWorkload(); err != nil {
		return exitFailure, err
	}
	return s.wait(sigs)
}

// openState makes the sandbox's state directory and its meta.json; its
// undo writes the outcome of a kept sandbox and removes the rest.
func (s *supervisor) openState() error {
	o, spec := s.o, s.spec
	st, err := state.NewBox(o.StateRoot, o.LayerRoot, spec.Name)
	var inUse *state.NameInUseError
	if errors.As(err, &inUse) {
		return fieldErr("Name", spec.Name, "the name %q is in use by sandbox %s: pick another {Name}, or rbox rm %s once it has exited", inUse.Name, inUse.ID, inUse.Name)
	}
	if err != nil {
		return err
	}
	s.st = st
	st.Keep = o.Detached != nil
	if st.LayerNote != "" {
		s.debugf("supervisor: the writable layer in the state directory: %s", st.LayerNote)
	}
	if o.Status != nil {
		o.Status.Name, o.Status.ID = st.Name, st.ID
	}
	s.meta = &state.Meta{
		ID: st.ID, Name: st.Name, Command: spec.Args, Rootfs: spec.Rootfs, Layers: s.p.Root.Layers, Net: spec.Net,
		Detached: st.Keep, SupervisorPid: os.Getpid(), Created: time.Now(), Status: state.Running,
	}
	for _, p := range spec.Ports {
		s.meta.Ports = append(s.meta.Ports, p.String())
	}
	s.release = sync.OnceFunc(func() {
		st.Release(func(dirs []string) error { return reap(dirs, s.p.IDMap, s.p.Helpers, o) })
	})
	s.undo.push(func() {
		// A detached sandbox whose workload never started is not kept:
		// the failure went to the user who asked for it.
		if st.Keep && !s.started.Load() {
			st.Keep = false
		}
		if st.Keep {
			if o.Status != nil && o.Status.Done != nil {
				o.Status.Done(s.code)
			}
			code := s.code
			s.meta.Status, s.meta.ExitCode, s.meta.Finished = state.Exited, &code, time.Now()
			state.WriteMeta(st.Dir, s.meta)
		}
		s.release()
	})
	if s.meta.SupervisorStart, err = state.ProcStart(userns.ProcPidOf(s.meta.SupervisorPid)); err != nil {
		return fmt.Errorf("read the supervisor's start time: %w", err)
	}
	if st.Keep {
		// From here on everything the sandbox and we print goes to its log.
		log, err := os.OpenFile(filepath.Join(st.Dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		s.undo.push(func() { log.Close() })
		s.o.Stdout, s.o.Stderr = log, log
	}
	return nil
}

// prepareLayer makes the writable layer (in the layer directory on disk,
// or the locked --persist directory) and the overlay's mount point.
func (s *supervisor) prepareLayer() (string, overlay.Config, error) {
	spec, st := s.spec, s.st
	if len(s.p.Root.LayerLocks) > 0 {
		release, err := state.HoldShared(s.p.Root.LayerLocks)
		if err != nil {
			return "", overlay.Config{}, fmt.Errorf("lock the image's layers: %w", err)
		}
		s.undo.push(release)
		// An rmi that took a layer before us has removed it by now.
		for _, l := range s.p.Root.Layers {
			if _, err := os.Stat(l); err != nil {
				return "", overlay.Config{}, fmt.Errorf("the image's layer %q was removed meanwhile: pull the image again", l)
			}
		}
	}
	spaceDir := st.Layer()
	if spec.Persist != "" {
		spaceDir = spec.Persist
	}
	tl, tupper, twork, err := tmpfsLayer(spec, st.Layer(), s.o.Stderr, s.o.Words)
	if err != nil {
		return "", overlay.Config{}, err
	}
	if err := checkLayerSpace(spaceDir, spec.Persist != ""); tl == nil && err != nil {
		return "", overlay.Config{}, err
	}
	layerDir := st.Layer()
	if spec.Persist != "" {
		unlock, err := lockPersist(spec.Persist)
		if err != nil {
			return "", overlay.Config{}, err
		}
		s.undo.push(unlock)
		layerDir = spec.Persist
	}
	upper, work := tupper, twork
	if tl == nil {
		upper, work, err = overlay.Prepare(layerDir, s.p.Root.Dir)
	}
	if err != nil {
		return "", overlay.Config{}, err
	}
	merged := filepath.Join(st.Layer(), "merged")
	if err := os.Mkdir(merged, 0o700); err != nil {
		return "", overlay.Config{}, err
	}
	c := overlay.Config{Lower: s.p.Root.Dir, Lowers: s.p.Root.Layers, Upper: upper, Work: work, Driver: spec.Overlay, Tmpfs: tl}
	if tl == nil && spec.Persist == "" {
		c.Retry = retryLayer(spec, st.Layer(), s.o.Words)
	}
	// A layer removed at the end needs no sync, at the exit least of all.
	c.Volatile = spec.Persist == "" && !st.Keep
	if p, err := exec.LookPath("fuse-overlayfs"); err == nil {
		c.FuseOverlayFS = p
	}
	return merged, c, nil
}

// wait relays signals and the terminal until the init exits, and ends
// the workload at --timeout.
func (s *supervisor) wait(sigs <-chan os.Signal) (int, error) {
	spec, o, sb := s.spec, s.o, s.sb
	began := time.Now()
	var tty ttyRelay
	res := make(chan userns.Result, 1)
	go func() {
		res <- sb.Wait(userns.Hooks{
			Pty: func(m *os.File) { tty.start(m, o) },
			Exited: func() {
				if s.cg != nil {
					s.cg.WorkloadEnded()
				}
			},
			Reported: s.early,
			Started: func(int) {
				s.started.Store(true)
				if o.Status != nil {
					o.Status.WorkloadStarted = time.Now()
				}
				if o.Detached != nil {
					reportDetached(o.Detached, s.st.Name, 0, nil)
				}
			},
		})
	}()
	var netDied <-chan struct{}
	if s.nw != nil {
		netDied = s.nw.Died()
	}
	// --timeout: SIGTERM at the deadline, SIGKILL after the grace period,
	// and the status coreutils timeout(1) uses.
	var deadline, grace <-chan time.Time
	if spec.Timeout > 0 {
		deadline = time.After(spec.Timeout)
	}
	timedOut := false
	for {
		select {
		case sig := <-sigs:
			if sig == unix.SIGWINCH && tty.resize() {
				continue
			}
			sb.Signal(sig)
		case <-netDied:
			netDied = nil
			fmt.Fprintf(o.Stderr, "rbox: %s (pid %d) exited during the run: the sandbox has no network any more\n", s.p.Net.Helper(), s.nw.HelperPid())
		case <-deadline:
			deadline, timedOut = nil, true
			fmt.Fprintf(o.Stderr, "rbox: timeout: the workload ran for %s; sending SIGTERM (SIGKILL in %s)\n", spec.Timeout, spec.StopTimeout)
			sb.Signal(unix.SIGTERM)
			grace = time.After(spec.StopTimeout)
		case <-grace:
			grace = nil
			fmt.Fprintf(o.Stderr, "rbox: timeout: the workload ignored SIGTERM for %s; killing the sandbox\n", spec.StopTimeout)
			sb.Signal(unix.SIGKILL)
		case r := <-res:
			s.waited = true
			s.debugf("supervisor: init exited")
			tty.finish()
			code := r.Code
			if o.Status != nil {
				o.Status.WorkloadCode, o.Status.TimedOut = r.Code, timedOut
			}
			if s.cg != nil {
				var oom bool
				code, oom, r.Err = reportCgroup(s.cg, spec, o.Stderr, time.Since(began), code, r.Err)
				if o.Status != nil {
					o.Status.OOMKilled = &oom
				}
			}
			if timedOut {
				return ExitTimeout, nil
			}
			return code, noOverlayAdvice(s.p, r.Err)
		}
	}
}

// early starts the removal of the state directory and the writable
// layer once the init has reported the end and everything else in the
// sandbox is dead, while the kernel tears the init's namespaces down (a
// mount namespace going away unmounts the overlay; removing its emptied
// upper and work directories meanwhile is harmless). The undo stack
// waits for it before rbox exits. A kept sandbox's state is written at
// the end, with the status, so it waits; so does everything that needs
// the init gone (the cgroup, the --persist lock, the image's layer
// locks). So does a run with a network helper: the helper may still be
// relaying the workload's last bytes (TestHostLoopback's "escaped" went
// missing through pasta when it was closed early), and the state
// directory holds its files until it is closed.
func (s *supervisor) early() {
	if s.st.Keep || s.nw != nil {
		return
	}
	go s.release()
}

// noOverlayAdvice adds to a start that neither overlay driver could
// mount (its error names both probes) the way that needs none: a root
// without a writable layer, whose image the init binds read-only.
func noOverlayAdvice(p *Plan, err error) error {
	probes := probe.Of(err)
	if !slices.Contains(probes, probe.Overlay) || !slices.Contains(probes, probe.Fuse) {
		return err
	}
	spec := &p.Spec
	switch {
	case !spec.ReadOnly:
		return fieldErr("ReadOnly", "", "%w; {ReadOnly} needs no overlay", err)
	case p.Caps.Has(unix.CAP_SYS_ADMIN):
		return fieldErr("CapAdd", "SYS_ADMIN", "%w; {ReadOnly} goes without an overlay only for a workload without SYS_ADMIN ({CapAdd}), which could remount the image read-write", err)
	}
	return err
}

// netError words a failure of the user-mode network by the field it
// comes from: a published port, or the network mode.
func netError(spec *Spec, mode slirp.Mode, err error) error {
	var pe *slirp.PortError
	var me *slirp.MissingError
	var nr *slirp.NotRunningError
	switch {
	case errors.As(err, &pe):
		return fieldErr("Ports", pe.Port.String(), "{Ports} %s: %w", pe.Port, err)
	case errors.As(err, &me):
		return fieldErr("Net", spec.Net, "{Net} %s %w; or use {Net} none or {Net} host", mode.Kind, err)
	case errors.As(err, &nr):
		return fieldErr("Net", spec.Net, "{Net} %s: %w (run with {Debug} to see its output)", mode.Kind, err)
	}
	return fieldErr("Net", spec.Net, "{Net} %s: %w", mode.Kind, err)
}
