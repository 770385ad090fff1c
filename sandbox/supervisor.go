package sandbox

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/overlay"
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
	// Executable is the rbox binary to re-execute as the init.
	Executable            string
	Stdin, Stdout, Stderr *os.File
	// CgroupEnv is how to reach the user's systemd (the CLI reads the
	// variables); used only when the Spec asks for limits or statistics.
	CgroupEnv cgroupv2.Env
	// SubUIDFile and SubGIDFile default to /etc/subuid and /etc/subgid.
	SubUIDFile, SubGIDFile string
	// Status, when set, is filled as the run goes (see Status).
	Status *Status
}

// ExitError is a failure of rbox itself, with the status to exit with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

func fail(err error) error { return &ExitError{Code: 125, Err: err} }

// Run runs the sandbox to its end and returns the workload's exit status.
// A non-nil error is rbox's own failure, already carrying its status.
func Run(spec *Spec, o Options) (int, error) {
	epoch := userns.Now()
	// Nothing we inherited beyond stdio may reach the helpers or the
	// sandbox.
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	debugf := func(format string, a ...any) {
		if spec.Debug {
			userns.Debugf(epoch, format, a...)
		}
	}
	capSet, filter, err := hardening(spec)
	if err != nil {
		return 125, fail(err)
	}
	if w := readOnlyWarning(spec, capSet); w != "" {
		fmt.Fprintln(o.Stderr, w)
	}
	if w := seccompWarning(spec, filter); w != "" {
		fmt.Fprintf(o.Stderr, "rbox: warning: %s\n", w)
	}
	plan, helpers, err := planIDMap(spec, o)
	if err != nil {
		return 125, fail(err)
	}
	if spec.User != "" {
		if err := checkNumericUser(spec.User, plan); err != nil {
			return 125, fail(err)
		}
	}
	if err := checkRootfsReadable(spec.Rootfs, plan); err != nil {
		return 125, fail(err)
	}

	// The network's helpers, the tun device and the host ports are checked
	// before anything exists, too.
	mode, err := slirp.ParseMode(spec.Net)
	if err != nil {
		return 125, fail(err)
	}
	netCfg := slirp.Config{Mode: mode, MTU: spec.MTU, Ports: spec.Ports, Executable: o.Executable}
	if netCfg.Executable == "" {
		netCfg.Executable = "/proc/self/exe"
	}
	if err := slirp.Check(netCfg); err != nil {
		return 125, fail(err)
	}

	// The cgroup manager is picked before anything exists, so a host
	// that cannot give limits refuses them with nothing to clean up.
	var cgm cgroupv2.Manager
	if spec.NeedsCgroup() {
		if cgm, err = openCgroupManager(spec, o); err != nil {
			return 125, fail(err)
		}
		defer cgm.Close()
		debugf("supervisor: cgroup manager %s", cgm.Kind())
	}

	st, err := newState(o.StateRoot, spec.Name)
	if err != nil {
		return 125, fail(err)
	}
	st.keep = o.Detached != nil
	if o.Status != nil {
		o.Status.Name, o.Status.ID = st.name, st.id
	}
	meta := &Meta{
		ID: st.id, Name: st.name, Command: spec.Args, Rootfs: spec.Rootfs, Net: spec.Net,
		Detached: st.keep, SupervisorPid: os.Getpid(), Created: time.Now(), Status: StatusRunning,
	}
	if meta.SupervisorStart, err = state.ProcStart(meta.SupervisorPid); err != nil {
		st.release(nil)
		return 125, fail(fmt.Errorf("read the supervisor's start time: %w", err))
	}
	for _, p := range spec.Ports {
		meta.Ports = append(meta.Ports, p.String())
	}
	code := 125
	// A detached sandbox whose workload never started is not kept: the
	// failure went to the user who asked for it.
	var started atomic.Bool
	defer func() {
		if st.keep && !started.Load() {
			st.keep = false
		}
		if st.keep {
			if o.Status != nil && o.Status.Done != nil {
				o.Status.Done(code)
			}
			meta.Status, meta.ExitCode, meta.Finished = StatusExited, &code, time.Now()
			writeMeta(st.dir, meta)
		}
		st.release(func(dirs []string) error { return reap(dirs, plan, helpers, o) })
		debugf("supervisor: state removed")
	}()
	if st.keep {
		// From here on everything the sandbox and we print goes to its log.
		log, err := os.OpenFile(filepath.Join(st.dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return 125, fail(err)
		}
		defer log.Close()
		o.Stdout, o.Stderr = log, log
	}

	spaceDir, flag := st.dir, "state directory"
	if spec.Persist != "" {
		spaceDir, flag = spec.Persist, "--persist"
	}
	tl, tupper, twork, err := tmpfsLayer(spec, o.StateRoot, st.layer(), o.Stderr)
	if err != nil {
		return 125, fail(err)
	}
	if err := checkLayerSpace(spaceDir, flag); tl == nil && err != nil {
		return 125, fail(err)
	}
	layerDir := st.layer()
	if spec.Persist != "" {
		unlock, err := lockPersist(spec.Persist)
		if err != nil {
			return 125, fail(err)
		}
		defer unlock()
		layerDir = spec.Persist
	}
	upper, work, err := tupper, twork, error(nil)
	if tl == nil {
		upper, work, err = overlay.Prepare(layerDir, spec.Rootfs)
	}
	if err != nil {
		return 125, fail(err)
	}
	merged := filepath.Join(st.layer(), "merged")
	if err := os.Mkdir(merged, 0o700); err != nil {
		return 125, fail(err)
	}

	debugf("supervisor: state %s, id map %s", st.dir, mapName(plan))
	cfg := initConfig(spec, st, plan)
	cfg.Epoch = epoch
	cfg.Caps, cfg.Seccomp = capSet, filter
	debugf("supervisor: capabilities [%s], seccomp %s", capSet, seccompName(spec, filter))
	cfg.Rootfs = overlay.Config{Lower: spec.Rootfs, Lowers: spec.Layers, Upper: upper, Work: work, Driver: spec.Overlay, Tmpfs: tl}
	if p, err := exec.LookPath("fuse-overlayfs"); err == nil {
		cfg.Rootfs.FuseOverlayFS = p
	}
	if cfg.Rootfs.Generated, err = generatedLayer(genDir(st.layer(), tl), spec, cfg.Files); err != nil {
		return 125, fail(err)
	} else if cfg.Rootfs.Generated != "" {
		cfg.Files = nil
	}
	if line, err := chooseOverlay(&cfg.Rootfs, spec, plan); err != nil {
		return 125, fail(err)
	} else if line != "" {
		fmt.Fprintf(o.Stderr, "rbox: %s\n", line)
	}
	cfg.Merged = merged
	cfg.Cgroup = cgm != nil
	if spec.Tty && !st.keep {
		if ws, err := unix.IoctlGetWinsize(int(o.Stdout.Fd()), unix.TIOCGWINSZ); err == nil {
			cfg.Rows, cfg.Cols = ws.Row, ws.Col
		}
	}

	sb, err := userns.Start(cfg, userns.StartOptions{
		Executable: o.Executable,
		NewNetwork: spec.Net != NetHost,
		SealedCopy: needSealedCopy(capSet, o.Executable),
		Cgroup:     cgm != nil,
		Stdin:      o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr,
	})
	if err != nil {
		return 125, fail(err)
	}
	debugf("supervisor: init cloned, pid %d (%d in /proc)", sb.Pid(), sb.ProcPid())
	meta.InitPid = sb.Pid()
	if meta.InitStart, err = state.ProcStart(sb.ProcPid()); err != nil {
		sb.Kill()
		return 125, fail(fmt.Errorf("read the init's start time: %w", err))
	}
	if err := writeMeta(st.dir, meta); err != nil {
		sb.Kill()
		return 125, fail(err)
	}
	if err := idmap.Apply(plan, sb.Pid(), helpers); plan.Full && err != nil {
		sb.Kill()
		return 125, fail(fmt.Errorf("write the sandbox's ID map: %w", err))
	}
	if plan.Full {
		debugf("supervisor: newuidmap and newgidmap done")
	}
	// The init waits for "go": it is in its cgroup before anything of the
	// sandbox runs, and its cgroup namespace will be rooted there.
	var cg *cgroupv2.Cgroup
	if cgm != nil {
		defer func() { destroyCgroup(cgm, cg, o.StateRoot, o.Stderr) }()
		if cg, err = createCgroup(cgm, spec, st.id, sb.Pid()); err != nil {
			sb.Kill()
			return 125, fail(err)
		}
		cfg.CgroupLeaf = cg.Workload()
		debugf("supervisor: cgroup %s", cg.Path())
	}
	// The user-mode network: its helper against the init's pid, while the
	// init waits; the init configures its side before it pivots.
	var netDied <-chan struct{}
	var nw *slirp.Network
	if mode.UserMode() {
		netCfg.StateDir = st.dir
		netCfg.Log = io.Discard
		if spec.Debug {
			netCfg.Log = o.Stderr
		}
		if nw, err = slirp.Start(netCfg, sb.ProcPid()); err != nil {
			sb.Kill()
			return 125, fail(err)
		}
		defer nw.Close()
		netDied = nw.Died()
		cfg.Network = nw.Child()
		hostResolv, _ := os.ReadFile("/etc/resolv.conf")
		resolv := userns.File{Path: "/etc/resolv.conf", Content: slirp.ResolvConf(cfg.Network.DNS, hostResolv), Mode: 0o644}
		if cfg.Rootfs.Generated == "" {
			cfg.Files = append(cfg.Files, resolv)
		} else if err := writeGenerated(cfg.Rootfs.Generated, resolv.Path, resolv.Content); err != nil {
			sb.Kill()
			return 125, fail(err)
		}
		debugf("supervisor: network %s up (%s, pid %d)", mode, mode.Helper(), nw.HelperPid())
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	defer signal.Stop(sigs)
	if err := sb.Go(); err != nil {
		sb.Kill()
		return 125, fail(err)
	}
	if nw != nil && len(spec.Ports) > 0 {
		if err := nw.Publish(); err != nil {
			sb.Kill()
			return 125, fail(err)
		}
		if err := sb.PortsPublished(); err != nil {
			sb.Kill()
			return 125, fail(err)
		}
		debugf("supervisor: ports published")
	}
	// rbox exec creates and starts at once: "start" waits in the socket
	// for the init to reach it, so the exec path pays no round trip.
	if err := sb.StartWorkload(); err != nil {
		sb.Kill()
		return 125, fail(err)
	}
	began := time.Now()

	var tty ttyRelay
	res := make(chan userns.Result, 1)
	go func() {
		res <- sb.Wait(userns.Hooks{
			Pty: func(m *os.File) { tty.start(m, o) },
			Exited: func() {
				if cg != nil {
					cg.WorkloadEnded()
				}
			},
			Started: func(int) {
				started.Store(true)
				if o.Status != nil {
					o.Status.WorkloadStarted = time.Now()
				}
				if o.Detached != nil {
					reportDetached(o.Detached, st.name, nil)
				}
			},
		})
	}()
	// --timeout: SIGTERM at the deadline, SIGKILL after the grace period,
	// and the status coreutils timeout(1) uses.
	var deadline, grace <-chan time.Time
	if spec.Timeout > 0 {
		deadline = time.After(spec.Timeout)
	}
	timedOut := false
	for {
		select {
		case s := <-sigs:
			if s == unix.SIGWINCH && tty.resize() {
				continue
			}
			sb.Signal(s)
		case <-netDied:
			netDied = nil
			fmt.Fprintf(o.Stderr, "rbox: %s (pid %d) exited during the run: the sandbox has no network any more\n", mode.Helper(), nw.HelperPid())
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
			debugf("supervisor: init exited")
			tty.finish()
			code = r.Code
			if o.Status != nil {
				o.Status.WorkloadCode, o.Status.TimedOut = r.Code, timedOut
			}
			if cg != nil {
				var oom bool
				code, oom, r.Err = reportCgroup(cg, spec, o.Stderr, time.Since(began), code, r.Err)
				if o.Status != nil {
					o.Status.OOMKilled = &oom
				}
			}
			if timedOut {
				code = ExitTimeout
				return code, nil
			}
			if r.Err != nil {
				return code, &ExitError{Code: code, Err: r.Err}
			}
			return code, nil
		}
	}
}

// ExitTimeout is the status of a run ended by --timeout, as timeout(1).
const ExitTimeout = 124

// planIDMap picks the mapping: the user's subordinate ranges when they and
// the helpers exist, else the user alone, with a warning unless asked for.
func planIDMap(spec *Spec, o Options) (idmap.Plan, idmap.Helpers, error) {
	if o.SubUIDFile == "" {
		o.SubUIDFile = "/etc/subuid"
	}
	if o.SubGIDFile == "" {
		o.SubGIDFile = "/etc/subgid"
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	single := idmap.Single(uid, gid)
	if spec.IDMap == IDMapSingle {
		return single, idmap.Helpers{}, nil
	}
	name := strconv.Itoa(int(uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	subuid, err := idmap.ReadSubID(o.SubUIDFile, name, uid)
	if err != nil {
		return idmap.Plan{}, idmap.Helpers{}, err
	}
	subgid, err := idmap.ReadSubID(o.SubGIDFile, name, uid)
	if err != nil {
		return idmap.Plan{}, idmap.Helpers{}, err
	}
	helpers, herr := idmap.FindHelpers()
	var why, probe string
	switch {
	case len(subuid) == 0:
		why, probe = fmt.Sprintf("no range for user %q in %s", name, o.SubUIDFile), "subuid"
	case len(subgid) == 0:
		why, probe = fmt.Sprintf("no range for user %q in %s", name, o.SubGIDFile), "subgid"
	case herr != nil:
		why, probe = herr.Error(), "newuidmap"
		if strings.Contains(why, "newgidmap") {
			probe = "newgidmap"
		}
	}
	if why == "" {
		plan, err := idmap.Full(uid, gid, subuid, subgid)
		if err != nil {
			return idmap.Plan{}, idmap.Helpers{}, err
		}
		return plan, helpers, nil
	}
	if spec.IDMap == IDMapFull {
		return idmap.Plan{}, idmap.Helpers{}, fmt.Errorf("--idmap full: %s; add NAME:START:COUNT lines (see rbox check) or use --idmap single", why)
	}
	fmt.Fprintf(o.Stderr, "rbox: warning: %s: mapping only your uid %d to root (rbox check, probe %s, says how to fix it; --idmap single hides this warning)\n", why, uid, probe)
	return single, idmap.Helpers{}, nil
}

func mapName(p idmap.Plan) string {
	if p.Full {
		return fmt.Sprintf("full (%d uids, %d gids)", idmap.Size(p.UID), idmap.Size(p.GID))
	}
	return "single"
}

// checkNumericUser refuses an unmapped numeric -u UID[:GID] before
// anything starts; names are checked inside, where the image's /etc/passwd
// is.
func checkNumericUser(spec string, plan idmap.Plan) error {
	u, g, _ := strings.Cut(spec, ":")
	if n, err := strconv.ParseUint(u, 10, 32); err == nil {
		if err := idmap.CheckMapped(plan, "uid", uint32(n)); err != nil {
			return fmt.Errorf("-u %s: %w", spec, err)
		}
	}
	if n, err := strconv.ParseUint(g, 10, 32); err == nil {
		if err := idmap.CheckMapped(plan, "gid", uint32(n)); err != nil {
			return fmt.Errorf("-u %s: %w", spec, err)
		}
	}
	return nil
}

// initConfig derives what the init needs from the Spec.
func initConfig(spec *Spec, st *boxState, plan idmap.Plan) *userns.Config {
	hostname := spec.Hostname
	if hostname == "" {
		hostname = st.name
	}
	cfg := &userns.Config{
		Args:          spec.Args,
		Env:           workloadEnv(spec, hostname),
		Cwd:           spec.Cwd,
		User:          spec.User,
		Tty:           spec.Tty,
		Hostname:      hostname,
		OwnNetwork:    spec.Net != NetHost,
		ReadOnly:      spec.ReadOnly,
		AllowNewPrivs: spec.AllowNewPrivs,
		IDMap:         plan,
		Reap:          st.staleDirs(),
		Debug:         spec.Debug,
		EnterSocket:   enterSocket(st.dir),
	}
	if cfg.Cwd == "" {
		cfg.Cwd = "/"
	}
	for _, v := range spec.Volumes {
		cfg.Mounts = append(cfg.Mounts, userns.Mount{Kind: userns.Bind, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
	}
	for _, t := range spec.Tmpfs {
		cfg.Mounts = append(cfg.Mounts, userns.Mount{Kind: userns.Tmpfs, Target: t.Target, Size: t.Size, Mode: t.Mode})
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"
	cfg.Files = []userns.File{
		{Path: "/etc/hostname", Content: hostname + "\n", Mode: 0o644},
		{Path: "/etc/hosts", Content: hosts, Mode: 0o644},
	}
	if spec.Net == NetHost {
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			cfg.Files = append(cfg.Files, userns.File{Path: "/etc/resolv.conf", Content: string(b), Mode: 0o644})
		}
	}
	return cfg
}

// workloadEnv adds the defaults to the user's variables; the host's own
// environment never reaches the workload.
func workloadEnv(spec *Spec, hostname string) []string {
	has := map[string]bool{}
	for _, kv := range spec.Env {
		k, _, _ := strings.Cut(kv, "=")
		has[k] = true
	}
	var env []string
	add := func(k, v string) {
		if !has[k] {
			env = append(env, k+"="+v)
		}
	}
	add("PATH", DefaultPath)
	add("HOSTNAME", hostname)
	if spec.Tty {
		t := spec.Term
		if t == "" {
			t = "xterm"
		}
		add("TERM", t)
	}
	return append(env, spec.Env...)
}

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
