package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/state"
)

// Record is what the runtime keeps of one container, in ROOT/ID/state.json:
// the OCI state plus what proves the recorded pid is still the
// container's process.
type Record struct {
	OCIVersion string               `json:"ociVersion"`
	ID         string               `json:"id"`
	Bundle     string               `json:"bundle"`
	Rootfs     string               `json:"rootfs,omitempty"` // the Bundle's Root.Path
	Status     specs.ContainerState `json:"status"`           // as last written: creating, created or running
	Pid        int                  `json:"pid,omitempty"`
	// PidStart is the start time of Pid (state.ProcStart): a pid that is
	// reused by another process is not the container's.
	PidStart uint64 `json:"pidStart,omitempty"`
	// NewPIDNS says the container has a pid namespace of its own: kill
	// --all and ps then find its processes by that namespace.
	NewPIDNS bool `json:"newPidNS,omitempty"`
	// Cgroup is the container's cgroup, "" when it runs without one: a
	// cgroup v2 directory, or with CgroupV1 the path inside every v1
	// hierarchy.
	Cgroup   string `json:"cgroup,omitempty"`
	CgroupV1 bool   `json:"cgroupV1,omitempty"`
	// CgroupMade: create made the cgroup (it did not exist), so delete
	// removes it and what is in it is the container's.
	CgroupMade bool `json:"cgroupMade,omitempty"`
	// HostMounts says the container has no mount namespace of its own:
	// its mounts are on Rootfs in the caller's, and delete detaches all
	// but KeepMounts (the IDs of those that were there before create).
	HostMounts bool  `json:"hostMounts,omitempty"`
	KeepMounts []int `json:"keepMounts,omitempty"`
	// Paused is set by pause and cleared by resume.
	Paused bool `json:"paused,omitempty"`
	// Poststop are the hooks delete runs, kept from config.json at create
	// (the bundle may be gone by then).
	Poststop []Hook `json:"poststop,omitempty"`
	// Poststart are the hooks start runs once the process runs.
	Poststart   []Hook            `json:"poststart,omitempty"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// StatePaused is the status runc and crun report for a frozen container;
// the runtime spec leaves it to runtimes, and podman reads it.
const StatePaused specs.ContainerState = "paused"

// status is the container's status now: a created or running container
// whose process is gone (or whose pid now names another process) is
// stopped.
func (r *Record) status() specs.ContainerState {
	if r.Status == specs.StateCreating || r.Status == specs.StateStopped {
		return r.Status
	}
	if r.Pid <= 0 {
		return specs.StateStopped
	}
	if got, err := state.ProcStart(r.Pid); err != nil || got != r.PidStart || zombie(r.Pid) {
		return specs.StateStopped
	}
	if r.Paused {
		return StatePaused
	}
	return r.Status
}

// State is the runtime-spec state JSON of the container; a stopped
// container reports no pid, as runc does.
func (r *Record) State() specs.State {
	st := specs.State{Version: r.OCIVersion, ID: r.ID, Status: r.status(), Bundle: r.Bundle, Annotations: r.Annotations}
	if st.Status != specs.StateStopped {
		st.Pid = r.Pid
	}
	return st
}

// zombie reports whether pid has exited but is not yet reaped: its
// parent (conmon, the shim) reaps it soon, and it is stopped already.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := len(b) - 1
	for i >= 0 && b[i] != ')' {
		i--
	}
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// CheckID refuses an ID that could not be one directory under the root.
// The rule is runc's: letters, digits and "_+-.", never "." or "..", so
// an ID is always one path element. (A loop, not a regexp: compiling one
// at start would cost every call of the runtime.)
func CheckID(id string) error {
	if id == "" {
		return errors.New("container ID is empty")
	}
	ok := len(id) <= 1024 && id != "." && id != ".."
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+-.", c) >= 0
	}
	if !ok {
		return fmt.Errorf("container ID %q is invalid: use letters, digits and _+-. (at most 1024)", id)
	}
	return nil
}

// ErrNotExist is a container the root does not hold. Its message holds
// "does not exist", which podman, containerd and CRI-O match.
var ErrNotExist = errors.New("does not exist")

// ErrExist is an ID already in use under the root.
var ErrExist = errors.New("already exists")

// Store is the runtime's state root: one directory per container.
type Store struct {
	Root string
	// missing: the root does not exist yet, so it holds no container;
	// readers do not create it.
	missing bool
}

// OpenStore opens root as the runtime's state root for uid, checked by
// state.OpenRoot (a directory of uid's, not a symlink, open to nobody
// else). With create, a missing root is made 0700, its parents too
// (containerd passes /run/containerd/runc/NAMESPACE before anything made
// it); without, a missing root is a store that holds no container, and
// nothing is made.
func OpenStore(root string, uid int, create bool) (*Store, error) {
	root = filepath.Clean(root)
	if !create {
		if _, err := os.Lstat(root); errors.Is(err, os.ErrNotExist) {
			return &Store{Root: root, missing: true}, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o700); err != nil {
		return nil, fmt.Errorf("state root %q: %w", root, err)
	}
	f, err := state.OpenRoot(root, uid)
	if err != nil {
		return nil, err
	}
	f.Close()
	return &Store{Root: root}, nil
}

func (s *Store) dir(id string) string { return filepath.Join(s.Root, id) }

// Lock holds the container's directory locked until unlock is called, so
// that two commands on one container (a delete during a start) take
// turns. It fails with ErrNotExist for an unknown ID.
func (s *Store) Lock(id string) (unlock func(), err error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	if s.missing {
		return nil, fmt.Errorf("container %q %w", id, ErrNotExist)
	}
	fd, err := unix.Open(s.dir(id), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("container %q %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("open container %q: %w", id, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock container %q: %w", id, err)
	}
	return func() { unix.Close(fd) }, nil
}

// Create makes the container's directory and writes its first record.
// An ID in use is ErrExist; on any failure nothing is left.
func (s *Store) Create(r *Record) error {
	if err := CheckID(r.ID); err != nil {
		return err
	}
	if s.missing {
		return errors.New("state root opened without create")
	}
	if err := unix.Mkdir(s.dir(r.ID), 0o700); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("container %q %w in %s", r.ID, ErrExist, s.Root)
		}
		return fmt.Errorf("create container %q: %w", r.ID, err)
	}
	if err := s.Save(r); err != nil {
		os.RemoveAll(s.dir(r.ID))
		return err
	}
	return nil
}

// Save replaces the record: written to a new file and renamed over the
// old, so that a reader sees the old record or the new one, never half.
func (s *Store) Save(r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir(r.ID), ".state-")
	if err != nil {
		return fmt.Errorf("save container %q: %w", r.ID, err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(s.dir(r.ID), "state.json"))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save container %q: %w", r.ID, err)
	}
	return nil
}

// Load reads a container's record; an unknown ID is ErrNotExist.
func (s *Store) Load(id string) (*Record, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	if s.missing {
		return nil, fmt.Errorf("container %q %w", id, ErrNotExist)
	}
	p := filepath.Join(s.dir(id), "state.json")
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("container %q %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("read container %q: %w", id, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var r Record
	if err := json.NewDecoder(f).Decode(&r); err != nil {
		return nil, fmt.Errorf("read container %q: %q: %w", id, p, err)
	}
	if r.ID != id {
		return nil, fmt.Errorf("read container %q: %q names container %q", id, p, r.ID)
	}
	return &r, nil
}

// Remove deletes the container's directory and what the runtime put in
// it.
func (s *Store) Remove(id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if s.missing {
		return nil
	}
	if err := os.RemoveAll(s.dir(id)); err != nil {
		return fmt.Errorf("remove container %q: %w", id, err)
	}
	return nil
}
