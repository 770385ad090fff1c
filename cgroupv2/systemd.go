package cgroupv2

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/coreos/go-systemd/v22/unit"
	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// probeTimeout bounds the first contact with the user's bus, so that a
// stale DBUS_SESSION_BUS_ADDRESS fails fast instead of hanging rbox.
const probeTimeout = 5 * time.Second

// systemdManager asks the user's systemd for a transient scope per sandbox.
type systemdManager struct {
	conn *sd.Conn
	addr string
}

// busAddress is where the user's bus is: the variable, else the socket
// that dbus-user-session puts in the runtime dir (what sd_bus does).
func busAddress(env Env) (string, error) {
	if env.BusAddress != "" {
		return env.BusAddress, nil
	}
	if env.RuntimeDir != "" {
		return "unix:path=" + filepath.Join(env.RuntimeDir, "bus"), nil
	}
	return "", noBusError()
}

func newSystemd(ctx context.Context, env Env) (*systemdManager, error) {
	addr, err := busAddress(env)
	if err != nil {
		return nil, err
	}
	conn, err := dialSystemd(ctx, addr)
	if err != nil {
		uid := os.Getuid()
		return nil, &UnavailableError{
			Reasons: []string{fmt.Sprintf("cannot reach the user's systemd on the bus %q: %v", addr, err)},
			Hints:   []string{fmt.Sprintf("the user manager runs only while the user is logged in, or always after 'loginctl enable-linger USER' (as root); check 'systemctl --user status' and that the bus is unix:path=/run/user/%d/bus", uid)},
		}
	}
	return &systemdManager{conn: conn, addr: addr}, nil
}

// dialSystemd connects to the user's systemd on the bus at addr and checks
// that it answers. godbus's WithContext would close the connection when the
// context ends, but the connection must outlive the probe (Destroy uses it),
// so the probe's time limit is kept here instead.
func dialSystemd(ctx context.Context, addr string) (*sd.Conn, error) {
	type result struct {
		conn *sd.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// go-systemd dials twice (calls and signals); each is authenticated
		// as this uid and says Hello, as a session bus client must.
		conn, err := sd.NewConnection(func() (*dbus.Conn, error) {
			c, err := dbus.Dial(addr)
			if err != nil {
				return nil, err
			}
			if err := c.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
				c.Close()
				return nil, err
			}
			if err := c.Hello(); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		})
		if err == nil {
			// The bus answering is not enough: the user's systemd must be on it.
			if _, err = conn.GetManagerProperty("Version"); err != nil {
				conn.Close()
			}
		}
		done <- result{conn, err}
	}()
	timer := time.NewTimer(probeTimeout)
	defer timer.Stop()
	var err error
	select {
	case r := <-done:
		return r.conn, r.err
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = fmt.Errorf("no answer in %v", probeTimeout)
	}
	// Close the connection if it comes after all.
	go func() {
		if r := <-done; r.err == nil {
			r.conn.Close()
		}
	}()
	return nil, err
}

func (m *systemdManager) Kind() Kind { return Systemd }

func (m *systemdManager) Close() error {
	m.conn.Close()
	return nil
}

// unitNames are the scope and its per-sandbox slice. The slice's parent,
// app-rbox.slice, sits in the user's app.slice; systemd makes both slices
// on demand. The name is escaped so that a "-" in it cannot make the slice
// a child of another one.
func unitNames(name string) (scope, slice string) {
	esc := unit.UnitNameEscape(name)
	return "rbox-" + esc + ".scope", "app-rbox-" + esc + ".slice"
}

func (m *systemdManager) Create(ctx context.Context, name string, l Limits, pid int) (*Cgroup, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if name == "" || pid <= 0 {
		return nil, fmt.Errorf("create cgroup: need a name and a pid, got %q and %d", name, pid)
	}
	scope, slice := unitNames(name)
	props := []sd.Property{
		sd.PropDescription("rbox sandbox " + name),
		sd.PropSlice(slice),
		sd.PropPids(uint32(pid)),
		// The sandbox may manage its own subtree (nested runtimes).
		{Name: "Delegate", Value: dbus.MakeVariant(true)},
		// With the default (stop), one OOM kill makes systemd stop the whole
		// scope; rbox reports the kill itself and lets the init decide.
		{Name: "OOMPolicy", Value: dbus.MakeVariant("continue")},
		// Destroy means "nothing may survive": no 90 s SIGTERM grace.
		{Name: "KillSignal", Value: dbus.MakeVariant(int32(unix.SIGKILL))},
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
		// Accounting enables the controllers the Stats read, even without a
		// limit on them.
		{Name: "MemoryAccounting", Value: dbus.MakeVariant(true)},
		{Name: "TasksAccounting", Value: dbus.MakeVariant(true)},
		{Name: "CPUAccounting", Value: dbus.MakeVariant(true)},
	}
	for _, p := range l.systemdProperties() {
		props = append(props, sd.Property{Name: p.Name, Value: dbus.MakeVariant(p.Value)})
	}
	if err := m.runJob(ctx, "start "+scope, func(ch chan<- string) (int, error) {
		return m.conn.StartTransientUnitContext(ctx, scope, "fail", props, ch)
	}); err != nil {
		return nil, fmt.Errorf("create systemd scope %q for pid %d: %w", scope, pid, err)
	}
	cg := &Cgroup{unit: scope}
	cg.destroy = func(ctx context.Context) error { return m.destroy(ctx, cg, slice) }
	fail := func(err error) (*Cgroup, error) {
		if derr := cg.destroy(ctx); derr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, derr)
		}
		return nil, err
	}
	p, err := m.conn.GetUnitTypePropertyContext(ctx, scope, "Scope", "ControlGroup")
	if err != nil {
		return fail(fmt.Errorf("read the cgroup of %q: %w", scope, err))
	}
	rel, _ := p.Value.Value().(string)
	if !strings.HasPrefix(rel, "/") {
		return fail(fmt.Errorf("systemd gave %q no cgroup (ControlGroup=%q)", scope, rel))
	}
	cg.path = filepath.Join(mountRoot, rel)
	cg.statsPath = filepath.Dir(cg.path) // the slice: see doc.go
	if !strings.HasSuffix(cg.statsPath, "/"+slice) {
		return fail(fmt.Errorf("systemd put %q in %q, not in the slice %q", scope, rel, slice))
	}
	// systemd accepts limits on controllers it cannot use and ignores them:
	// check that what the limits need really is there.
	have, err := readFile(filepath.Join(cg.path, "cgroup.controllers"), parseControllers)
	if err != nil {
		return fail(fmt.Errorf("read the controllers of %q: %w", scope, err))
	}
	if len(missing(l.Controllers(), have)) > 0 {
		return fail(notDelegatedError(cg.path, l.Controllers(), have))
	}
	// The scope is delegated (ours below it): the leaves, the init moved
	// into its own, pids.max on the workload's.
	cg.workload = filepath.Join(cg.path, WorkloadLeaf)
	if err := makeLeaves(cg.path, l, pid, have); err != nil {
		return fail(err)
	}
	return cg, nil
}

// runJob starts a systemd job and waits for its JobRemoved signal: no
// polling. go-systemd registers the channel before the call returns, so the
// signal cannot be missed.
func (m *systemdManager) runJob(ctx context.Context, what string, start func(chan<- string) (int, error)) error {
	ch := make(chan string, 1)
	if _, err := start(ch); err != nil {
		return err
	}
	select {
	case res := <-ch:
		if res != "done" {
			return fmt.Errorf("systemd job %s: %s", what, res)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("systemd job %s: %w", what, ctx.Err())
	}
}

// destroy stops the per-sandbox slice, which stops the scope in it (its
// KillSignal is SIGKILL), and checks that both cgroups are gone.
func (m *systemdManager) destroy(ctx context.Context, cg *Cgroup, slice string) error {
	err := m.runJob(ctx, "stop "+slice, func(ch chan<- string) (int, error) {
		return m.conn.StopUnitContext(ctx, slice, "replace", ch)
	})
	if err != nil && !isNoSuchUnit(err) {
		return fmt.Errorf("stop systemd slice %q: %w", slice, err)
	}
	for _, dir := range []string{cg.path, cg.statsPath} {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cgroup %q still exists after stopping %q", dir, slice)
		}
	}
	return nil
}

func isNoSuchUnit(err error) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return path.Ext(de.Name) == ".NoSuchUnit"
	}
	var dp *dbus.Error
	return errors.As(err, &dp) && path.Ext(dp.Name) == ".NoSuchUnit"
}
