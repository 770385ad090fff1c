package userns

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/childfd"
	"github.com/rbox-sandbox/rbox/probe"
)

// exitError carries the status the init reports for a failure of its own:
// 125 for setup, 126 and 127 when the command cannot be run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func failure(code int, format string, a ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, a...)}
}

// Main is the init's entry point, PID 1 of the sandbox. It never returns.
// ext are the ops implemented outside userns (op.go).
func Main(ext Externals) {
	// Signals must be queued from the first moment: a workload that exits
	// at once must not slip its SIGCHLD past us.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, forwarded...)
	signal.Notify(sigs, unix.SIGCHLD)
	ch, cfg := begin("rbox-init", "the sandbox init; run rbox exec instead", ext.Tap)
	os.Exit(run(cfg, ext, ch, sigs))
}

// begin is what the init and the reaper do first: find the sync socket,
// close what they inherited on exec, wait for "go" in stage "map", and
// receive the Config. On failure it exits.
// what says what the entry point is, to a user who runs it by hand;
// makeTap is the init's Externals.Tap (nil for the reaper).
func begin(name, what string, makeTap func(string) error) (channel, *Config) {
	fd, err := childfd.Lookup(fdSync)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbox: this is %s\n", what)
		os.Exit(125)
	}
	// Descriptors the user's shell (or anyone up the chain) left open
	// without close-on-exec must not reach the workload (runc's
	// CVE-2024-21626 was a leaked directory descriptor).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintf(os.Stderr, "rbox: sandbox init: close_range: %v\n", err)
		os.Exit(125)
	}
	ch := channel{os.NewFile(uintptr(fd), "sync")}
	// ps inside shows "rbox-init" rather than "exe".
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte(name + "\x00")[0])), 0, 0, 0)
	// Gaining capabilities at our execve cleared the parent-death signal
	// the clone set. Set it again; a supervisor that died before this
	// line has closed its end of the channel, and the receive below sees
	// that.
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	// Under a foreign /proc the init maps itself, before anything else:
	// the supervisor waits for the map (foreignproc.go).
	if err := MapSelfFromEnv(); err != nil {
		fmt.Fprintf(os.Stderr, "rbox: sandbox init: %v\n", err)
		os.Exit(125)
	}
	os.Unsetenv(selfMapEnv)
	// The tap first: the supervisor starts the network's helper while we
	// wait for our ID map, and the helper attaches to what it finds.
	if tap := os.Getenv(tapEnv); tap != "" {
		if makeTap == nil {
			fmt.Fprintf(os.Stderr, "rbox: sandbox init: asked for tap %s, which this init cannot make\n", tap)
			os.Exit(125)
		}
		if err := makeTap(tap); err != nil {
			fmt.Fprintf(os.Stderr, "rbox: sandbox init: %v\n", err)
			os.Exit(125)
		}
	}
	if os.Getenv(stageEnv) == stageMap {
		if err := ch.awaitGo(); err != nil {
			// Nothing was built yet.
			os.Exit(syncFailure(ch, err))
		}
	}
	os.Unsetenv(childfd.Env)
	os.Unsetenv(stageEnv)
	os.Unsetenv(tapEnv)
	os.Unsetenv("GODEBUG")
	unix.CloseOnExec(fd)

	cfg, err := ch.awaitConfig()
	if err != nil {
		os.Exit(syncFailure(ch, err))
	}
	// From here on our /proc files must not be open to the workload, which
	// runs as the same user: /proc/1/fd would hand it our descriptors of the
	// host's directories. The flag could not be set earlier because
	// newuidmap needs our /proc files owned by the user.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		os.Exit(report(ch, failure(125, "set non-dumpable: %w", err)))
	}
	return ch, cfg
}

// syncFailure ends the init on a failed receive: quietly when the
// supervisor has gone (it said why, or nobody is left to tell), reported
// to it otherwise.
func syncFailure(ch channel, err error) int {
	if errors.Is(err, errClosed) {
		killAll()
		return 125
	}
	return report(ch, failure(125, "sandbox init: %w", err))
}

func run(cfg *Config, ext Externals, ch channel, sigs chan os.Signal) int {
	debugf(cfg, "init: config received")
	if err := reapStale(cfg); err != nil {
		debugf(cfg, "init: %v", err)
	}

	if err := openCgroupLeaf(cfg); err != nil {
		return report(ch, err)
	}
	enterFD := -1
	if cfg.EnterSocket != "" {
		fd, err := listenEnter(cfg.EnterSocket)
		if err != nil {
			return report(ch, failure(125, "%w", err))
		}
		enterFD = fd
	}
	st, err := buildRoot(cfg, ext, ch)
	var se *errSync
	if errors.As(err, &se) {
		return syncFailure(ch, se.err)
	}
	if err != nil {
		return report(ch, err)
	}
	debugf(cfg, "init: root ready")
	// The barrier between create and start: the workload runs when the
	// supervisor says so.
	if err := ch.barrier(); err != nil {
		return syncFailure(ch, err)
	}
	debugf(cfg, "init: start")
	w, err := startWorkload(cfg, st, ch)
	if err != nil {
		return report(ch, err)
	}
	debugf(cfg, "init: workload started, pid %d", w)
	ch.send(message{Type: msgStarted, Pid: w})
	kids := &children{}
	if enterFD >= 0 {
		go serveEnter(cfg, enterFD, kids)
	}

	// The supervisor says nothing more: its EOF is a hang-up, and so is a
	// message, which is reported instead of the workload's status.
	hangup := make(chan struct{})
	unexpected := make(chan error, 1)
	go func() {
		defer close(hangup)
		if _, _, err := ch.expect(); !errors.Is(err, errClosed) {
			unexpected <- err
		}
	}()
	code := supervise(w, kids, sigs, hangup)
	debugf(cfg, "init: workload exited with %d", code)
	// Everything else in the namespace dies with the workload, as it would
	// when PID 1 exits, but first: we still have cleaning to do.
	killAll()
	select {
	case err := <-unexpected:
		return report(ch, failure(125, "sandbox init: %w", err))
	default:
	}
	ch.exit(code, cfg.Cgroup, hangup)
	return code
}

// report ends the sandbox on a setup failure and tells the supervisor.
func report(ch channel, err error) int {
	killAll()
	return tell(ch, err)
}

// tell sends a failure to the supervisor, which prints it once, and
// returns the init's exit status for it.
func tell(ch channel, err error) int {
	code := 125
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if serr := ch.send(message{Type: msgError, Code: code, Msg: err.Error(), Probes: probe.Of(err)}); serr != nil {
		fmt.Fprintf(os.Stderr, "rbox: %v\n", err)
	}
	return code
}

func debugf(cfg *Config, format string, a ...any) {
	if cfg.Debug {
		Debugf(cfg.Epoch, format, a...)
	}
}

// Now is CLOCK_MONOTONIC in nanoseconds, the same clock in every process.
func Now() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Debugf prints a debug line stamped with the milliseconds since epoch.
func Debugf(epoch int64, format string, a ...any) {
	ms := float64(Now()-epoch) / 1e6
	fmt.Fprintf(os.Stderr, "rbox: debug: %7.2fms "+format+"\n", append([]any{ms}, a...)...)
}
