package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/oci"
	"github.com/rbox-sandbox/rbox/state"
)

// killTimeout bounds how long delete waits for a killed container.
const killTimeout = 10 * time.Second

func runCreate(e *env, name string, args []string) error {
	fs := newFlags(name)
	bundle := fs.String("bundle", ".", "")
	fs.StringVar(bundle, "b", ".", "")
	pidFile := fs.String("pid-file", "", "")
	consoleSocket := fs.String("console-socket", "", "")
	fs.Bool("no-pivot", false, "")       // rbox always pivots; a ramdisk root is not its case
	fs.Bool("no-new-keyring", false, "") // rbox makes no session keyring
	preserveFDs := fs.Int("preserve-fds", 0, "")
	fs.Bool("detach", false, "") // go-runc may pass it; create always returns
	fs.Bool("d", false, "")
	rest, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	id := rest[0]
	if err := oci.CheckID(id); err != nil {
		return err
	}
	if *preserveFDs < 0 {
		return fmt.Errorf("--preserve-fds %d: want 0 or more", *preserveFDs)
	}
	if *pidFile != "" && !filepath.IsAbs(*pidFile) {
		abs, err := filepath.Abs(*pidFile)
		if err != nil {
			return fmt.Errorf("--pid-file %q: %w", *pidFile, err)
		}
		*pidFile = abs
	}
	if st, err := e.store(false); err != nil {
		return err
	} else if _, err := st.Load(id); err == nil {
		return fmt.Errorf("container %q %w in %s: choose another ID, or delete it first", id, oci.ErrExist, st.Root)
	} else if !errors.Is(err, oci.ErrNotExist) {
		return err
	}
	dir, err := filepath.Abs(*bundle)
	if err != nil {
		return fmt.Errorf("--bundle %q: %w", *bundle, err)
	}
	spec, err := oci.Load(dir)
	if err != nil {
		return err
	}
	b, err := oci.Translate(spec, dir)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, oci.ConfigFile), err)
	}
	switch {
	case b.Process.Terminal && *consoleSocket == "":
		return errors.New("process.terminal is true: give --console-socket SOCK to receive the pty's master")
	case !b.Process.Terminal && *consoleSocket != "":
		return fmt.Errorf("--console-socket %q given, but process.terminal is false: drop the flag or set process.terminal", *consoleSocket)
	}
	for _, f := range b.Ignored {
		e.log.debugf("%s: ignored: rbox applies neither AppArmor nor SELinux labels", f)
	}
	var console *os.File
	if *consoleSocket != "" {
		if console, err = dialConsole(*consoleSocket); err != nil {
			return err
		}
		defer console.Close()
	}
	rootDirPath, err := rootDir(e.global, e.getenv, os.Geteuid(), initialUserNS())
	if err != nil {
		return err
	}
	_, serr := os.Lstat(rootDirPath)
	madeRoot := errors.Is(serr, os.ErrNotExist)
	st, err := e.store(true)
	if err != nil {
		return err
	}
	cg, err := oci.NewCgroup(b, oci.CgroupOptions{ID: id, Systemd: e.global.systemdCgroup, Disabled: e.global.cgroupManager == "disabled",
		Rootless: e.rootless(), Debugf: e.log.debugf, Warnf: e.log.warn})
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, oci.ConfigFile), err)
	}
	r := &oci.Record{OCIVersion: b.OCIVersion, ID: id, Bundle: dir, Rootfs: b.Root.Path, Status: specs.StateCreating,
		Created: time.Now().UTC(), Annotations: b.Annotations, Poststop: b.Hooks.Poststop, Poststart: b.Hooks.Poststart}
	r.HostMounts = true
	for _, ns := range b.Namespaces {
		if ns.Type == specs.PIDNamespace && ns.Path == "" {
			r.NewPIDNS = true
		}
		if ns.Type == specs.MountNamespace {
			r.HostMounts = false
		}
	}
	if r.HostMounts {
		// The container's mounts land in this namespace: what is under
		// its root now (the engine's) stays at delete.
		if r.KeepMounts, err = oci.MountIDsUnder(b.Root.Path); err != nil {
			return err
		}
	}
	cg.Record(r)
	ok := false
	defer func() {
		if !ok && cg != nil {
			cg.Destroy(killTimeout)
		}
	}()
	if err := st.Create(r); err != nil {
		return err
	}
	defer func() {
		if !ok {
			if r.HostMounts {
				if err := oci.DetachUnder(r.Rootfs, r.KeepMounts); err != nil {
					e.log.warn(fmt.Sprintf("create: %v", err))
				}
			}
			st.Remove(id)
			if madeRoot {
				// A failed create leaves no state root it made: only
				// when empty, another create may be under way.
				os.Remove(st.Root)
			}
		}
	}()
	o := oci.CreateOptions{ID: id, StateDir: filepath.Join(st.Root, id), PreserveFDs: *preserveFDs, Console: console, Cgroup: cg}
	if e.global.debug {
		o.Debugf = e.log.debugf
	}
	if len(b.Hooks.Prestart)+len(b.Hooks.CreateRuntime) > 0 {
		o.Hooks = func(pid int) error {
			s := r.State()
			// The hooks run after the environment is made (lifecycle
			// steps 3 and 4), which the spec's "created" describes:
			// "creating" is step 2.
			s.Status, s.Pid = specs.StateCreated, pid
			for _, h := range append(append([]oci.Hook(nil), b.Hooks.Prestart...), b.Hooks.CreateRuntime...) {
				if err := oci.RunHook(context.Background(), h, s); err != nil {
					return err
				}
			}
			return nil
		}
	}
	pid, err := oci.Create(b, o)
	if err != nil {
		return err
	}
	start, err := state.ProcStart(pid)
	if err != nil {
		return fmt.Errorf("container process %d: %w", pid, err)
	}
	r.Pid, r.PidStart, r.Status = pid, start, specs.StateCreated
	if err := st.Save(r); err != nil {
		return err
	}
	if *pidFile != "" {
		if err := writePidFile(*pidFile, pid); err != nil {
			return err
		}
	}
	ok = true
	return nil
}

// writePidFile writes pid the way the engines read it: the number alone,
// the file replaced whole.
func writePidFile(path string, pid int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file %q: %w", path, err)
	}
	return nil
}

func runStart(e *env, name string, args []string) error {
	rest, err := parse(newFlags(name), args, 1, 1)
	if err != nil {
		return err
	}
	st, r, unlock, err := e.loadLocked(rest[0])
	if err != nil {
		return err
	}
	defer unlock()
	switch s := r.State().Status; s {
	case specs.StateCreated:
		return startCreated(e, st, r)
	case specs.StateStopped:
		return fmt.Errorf("cannot start container %q: it has stopped", r.ID)
	default:
		return fmt.Errorf("cannot start container %q: it is %s, not created", r.ID, s)
	}
}

func runState(e *env, name string, args []string) error {
	rest, err := parse(newFlags(name), args, 1, 1)
	if err != nil {
		return err
	}
	_, r, err := e.load(rest[0])
	if err != nil {
		return err
	}
	// The spec's state, plus the two fields runc adds that go-runc's
	// Container reads (rootfs, created).
	out := struct {
		specs.State
		Rootfs  string    `json:"rootfs,omitempty"`
		Created time.Time `json:"created"`
	}{r.State(), r.Rootfs, r.Created}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

func runDelete(e *env, name string, args []string) error {
	fs := newFlags(name)
	force := fs.Bool("force", false, "")
	fs.BoolVar(force, "f", false, "")
	rest, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	id := rest[0]
	st, err := e.store(false)
	if err != nil {
		return err
	}
	unlock, err := st.Lock(id)
	if err != nil {
		// runc's --force succeeds on a container that is already gone:
		// podman deletes with --force after the container ended.
		if *force && errors.Is(err, oci.ErrNotExist) {
			return nil
		}
		return err
	}
	defer unlock()
	r, err := st.Load(id)
	if errors.Is(err, oci.ErrNotExist) {
		// A directory without a record: a create that ended half-way.
		if rerr := st.Remove(id); rerr != nil {
			return rerr
		}
		if *force {
			return nil
		}
	}
	if err != nil {
		return err
	}
	// A created container is not stopped: the spec wants an error (runc
	// kills it instead; crun refuses, as rbox does). --force kills it.
	if s := r.State().Status; s != specs.StateStopped && !*force {
		return fmt.Errorf("cannot delete container %q that is not stopped: it is %s (kill it first, or use --force)", id, s)
	}
	// The cgroup create made goes with the container, and everything in
	// it (the process, a daemon it left, an exec'd one) is killed first:
	// thawed too, as a frozen v1 task does not die before it thaws.
	if cg, err := r.OpenCgroup(); err != nil {
		return err
	} else if cg != nil {
		if err := cg.Destroy(killTimeout); err != nil {
			return fmt.Errorf("delete container %q: %w", id, err)
		}
		if r.Paused {
			cg.Freeze(false) // a joined cgroup: the container's own kill must land
		}
	}
	if err := oci.Kill(r, killTimeout); err != nil {
		return err
	}
	if r.HostMounts {
		if err := oci.DetachUnder(r.Rootfs, r.KeepMounts); err != nil {
			return fmt.Errorf("delete container %q: %w", id, err)
		}
	}
	if err := st.Remove(id); err != nil {
		return err
	}
	// Poststop hooks run after the container is deleted; their failures
	// are warnings (runtime-spec "Lifecycle", step 13).
	final := r.State()
	final.Status, final.Pid = specs.StateStopped, 0
	for _, h := range r.Poststop {
		if err := oci.RunHook(context.Background(), h, final); err != nil {
			e.log.warn(fmt.Sprintf("delete: poststop %v", err))
		}
	}
	return nil
}

func runFeatures(e *env, name string, args []string) error {
	if _, err := parse(newFlags(name), args, 0, 0); err != nil {
		return err
	}
	b, err := json.MarshalIndent(oci.Features(version), "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// startCreated releases the init from its barrier, records the container
// as running and runs the poststart hooks, whose failures are warnings
// (runtime-spec "Lifecycle", step 9).
func startCreated(e *env, st *oci.Store, r *oci.Record) error {
	if err := oci.Release(filepath.Join(st.Root, r.ID), killTimeout); err != nil {
		return fmt.Errorf("start container %q: %w", r.ID, err)
	}
	r.Status = specs.StateRunning
	if err := st.Save(r); err != nil {
		return err
	}
	// The state start made, running with its pid: a short process may
	// have ended already, and the hooks are about its start.
	s := r.State()
	s.Status, s.Pid = specs.StateRunning, r.Pid
	for _, h := range r.Poststart {
		if err := oci.RunHook(context.Background(), h, s); err != nil {
			e.log.warn(fmt.Sprintf("start: poststart %v", err))
		}
	}
	return nil
}

// dialConsole connects to the engine's console socket, which receives
// the pty master.
func dialConsole(path string) (*os.File, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--console-socket %q: %w", path, err)
	}
	defer c.Close()
	f, err := c.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("--console-socket %q: %w", path, err)
	}
	return f, nil
}
