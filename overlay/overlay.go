package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/probe"
)

// Drivers.
const (
	Auto   = "auto"
	Kernel = "kernel"
	Fuse   = "fuse"
	// Bind is no driver: what Mount reports when it bound a read-only
	// image for want of one (Config.Bind).
	Bind = "bind"
)

// Config describes one overlay: the image as the lower layer, and the
// writable layer.
type Config struct {
	Lower string `json:"lower"`
	// Lowers, uppermost first, are an image's layers; when set they are
	// the lower directories and Lower (the uppermost) only names them in
	// errors.
	Lowers []string `json:"lowers,omitempty"`
	// Generated, when set, is a lower layer stacked above the image that
	// holds the files rbox generates (etc/hostname, etc/hosts,
	// etc/resolv.conf): they cover the image's, and nothing is written
	// into the upper layer, which would copy the image's /etc up.
	Generated string `json:"generated,omitempty"`
	Upper     string `json:"upper"`
	Work      string `json:"work"`
	Driver    string `json:"driver"`
	// FuseOverlayFS is the host path of fuse-overlayfs, resolved by the
	// supervisor (the init runs with the sandbox's environment, not the
	// user's PATH). Empty when it is not installed.
	FuseOverlayFS string `json:"fuseOverlayfs,omitempty"`
	// Tmpfs, when set, holds Upper and Work on a tmpfs mounted inside
	// the sandbox (see TmpfsLayer).
	Tmpfs *TmpfsLayer `json:"tmpfs,omitempty"`
	// SquashToRoot shows every file of the fuse-overlayfs mount as root's
	// (its squash_to_root), for a tree whose owners are outside the ID map:
	// the kernel shows those as the overflow ID, which root of the sandbox
	// may not override, and under a single map fuse-overlayfs cannot chown
	// a copy-up to it (EOVERFLOW). With it the tree looks as it does to its
	// owner. Copy-ups keep the overflow ID where the map has it (a full
	// map: the teardown's reaper removes them) and are the user's
	// otherwise.
	SquashToRoot bool `json:"squashToRoot,omitempty"`
	// Bind, when set, is the way out of auto when neither driver mounts:
	// the image bound read-only as it is (bind.go). Only a sandbox
	// without a writable layer (--read-only) may take it.
	Bind *BindRoot `json:"bind,omitempty"`
	// Retry, when set, moves an ephemeral writable layer to a tmpfs when
	// the kernel refuses its directory as an upper layer (EINVAL) on a
	// filesystem that UnfitForUpper does not know.
	Retry *RetryLayer `json:"retry,omitempty"`
	// Volatile mounts the kernel overlay with "volatile" (Linux 5.10+): no
	// sync of the upper filesystem, ever. For a layer removed when the
	// sandbox ends, whose contents no crash needs to find again: without
	// it, the unmount at the init's exit syncs the whole filesystem that
	// holds the upper (every dirty page of the host's on it), in the
	// sandbox's exit path. Such a layer cannot be mounted again (the
	// kernel leaves work/incompat/volatile), so never for --persist or a
	// kept sandbox. A kernel without the option mounts without it.
	Volatile bool `json:"volatile,omitempty"`
}

// RetryLayer is the tmpfs layer of Config.Retry: its size and the notice
// that says so, in the words of the front end.
type RetryLayer struct {
	Size   string `json:"size"`
	Notice string `json:"notice"`
}

// lowers are the lower directories, uppermost first.
func (c Config) lowers() []string {
	l := []string{c.Lower}
	if len(c.Lowers) > 0 {
		l = c.Lowers
	}
	if c.Generated != "" {
		l = append([]string{c.Generated}, l...)
	}
	return l
}

// CheckDriver validates a driver's name. Its error says what to use; the
// caller names the value and where it came from.
func CheckDriver(d string) error {
	switch d {
	case Auto, Kernel, Fuse:
		return nil
	}
	return errors.New("use auto, kernel or fuse")
}

// Prepare creates the writable layer's directories under dir: dir/upper and
// dir/work, which must live on one filesystem for the kernel driver. The
// merged root takes its mode from the upper directory, so a new upper gets
// the mode of the image's root.
func Prepare(dir, lower string) (upper, work string, err error) {
	upper, work = filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	st, err := os.Stat(lower)
	if err != nil {
		return "", "", fmt.Errorf("rootfs %q: %w", lower, err)
	}
	if err := os.Mkdir(upper, 0o700); err == nil {
		if err := os.Chmod(upper, st.Mode().Perm()|st.Mode()&os.ModeSticky); err != nil {
			return "", "", fmt.Errorf("chmod %q: %w", upper, errno(err))
		}
	} else if !errors.Is(err, os.ErrExist) {
		return "", "", fmt.Errorf("create %q: %w", upper, errno(err))
	}
	if err := os.Mkdir(work, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", "", fmt.Errorf("create %q: %w", work, errno(err))
	}
	return upper, work, nil
}

// errno drops the path of a path error whose path the message names.
func errno(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Mount mounts the overlay on target and returns the driver that did it.
// It must run inside the sandbox's user and mount namespaces. Under auto
// it takes the kernel's overlayfs, else fuse-overlayfs, else (Config.Bind)
// a read-only bind of the image; the error of a refusal names what
// refused each, on one line.
func Mount(c Config, target string) (string, error) {
	if c.Tmpfs != nil {
		if err := mountTmpfsLayer(c); err != nil {
			return "", err
		}
	}
	switch c.Driver {
	case Kernel:
		return Kernel, probe.Wrap(mountKernel(c, target), probe.Overlay)
	case Fuse:
		return Fuse, probe.Wrap(mountFuse(c, target), probe.Fuse)
	}
	kerr := mountKernel(c, target)
	if kerr != nil && c.Retry != nil && c.Tmpfs == nil && errors.As(kerr, new(*upperRefused)) {
		// The upper's filesystem is one overlayfs refuses that statfs did
		// not tell: the layer goes to a tmpfs, mounted on the upper
		// directory in this mount namespace (the host's stays empty).
		dir := c.Upper
		c.Tmpfs = &TmpfsLayer{Dir: dir, Size: c.Retry.Size}
		c.Upper, c.Work = filepath.Join(dir, "upper"), filepath.Join(dir, "work")
		if kerr = mountTmpfsLayer(c); kerr == nil {
			if kerr = mountKernel(c, target); kerr == nil {
				fmt.Fprintf(os.Stderr, "rbox: notice: %s\n", c.Retry.Notice)
				return Kernel, nil
			}
		}
	}
	if kerr == nil {
		return Kernel, nil
	}
	if cause := kernelCause(c, kerr); cause != "" {
		kerr = fmt.Errorf("%w (%s)", kerr, cause)
	}
	kerr = probe.Wrap(kerr, probe.Overlay)
	var ferr error
	_, derr := os.Stat("/dev/fuse")
	noDev := errors.Is(derr, os.ErrNotExist)
	switch {
	case c.FuseOverlayFS == "" && noDev:
		ferr = errors.New("not installed, and there is no /dev/fuse (apt-get install fuse-overlayfs; a container needs --device /dev/fuse too)")
	case c.FuseOverlayFS == "":
		ferr = errors.New("not installed (apt-get install fuse-overlayfs)")
	case noDev:
		ferr = errors.New("there is no /dev/fuse here (a container gets it with --device /dev/fuse)")
	default:
		if ferr = mountFuse(c, target); ferr == nil {
			return Fuse, nil
		}
	}
	ferr = probe.Wrap(ferr, probe.Fuse)
	if c.Bind == nil {
		return "", fmt.Errorf("no overlay here: %w; fuse-overlayfs: %w", kerr, ferr)
	}
	if c.Tmpfs != nil {
		// No writable layer under a bind: its memory goes back now.
		unix.Unmount(c.Tmpfs.Dir, unix.MNT_DETACH)
	}
	why := fmt.Sprintf("%v; fuse-overlayfs: %v", kerr, ferr)
	notice, err := mountBind(c, target, why)
	if err != nil {
		return "", probe.Wrap(err, probe.Overlay, probe.Fuse)
	}
	fmt.Fprintf(os.Stderr, "rbox: notice: %s\n", notice)
	return Bind, nil
}

// upperRefused is the kernel's EINVAL for the upper directory: its
// filesystem cannot hold an upper layer.
type upperRefused struct{ err error }

func (e *upperRefused) Error() string { return e.err.Error() }
func (e *upperRefused) Unwrap() error { return e.err }

// mountKernel uses the new mount API so that every option is its own
// fsconfig call: no comma escaping. The layers are named through
// /proc/self/fd of descriptors opened here, so a ':' or ',' in a path cannot
// be read as a separator, and each path is resolved exactly once.
func mountKernel(c Config, target string) error {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	open := func(p string) (int, error) {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("open %q: %w", p, err)
		}
		fds = append(fds, fd)
		return fd, nil
	}
	// An image's layers (and the generated files' above them) are one
	// lowerdir+ each (Linux 6.8+); a rootfs and the generated layer go in
	// one lowerdir. planLowers has the limits.
	var lowerFDs []int
	for _, l := range c.lowers() {
		fd, err := open(l)
		if err != nil {
			return err
		}
		lowerFDs = append(lowerFDs, fd)
	}
	upper, err := open(c.Upper)
	if err != nil {
		return err
	}
	work, err := open(c.Work)
	if err != nil {
		return err
	}
	plus := len(c.Lowers) > 0
	p, err := planLowers(lowerFDs, upper, work, plus)
	if err != nil {
		return err
	}
	err = mountPlan(p, c, target)
	if plus && errors.Is(err, errNoLowerdirPlus) {
		// Before Linux 6.8: one lowerdir string of short names.
		if p, err = planLowers(lowerFDs, upper, work, false); err != nil {
			return err
		}
		err = mountPlan(p, c, target)
	}
	return err
}

// errNoLowerdirPlus is a kernel that does not know lowerdir+ (before
// 6.8). A constant: no package init in every rbox exec.
const errNoLowerdirPlus = constError("lowerdir+ not supported")

type constError string

func (e constError) Error() string { return string(e) }

// mountPlan mounts one lowerPlan.
func mountPlan(p lowerPlan, c Config, target string) error {
	if p.relative {
		// The lower names are descriptor numbers: relative to the
		// descriptor directory, which overlayfs resolves them against
		// (the cwd is the whole process's; the init does nothing else
		// meanwhile, and it is put back).
		back, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("kernel overlay: open the working directory: %w", err)
		}
		defer func() { unix.Fchdir(back); unix.Close(back) }()
		if err := unix.Chdir("/proc/self/fd"); err != nil {
			return fmt.Errorf("kernel overlay: chdir /proc/self/fd: %w", err)
		}
	}
	if p.legacy != "" {
		if c.Volatile {
			err := unix.Mount("overlay", target, "overlay", unix.MS_NODEV, p.legacy+",volatile")
			if !errors.Is(err, unix.EINVAL) {
				return mountError(c, err)
			}
			// Perhaps a kernel before volatile: try without.
		}
		return mountError(c, unix.Mount("overlay", target, "overlay", unix.MS_NODEV, p.legacy))
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("kernel overlay: fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	for i, o := range p.opts {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			if i == 0 && o[0] == "lowerdir+" && errors.Is(err, unix.EINVAL) {
				return errNoLowerdirPlus
			}
			err = fmt.Errorf("kernel overlay: set %s=%q: %w%s", o[0], o[1], err, kernelLog(fsfd))
			if o[0] == "upperdir" && errors.Is(err, unix.EINVAL) {
				return &upperRefused{err}
			}
			return err
		}
	}
	// userxattr: in a user namespace the trusted.* xattrs are out of reach.
	if err := unix.FsconfigSetFlag(fsfd, "userxattr"); err != nil {
		return fmt.Errorf("kernel overlay: set userxattr: %w", err)
	}
	if c.Volatile {
		// EINVAL: a kernel before the option (5.10), which syncs.
		if err := unix.FsconfigSetFlag(fsfd, "volatile"); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("kernel overlay: set volatile: %w", err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("kernel overlay: lower %q, upper %q: %w%s", c.Lower, c.Upper, err, kernelLog(fsfd))
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return fmt.Errorf("kernel overlay: fsmount: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("kernel overlay: attach on %q: %w", target, err)
	}
	return nil
}

// mountError is the legacy mount's error, nil for none.
func mountError(c Config, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("kernel overlay: lower %q, upper %q (%d layers, mount data): %w", c.Lower, c.Upper, len(c.Lowers), err)
}

// kernelLog reads the messages the filesystem left on the fs context, which
// say why a mount was refused far better than the errno does.
func kernelLog(fsfd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for i := 0; i < 16; i++ {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (" + strings.Join(msgs, "; ") + ")"
}

// mountFuse mounts a FUSE filesystem on target from a /dev/fuse descriptor
// of our own and hands that descriptor to fuse-overlayfs (libfuse reads a
// mount point of /dev/fd/N as "already mounted on N"). The daemon runs in a
// mount namespace of its own: the init's pivot_root moves the root of every
// process in its namespace, and a daemon whose root became its own mount
// would deadlock on its first path lookup.
func mountFuse(c Config, target string) error {
	if c.FuseOverlayFS == "" {
		return errors.New("fuse-overlayfs is not installed (apt-get install fuse-overlayfs)")
	}
	lowers := c.lowers()
	for _, p := range append([]string{c.Upper, c.Work}, lowers...) {
		if strings.ContainsAny(p, ",:\\") {
			return fmt.Errorf("fuse-overlayfs cannot take the path %q: it contains ',', ':' or '\\'", p)
		}
	}
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open /dev/fuse: %w (it must be readable and writable by you: chmod 0666 /dev/fuse as root)", err)
	}
	defer dev.Close()
	data := fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions", dev.Fd())
	if err := unix.Mount("fuse-overlayfs", target, "fuse", unix.MS_NODEV, data); err != nil {
		return fmt.Errorf("mount fuse on %q: %w", target, err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"), c.Upper, c.Work)
	if c.SquashToRoot {
		opts += ",squash_to_root"
	}
	cmd := exec.Command(c.FuseOverlayFS, "-o", opts, "/dev/fd/3")
	cmd.ExtraFiles = []*os.File{dev}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// fuse-overlayfs forks its daemon and exits once it serves the mount.
	if err := cmd.Run(); err != nil {
		unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("%s -o %s /dev/fd/3: %w: %s", c.FuseOverlayFS, opts, err, strings.TrimSpace(out.String()))
	}
	return nil
}
