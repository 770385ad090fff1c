package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/hostcheck"
	"github.com/rbox-sandbox/rbox/image"
	"github.com/rbox-sandbox/rbox/sandbox"
	"github.com/rbox-sandbox/rbox/slirp"
	"github.com/rbox-sandbox/rbox/state"
)

type execCmd struct {
	Name          dashArg     `help:"Name the sandbox (default rbox-<id>); also its hostname unless --hostname." placeholder:"NAME"`
	Detach        bool        `short:"d" help:"Run in the background: print the name and return; output goes to rbox logs NAME."`
	Rootfs        string      `help:"Image directory to use as the root (never written)." placeholder:"DIR"`
	Image         string      `help:"A pulled image to use as the root: its layers as overlay lower directories, its Env, WorkingDir, User, Entrypoint and Cmd (see rbox pull for REF)." placeholder:"REF"`
	Entrypoint    *string     `help:"With --image: replace the image's Entrypoint (and drop its Cmd unless CMD is given); empty for none." placeholder:"CMD"`
	Pull          string      `help:"With --image: pull missing (default), always, or never." default:"missing" enum:"missing,always,never"`
	TLSVerify     bool        `name:"tls-verify" default:"true" negatable:"" help:"With --image, when pulling: as rbox pull --tls-verify."`
	Env           []string    `short:"e" help:"Set a variable (KEY=VALUE; KEY alone copies it from your environment)." sep:"none" placeholder:"KEY=VALUE"`
	EnvFile       []string    `name:"env-file" help:"Read variables from a file, KEY=VALUE per line." sep:"none" placeholder:"FILE"`
	Workdir       string      `short:"w" help:"Working directory inside the sandbox (created if missing)." placeholder:"DIR"`
	User          string      `short:"u" help:"Run as UID[:GID] or NAME[:GROUP] of the image's /etc/passwd." placeholder:"USER"`
	Tty           bool        `short:"t" help:"Give the command a terminal (a pty inside the sandbox)."`
	Stdin         bool        `short:"i" name:"interactive" help:"Accepted for docker compatibility: stdin is always passed through."`
	Hostname      string      `help:"Hostname inside the sandbox (default rbox-<id>)."`
	Net           string      `help:"Network: slirp (own namespace through slirp4netns), pasta (through passt's pasta), none (loopback only) or host; slirp and pasta take :allow-host-loopback to let the sandbox reach the host's 127.0.0.1 as 10.0.2.2." default:"slirp" placeholder:"MODE" complete:"slirp,pasta,none,host,slirp:allow-host-loopback,pasta:allow-host-loopback"`
	MTU           int         `name:"mtu" help:"MTU of the sandbox's device under slirp or pasta (default 65520)." placeholder:"N"`
	Publish       []string    `short:"p" help:"Publish a port: [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]; without HOSTIP on all host addresses." sep:"none" placeholder:"[IP:]HOST:CTR[/PROTO]"`
	Overlay       string      `help:"Overlay driver: auto, kernel or fuse." default:"auto" enum:"auto,kernel,fuse"`
	ReadOnly      bool        `name:"read-only" help:"Mount the root read-only, with a tmpfs at /tmp."`
	Persist       string      `help:"Keep the writable layer in DIR (DIR/upper, DIR/work) across runs." placeholder:"DIR"`
	LayerSize     string      `name:"layer-size" help:"Size of the writable layer when it has to be a tmpfs (the state directory is on overlayfs, NFS or FUSE, as inside a container): 512m, 2g, 25%; default 1g." placeholder:"SIZE"`
	Device        []string    `help:"Pass a host character device into /dev: PATH[:DST], e.g. --device /dev/net/tun for rbox or slirp4netns inside." sep:"none" placeholder:"PATH[:DST]"`
	Volume        []string    `short:"v" help:"Bind a host path: SRC:DST[:ro]." sep:"none" placeholder:"SRC:DST[:ro]"`
	Tmpfs         []string    `help:"Mount a tmpfs: DST[:size=64m,mode=1777]." sep:"none" placeholder:"DST[:OPTS]"`
	IDMap         string      `name:"idmap" help:"ID mapping: auto (subuid ranges if you have them), full, or single (only you, as root)." default:"auto" enum:"auto,full,single"`
	Timeout       durationArg `help:"End the workload after this long (SIGTERM, then SIGKILL after --stop-timeout); exit status 124. Go durations: 90s, 5m, 1h30m." placeholder:"DURATION"`
	StopTimeout   durationArg `name:"stop-timeout" help:"Grace period between SIGTERM and SIGKILL for --timeout." default:"10s" placeholder:"DURATION"`
	AllowNewPrivs bool        `name:"allow-new-privs" help:"Let setuid binaries and file capabilities raise privileges inside (no_new_privs is set by default)."`
	CapAdd        []string    `name:"cap-add" help:"Add a capability to the default set (CAP_ prefix optional; ALL for every one). SYS_ADMIN (and ALL) gives up :ro volumes, --read-only and the /proc masks: the workload can remount or unmount them." placeholder:"CAP"`
	CapDrop       []string    `name:"cap-drop" help:"Drop a capability from the default set (ALL for every one)." placeholder:"CAP"`
	Seccomp       string      `help:"Seccomp filter: default, unconfined, or the path of an OCI seccomp profile (JSON)." default:"default" placeholder:"PROFILE"`
	Memory        limitArg    `help:"Memory limit (cgroup memory.max): 64m, 1.5g, -1 for none. Limits need cgroup v2 (see README)." placeholder:"SIZE"`
	MemorySwap    limitArg    `name:"memory-swap" help:"Memory plus swap, as docker: equal to --memory for no swap, -1 for unlimited swap." placeholder:"SIZE"`
	CPUs          dashArg     `name:"cpus" help:"CPU limit in CPUs (cgroup cpu.max over 100 ms): 0.5, 2." placeholder:"N.N"`
	PidsLimit     limitArg    `name:"pids-limit" help:"Most processes and threads at once (cgroup pids.max); -1 for none." placeholder:"N"`
	CgroupManager string      `name:"cgroup-manager" help:"Who makes the sandbox's cgroup: auto, systemd (the user's, over D-Bus) or cgroupfs (the current delegated cgroup)." default:"auto" enum:"auto,systemd,cgroupfs" placeholder:"MANAGER"`
	Stats         statsFlag   `help:"At exit, print peak memory, CPU time and peak pids on stderr; --stats=json prints one JSON line."`
	Debug         bool        `help:"Print what rbox sets up (overlay driver, ID map) and when, on stderr."`
	StatusJSON    string      `name:"status-json" help:"When the sandbox ends, write how (exit code, signal, timed out, durations) to FILE as JSON." placeholder:"FILE" type:"path"`

	Command []string `arg:"" optional:"" passthrough:"partial" help:"Command and arguments (with --image, they replace the image's Cmd)." placeholder:"-- CMD [ARGS...]"`

	// inUse holds the in-use locks of --image's layers until we exit.
	inUse *image.InUse
}

func (c *execCmd) run() (int, error) {
	start := time.Now()
	var status sandbox.Status
	code, err := c.runSpec(&status)
	err = hostcheck.Hint(flagError(err))
	code = exitStatus(code, err)
	// A detaching rbox returns at once; its detached supervisor writes
	// the status when the sandbox ends.
	if c.StatusJSON != "" && !c.Detach {
		if werr := writeStatus(c.StatusJSON, newRunStatus(&status, start, time.Now(), code, err)); werr != nil && err == nil {
			return exitFailure, werr
		}
	}
	return code, err
}

func (c *execCmd) runSpec(status *sandbox.Status) (int, error) {
	spec, err := c.spec()
	if err != nil {
		return exitFailure, err
	}
	if c.Detach && c.Tty {
		return exitFailure, fmt.Errorf("-d and -t conflict: a detached sandbox has no terminal; use rbox enter -t NAME -- sh to get one")
	}
	plan, err := sandbox.NewPlan(spec, sandbox.HostEnv())
	if err != nil {
		return exitFailure, err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(os.Stderr, "rbox: warning: %s\n", w.Render(flagOf))
	}
	if err := checkStatusPath(c.StatusJSON); err != nil {
		return exitFailure, err
	}
	// Resolved before detaching too, so that a fallback is announced
	// where the user sees it.
	root, err := stateRoot()
	if err != nil {
		return exitFailure, err
	}
	cgEnv := cgroupv2.Env{BusAddress: os.Getenv("DBUS_SESSION_BUS_ADDRESS"), RuntimeDir: os.Getenv("XDG_RUNTIME_DIR")}
	if c.Detach {
		statusPath := c.StatusJSON
		if statusPath != "" {
			if statusPath, err = filepath.Abs(statusPath); err != nil {
				return exitFailure, err
			}
		}
		name, code, err := sandbox.Detach(sandbox.Job{Plan: plan, StateRoot: root, LayerRoot: layerRoot(), CgroupEnv: cgEnv, StatusJSON: statusPath})
		if err != nil {
			return code, err
		}
		fmt.Println(name)
		return 0, nil
	}
	return sandbox.Run(plan, sandbox.Options{
		StateRoot: root,
		LayerRoot: layerRoot(),
		Status:    status,
		CgroupEnv: cgEnv,
		Words:     flagOf,
		Stdin:     os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	})
}

// spec turns flags into a Spec. The host environment is read here and
// only here.
func (c *execCmd) spec() (*sandbox.Spec, error) {
	args := c.Command
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	s := &sandbox.Spec{
		Name:   string(c.Name),
		Rootfs: c.Rootfs, Args: args, Cwd: c.Workdir, User: c.User, Tty: c.Tty,
		Hostname: c.Hostname, Net: c.Net, MTU: c.MTU, Overlay: c.Overlay, ReadOnly: c.ReadOnly,
		Persist: c.Persist, IDMap: c.IDMap, Debug: c.Debug, AllowNewPrivs: c.AllowNewPrivs,
		Timeout: time.Duration(c.Timeout), StopTimeout: time.Duration(c.StopTimeout),
		CapAdd: c.CapAdd, CapDrop: c.CapDrop, Seccomp: c.Seccomp,
		CgroupManager: cgroupv2.Kind(c.CgroupManager), Stats: string(c.Stats),
	}
	if err := c.limits(&s.Limits); err != nil {
		return nil, err
	}
	if err := c.applyImage(s, args); err != nil {
		return nil, err
	}
	if c.Tty {
		s.Term = os.Getenv("TERM")
	}
	for _, f := range c.EnvFile {
		r, err := openEnvFile(f)
		if err != nil {
			return nil, err
		}
		env, err := parseEnvFile(r, f, os.LookupEnv)
		r.Close()
		if err != nil {
			return nil, err
		}
		s.Env = append(s.Env, env...)
	}
	for _, e := range c.Env {
		kv, ok, err := parseEnv(e, os.LookupEnv)
		if err != nil {
			return nil, err
		}
		if ok {
			s.Env = append(s.Env, kv)
		}
	}
	if c.Image != "" {
		s.Env = lastWins(s.Env)
	}
	for _, v := range c.Volume {
		vol, err := parseVolume(v)
		if err != nil {
			return nil, err
		}
		s.Volumes = append(s.Volumes, vol)
	}
	if c.LayerSize != "" {
		var err error
		if s.LayerSize, err = parseLayerSize(c.LayerSize); err != nil {
			return nil, err
		}
	}
	for _, d := range c.Device {
		vol, err := parseDevice(d)
		if err != nil {
			return nil, err
		}
		s.Volumes = append(s.Volumes, vol)
	}
	for _, t := range c.Tmpfs {
		tm, err := parseTmpfs(t)
		if err != nil {
			return nil, err
		}
		s.Tmpfs = append(s.Tmpfs, tm)
	}
	for _, p := range c.Publish {
		port, err := slirp.ParsePort(p)
		if err != nil {
			return nil, err
		}
		s.Ports = append(s.Ports, port)
	}
	return s, nil
}

// limits parses the resource flags, in the forms docker users type them.
func (c *execCmd) limits(l *cgroupv2.Limits) error {
	var err error
	if c.Memory != "" {
		if l.Memory, err = cgroupv2.ParseMemory(string(c.Memory)); err != nil {
			return err
		}
	}
	if c.MemorySwap != "" {
		if l.MemorySwap, err = cgroupv2.ParseMemorySwap(string(c.MemorySwap)); err != nil {
			return err
		}
	}
	if c.CPUs != "" {
		if l.CPU, err = cgroupv2.ParseCPUs(string(c.CPUs)); err != nil {
			return err
		}
	}
	if c.PidsLimit != "" {
		if l.Pids, err = cgroupv2.ParsePids(string(c.PidsLimit)); err != nil {
			return err
		}
	}
	return nil
}

// limitArg is the value of a limit flag. Docker users type "-1" for no
// limit (--memory-swap -1), which a plain string flag would read as the
// short flag -1; a hyphen followed by digits is taken as the value here.
type limitArg string

func (a *limitArg) Decode(ctx *kong.DecodeContext) error {
	t := ctx.Scan.Peek()
	if v, ok := t.Value.(string); ok && t.Type != kong.FlagValueToken && len(v) > 1 && v[0] == '-' && isDigits(v[1:]) {
		ctx.Scan.Pop()
		*a = limitArg(v)
		return nil
	}
	if t.Type == kong.ShortFlagToken && isDigits(fmt.Sprint(t.Value)) {
		v, _ := popDashValue(ctx)
		*a = limitArg(v)
		return nil
	}
	t, err := ctx.Scan.PopValue("value")
	if err != nil {
		return err
	}
	*a = limitArg(fmt.Sprint(t.Value))
	return nil
}

// popDashValue takes "-x..." as the flag's value where kong would read a
// short flag (it splits "-1s" into the flag "1" and the tail "s"). Flags
// whose values never start with '-' take it too, so that the check of the
// value, not the parser, says what is wrong with it: "--cpus -1",
// "--name -x" get one line naming the flag, the value and the fix.
func popDashValue(ctx *kong.DecodeContext) (string, bool) {
	t := ctx.Scan.Peek()
	switch v, _ := t.Value.(string); {
	case t.Type == kong.UntypedToken && len(v) > 1 && v[0] == '-' && v[1] != '-':
		// Not split yet: the whole argument.
		ctx.Scan.Pop()
		return v, true
	case t.Type == kong.ShortFlagToken:
		v := "-" + fmt.Sprint(ctx.Scan.Pop().Value)
		if t := ctx.Scan.Peek(); t.Type == kong.ShortFlagTailToken {
			v += fmt.Sprint(ctx.Scan.Pop().Value)
		}
		return v, true
	}
	return "", false
}

// dashArg is a string flag that takes a value starting with '-' (see
// popDashValue).
type dashArg string

func (a *dashArg) Decode(ctx *kong.DecodeContext) error {
	if v, ok := popDashValue(ctx); ok {
		*a = dashArg(v)
		return nil
	}
	t, err := ctx.Scan.PopValue("value")
	if err != nil {
		return err
	}
	*a = dashArg(fmt.Sprint(t.Value))
	return nil
}

// durationArg is a Go duration flag that takes "-1s" as its value, for
// Validate to refuse by name.
type durationArg time.Duration

func (a *durationArg) Decode(ctx *kong.DecodeContext) error {
	v, ok := popDashValue(ctx)
	if !ok {
		t, err := ctx.Scan.PopValue("duration")
		if err != nil {
			return err
		}
		v = fmt.Sprint(t.Value)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a Go duration: 90s, 5m, 1h30m", v)
	}
	*a = durationArg(d)
	return nil
}

// openEnvFile opens an --env-file, refusing what is not a regular file
// (a directory would fail only at the first read, without the flag).
func openEnvFile(f string) (*os.File, error) {
	r, err := os.Open(f)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("--env-file %q: %w: give a file of KEY=VALUE lines", f, err)
	}
	if st, err := r.Stat(); err == nil && st.IsDir() {
		r.Close()
		return nil, fmt.Errorf("--env-file %q is a directory: give a file of KEY=VALUE lines", f)
	}
	return r, nil
}

// checkStatusPath refuses, before anything starts, a --status-json path
// that could not be written when the sandbox ends: its directory missing,
// not a directory, or not writable, or the path a directory.
func checkStatusPath(p string) error {
	if p == "" {
		return nil
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return fmt.Errorf("--status-json %q is a directory: give a file path", p)
	}
	dir := filepath.Dir(p)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("--status-json %q: directory %q does not exist: create it first or give another path", p, dir)
	case err != nil:
		return fmt.Errorf("--status-json %q: directory %q: %w", p, dir, errors.Unwrap(err))
	case !st.IsDir():
		return fmt.Errorf("--status-json %q: %q is not a directory: give another path", p, dir)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("--status-json %q: directory %q is not writable by you (%v): give another path", p, dir, err)
	}
	return nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// statsFlag is --stats (text) or --stats=VALUE: a flag that may go without
// a value, as a bool does.
type statsFlag string

func (f *statsFlag) Decode(ctx *kong.DecodeContext) error {
	if ctx.Scan.Peek().Type != kong.FlagValueToken {
		*f = sandbox.StatsText
		return nil
	}
	t, err := ctx.Scan.PopValue("stats")
	if err != nil {
		return err
	}
	v := fmt.Sprint(t.Value)
	switch v {
	case "true":
		v = sandbox.StatsText
	case "false":
		v = ""
	}
	*f = statsFlag(v)
	return nil
}

func (*statsFlag) IsBool() bool { return true }

// stateRoot resolves the state root that every command uses (see
// state.Resolve) from this environment: XDG_RUNTIME_DIR, TMPDIR, and HOME
// (the passwd entry's when HOME is unset, as under env -i) for the record
// of a fallback, which it announces on stderr.
// layerRoot is where the sandboxes' writable layers go: on disk beside
// the image store, $XDG_DATA_HOME/rbox/sandboxes; "" (the state root)
// when there is no home to put it in.
func layerRoot() string {
	d, err := image.DefaultRoot()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(d), "sandboxes")
}

func stateRoot() (string, error) {
	env := state.Env{TempDir: os.TempDir(), Home: os.Getenv("HOME"), UID: os.Getuid()}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			env.RuntimeDir = d
		}
	}
	if env.Home == "" {
		if u, err := user.LookupId(strconv.Itoa(env.UID)); err == nil {
			env.Home = u.HomeDir
		}
	}
	r, err := state.Resolve(env)
	if err != nil {
		return "", err
	}
	if r.Notice != "" {
		fmt.Fprintf(os.Stderr, "rbox: notice: %s\n", r.Notice)
	}
	return r.Path, nil
}
