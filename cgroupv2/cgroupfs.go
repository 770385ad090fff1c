package cgroupv2

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// leafName is the child cgroup that the processes of a delegated cgroup are
// moved into, so that the cgroup itself may enable controllers for its
// children (the "no internal processes" rule of cgroup v2). The leaf is
// shared and kept: the processes in it (the user's shell, other rbox runs)
// outlive any one sandbox.
const leafName = "rbox-leaf"

// destroyTimeout bounds the wait for a killed sandbox's cgroup to empty
// when the caller's context has no deadline.
const destroyTimeout = 10 * time.Second

// cgroupfsManager writes the cgroup files itself, in a delegated subtree.
type cgroupfsManager struct {
	base string // the delegated cgroup directory the sandboxes go under
}

func newCgroupfs() (*cgroupfsManager, error) {
	rel, err := readFile("/proc/self/cgroup", parseProcCgroup)
	if err != nil {
		return nil, fmt.Errorf("find the current cgroup: %w", err)
	}
	// A process in the leaf an earlier rbox made is a process of the
	// delegated cgroup above it: sandboxes go beside the leaf, not into it,
	// or each run would nest one level deeper.
	if filepath.Base(rel) == leafName {
		rel = filepath.Dir(rel)
	}
	base := filepath.Join(mountRoot, rel)
	for _, p := range []string{base, filepath.Join(base, "cgroup.procs"), filepath.Join(base, "cgroup.subtree_control")} {
		if err := unix.Access(p, unix.W_OK); err != nil {
			return nil, &UnavailableError{
				Reasons: []string{fmt.Sprintf("the current cgroup %q is not delegated to this user (%q is not writable: %v)", base, p, err)},
				Hints:   []string{"run rbox under 'systemd-run --user --scope -p Delegate=yes', or in a login session where the user's systemd answers"},
			}
		}
	}
	return &cgroupfsManager{base: base}, nil
}

func (m *cgroupfsManager) Kind() Kind   { return Cgroupfs }
func (m *cgroupfsManager) Close() error { return nil }

// statsControllers are enabled, when delegated, even without a limit on
// them, so that Stats has memory.peak and pids.peak. (cpu.stat's usage is
// there without the cpu controller.)
var statsControllers = []string{"memory", "pids"}

func (m *cgroupfsManager) Create(ctx context.Context, name string, l Limits, pid int) (*Cgroup, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || pid <= 0 {
		return nil, fmt.Errorf("create cgroup: need a plain name and a pid, got %q and %d", name, pid)
	}
	have, err := readFile(filepath.Join(m.base, "cgroup.controllers"), parseControllers)
	if err != nil {
		return nil, fmt.Errorf("read the controllers of %q: %w", m.base, err)
	}
	need := l.Controllers()
	if len(missing(need, have)) > 0 {
		return nil, notDelegatedError(m.base, need, have)
	}
	enable := append([]string(nil), need...)
	for _, c := range statsControllers {
		if !slices.Contains(enable, c) && slices.Contains(have, c) {
			enable = append(enable, c)
		}
	}
	if err := m.enableControllers(enable); err != nil {
		return nil, err
	}
	dir := filepath.Join(m.base, "rbox-"+name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup %q: %w", dir, err)
	}
	cg := &Cgroup{path: dir, statsPath: dir, workload: filepath.Join(dir, WorkloadLeaf)}
	cg.destroy = func(ctx context.Context) error { return removeCgroup(ctx, dir) }
	fail := func(err error) (*Cgroup, error) {
		if derr := cg.destroy(ctx); derr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, derr)
		}
		return nil, err
	}
	if err := writeLimits(dir, l, l.parentFiles()); err != nil {
		return fail(err)
	}
	if err := makeLeaves(dir, l, pid, enable); err != nil {
		return fail(err)
	}
	return cg, nil
}

// enableControllers makes the controllers available to the base's children.
// When the base still holds processes (typically this process and the shell
// that started it, in the scope systemd-run made), the kernel refuses with
// EBUSY: those processes are first moved into the leaf, as runc and crun
// do, and the write is tried again.
func (m *cgroupfsManager) enableControllers(cs []string) error {
	ctl := filepath.Join(m.base, "cgroup.subtree_control")
	on, err := readFile(ctl, parseControllers)
	if err != nil {
		return fmt.Errorf("read %q: %w", ctl, err)
	}
	todo := missing(cs, on)
	if len(todo) == 0 {
		return nil
	}
	value := "+" + strings.Join(todo, " +")
	err = writeFile(ctl, value)
	if err == nil || !errors.Is(err, unix.EBUSY) {
		return err
	}
	if err := m.moveToLeaf(); err != nil {
		return err
	}
	return writeFile(ctl, value)
}

// moveToLeaf moves every process of the base cgroup into the leaf. New
// processes can appear while it works (a fork in the shell), so it goes
// over the list until it is empty, a bounded number of times.
func (m *cgroupfsManager) moveToLeaf() error {
	leaf := filepath.Join(m.base, leafName)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create leaf cgroup %q: %w", leaf, err)
	}
	procs := filepath.Join(m.base, "cgroup.procs")
	for range 10 {
		b, err := os.ReadFile(procs)
		if err != nil {
			return fmt.Errorf("read %q: %w", procs, err)
		}
		pids := strings.Fields(string(b))
		if len(pids) == 0 {
			return nil
		}
		for _, p := range pids {
			err := writeFile(filepath.Join(leaf, "cgroup.procs"), p)
			if err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("move the processes of %q into %q first: %w", m.base, leaf, err)
			}
		}
	}
	return fmt.Errorf("move the processes of %q into %q: new ones keep appearing", m.base, leafName)
}

// removeCgroup kills what is left in dir (cgroup.kill, Linux 5.14), waits
// for the kernel to report it empty, and removes it.
func removeCgroup(ctx context.Context, dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, destroyTimeout)
		defer cancel()
	}
	if err := writeFile(filepath.Join(dir, "cgroup.kill"), "1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("kill the processes of %q: %w", dir, err)
	}
	if err := waitEmpty(ctx, dir); err != nil {
		return err
	}
	return removeTree(dir)
}

// waitEmpty waits until cgroup.events says "populated 0". The kernel
// signals each change of that file to inotify as a modification, so this
// sleeps in poll(2) rather than spinning; the poll timeout only lets it
// notice the context.
func waitEmpty(ctx context.Context, dir string) error {
	events := filepath.Join(dir, "cgroup.events")
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("watch %q: %w", events, err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, events, unix.IN_MODIFY); err != nil {
		return fmt.Errorf("watch %q: %w", events, err)
	}
	buf := make([]byte, 4096)
	for {
		ev, err := readFile(events, parseFlatKeyed)
		if err != nil {
			return fmt.Errorf("read %q: %w", events, err)
		}
		if ev["populated"] == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cgroup %q still has processes: %w", dir, err)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 100); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("watch %q: %w", events, err)
		}
		_, _ = unix.Read(fd, buf) // drain; the file is read again above
	}
}
