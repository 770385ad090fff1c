package userns

import (
	"errors"
	"fmt"
	"io"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/probe"
)

// rootState is what the build of the root filesystem hands to the workload
// start.
type rootState struct {
	user execUser
}

// builder applies Config.Ops (op.go) in order.
type builder struct {
	cfg *Config
	ext Externals
	ch  channel
	// root is the directory of OpRoot: every later target is resolved in
	// it. After OpPivot it is the sandbox's "/".
	root *os.File
	user *execUser
	// binds are the directories bound from the host so far, by mount ID,
	// with their sources: no mount point may be created in one.
	binds map[uint64]string
}

// errSync carries a failed receive of the sync protocol out of the build:
// the init ends as for any other (syncFailure), not as for a mount.
type errSync struct{ err error }

func (e *errSync) Error() string { return e.err.Error() }
func (e *errSync) Unwrap() error { return e.err }

// buildRoot assembles the sandbox's filesystem from cfg.Ops and pivots
// into it, as the ops say.
func buildRoot(cfg *Config, ext Externals, ch channel) (*rootState, error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, failure(125, "make / private: %w%s", probe.Wrap(err, outerProbes(err)...), OuterSeccomp(err, "mount"))
	}
	b := &builder{cfg: cfg, ext: ext, ch: ch}
	defer func() {
		if b.root != nil {
			b.root.Close()
		}
	}()
	for _, op := range cfg.Ops {
		if err := b.apply(op); err != nil {
			var ee *exitError
			var se *errSync
			if !errors.As(err, &ee) && !errors.As(err, &se) {
				err = failure(125, "%w", err)
			}
			return nil, err
		}
	}
	if b.user == nil {
		return nil, failure(125, "the init's ops name no root (%s)", OpRoot)
	}
	return &rootState{user: *b.user}, nil
}

// apply runs one op.
func (b *builder) apply(op Op) error {
	debugf(b.cfg, "init: op %s %s", op.Kind, op.Target)
	switch op.Kind {
	case OpNetwork:
		return b.network(op)
	case OpOverlay:
		if b.ext.Overlay == nil {
			return fmt.Errorf("op %s: not available in this init", op.Kind)
		}
		how, err := b.ext.Overlay(op.Data, op.Target)
		if err != nil {
			return err
		}
		debugf(b.cfg, "rootfs: %s", how)
		return nil
	case OpRoot:
		return b.openRoot(op.Target)
	}
	if b.root == nil {
		return fmt.Errorf("op %s %s comes before the root (%s)", op.Kind, op.Target, OpRoot)
	}
	switch op.Kind {
	case OpPivot:
		// The root's descriptor stays valid: it is the sandbox's "/" now.
		return pivot(b.root)
	case OpHostname:
		return setHostname(op.Source)
	case OpLoopback:
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("bring up lo: %w", err)
		}
		return nil
	case OpRemount:
		return remount(b.root, op)
	case OpMask:
		if err := mask(b.root, op.Target); err != nil {
			return fmt.Errorf("mask %s: %w", op.Target, err)
		}
		return nil
	case OpReadOnly:
		if err := bindReadOnly(b.root, op); err != nil {
			return fmt.Errorf("make %s read-only: %w", op.Target, err)
		}
		return nil
	case OpFile:
		if op.UnlessReadOnly && readOnlyMount(b.root) {
			debugf(b.cfg, "init: %s is on a read-only root: left as it is", op.Target)
			return nil
		}
		if err := writeFileIn(b.root, op); err != nil {
			return fmt.Errorf("write %s in the sandbox: %w%s", op.Target, unwrapPathErr(err), layerFull(b.cfg, err))
		}
		return nil
	}
	// What follows may create its target: never in a host directory.
	if err := b.checkMountPoint(op); err != nil {
		return err
	}
	switch op.Kind {
	case OpDir:
		d, err := pathrs.MkdirAllHandle(b.root, op.Target, 0o755)
		if err != nil {
			return fmt.Errorf("directory %q: %w", op.Target, err)
		}
		return d.Close()
	case OpSymlink:
		return symlinkIn(b.root, op)
	case OpBind, OpRBind:
		id, dir, err := bindIn(b.root, op)
		if err == nil && dir {
			if b.binds == nil {
				b.binds = map[uint64]string{}
			}
			b.binds[id] = op.Source
		}
		return err
	case OpCgroup2:
		return mountCgroupLeaf(b.root, op)
	case OpProc:
		return mountProc(b.root, op)
	case OpSysfs:
		return mountSysfs(b.root, op)
	case OpTmpfs, OpDevpts, OpMqueue:
		return freshIn(b.root, op)
	}
	return fmt.Errorf("unknown op %q", op.Kind)
}

// readOnlyMount says whether the mount of f is read-only.
func readOnlyMount(f *os.File) bool {
	var fs unix.Statfs_t
	return unix.Fstatfs(int(f.Fd()), &fs) == nil && fs.Flags&unix.ST_RDONLY != 0
}

// network configures the sandbox's side of a user-mode network while the
// host's filesystem is still reachable: the port driver's child side
// listens on a socket in the supervisor's state directory, and the
// supervisor says "ports" once it listens on the host ports.
func (b *builder) network(op Op) error {
	if b.ext.Network == nil {
		return fmt.Errorf("op %s: not available in this init", op.Kind)
	}
	var log io.Writer
	if b.cfg.Debug {
		log = os.Stderr
	}
	how, err := b.ext.Network(op.Data, log)
	if err != nil {
		return failure(125, "configure the sandbox's network: %w", err)
	}
	debugf(b.cfg, "init: %s", how)
	if !op.Ports {
		return nil
	}
	if err := b.ch.awaitPorts(); err != nil {
		// EOF: the supervisor could not publish a port and gives up; it
		// has said why.
		return &errSync{err}
	}
	debugf(b.cfg, "init: ports published")
	return nil
}

// openRoot opens the root and looks the workload's user up in it: its
// /etc/passwd and /etc/group as the image has them, before any mount.
func (b *builder) openRoot(dir string) error {
	if b.root != nil {
		return fmt.Errorf("a second root %q", dir)
	}
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the root %q: %w", dir, err)
	}
	b.root = root
	if err := ownMount(root, dir); err != nil {
		return err
	}
	user, err := lookupUser(root, b.cfg.User)
	if err != nil {
		return err
	}
	if err := checkMapped(b.cfg, &user); err != nil {
		return err
	}
	b.user = &user
	return nil
}

// ownMount makes a root that is not the root of a mount (an OCI bundle's
// root.path, which the engine prepared) a mount of its own, recursively,
// as pivot_root wants: an rbind of it on itself. The overlay is one
// already.
func ownMount(root *os.File, dir string) error {
	var stx unix.Statx_t
	if err := unix.Statx(int(root.Fd()), "", unix.AT_EMPTY_PATH, 0, &stx); err != nil {
		return fmt.Errorf("statx the root %q: %w", dir, err)
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return nil
	}
	tree, err := unix.OpenTree(int(root.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("bind the root %q: %w", dir, err)
	}
	defer unix.Close(tree)
	if err := attach(tree, root, "the root"); err != nil {
		return err
	}
	// The descriptor names the directory under the new mount: open the
	// mount's root instead.
	nr, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the root %q: %w", dir, err)
	}
	defer nr.Close()
	if err := unix.Dup3(int(nr.Fd()), int(root.Fd()), unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("open the root %q: %w", dir, err)
	}
	return nil
}
