package hostcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/userns"
)

// HelperArg is argv[1] of the rbox binary re-executed for a real try;
// cmd/rbox dispatches it to HelperMain before the CLI parses anything.
const HelperArg = "__check"

// HelperMain runs one try inside the namespaces it was cloned into and
// returns the exit status; the reason of a failure goes to stderr.
//
//	userns                                  use the namespaces as the init would
//	wait                                    wait for EOF on stdin (the ID map try)
//	mount DRIVER FUSEBIN LOWER UPPER WORK MERGED
func HelperMain(args []string) int {
	err := userns.MapSelfFromEnv()
	switch {
	case err != nil:
	case len(args) == 1 && args[0] == "userns":
		err = tryNamespaces()
	case len(args) == 1 && args[0] == "wait":
		_, err = io.Copy(io.Discard, os.Stdin)
	case len(args) == 1 && args[0] == "hostname":
		err = unix.Sethostname([]byte("rbox-check"))
	case (len(args) == 7 || len(args) == 8) && args[0] == "mount":
		c := overlay.Config{Driver: args[1], FuseOverlayFS: args[2], Lower: args[3], Upper: args[4], Work: args[5]}
		if len(args) == 8 {
			// The layer on a tmpfs at args[7], as rbox exec makes it.
			c.Tmpfs = &overlay.TmpfsLayer{Dir: args[7], Size: "16m"}
		}
		err = tryMount(c, args[6])
	default:
		err = fmt.Errorf("usage: %s userns|wait|mount DRIVER FUSEBIN LOWER UPPER WORK MERGED", HelperArg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// tryNamespaces does what needs capabilities in the new user namespace
// first thing in the init: a kernel that lets the clone through but keeps
// the capabilities (AppArmor's restriction) fails here.
func tryNamespaces() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private in the new mount namespace: %w", err)
	}
	// An outer seccomp filter that refuses it only costs the hostname
	// (probe seccomp says so).
	if err := unix.Sethostname([]byte("rbox-check")); err != nil && !(errors.Is(err, unix.EPERM) && userns.OuterFiltered()) {
		return fmt.Errorf("sethostname in the new UTS namespace: %w", err)
	}
	return nil
}

// tryMount mounts the overlay as the init would, writes through it and
// reads the lower layer through it.
func tryMount(c overlay.Config, merged string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	driver, err := overlay.Mount(c, merged)
	if err != nil {
		return err
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	if driver != c.Driver {
		return fmt.Errorf("asked for the %s driver, got %s", c.Driver, driver)
	}
	if b, err := os.ReadFile(filepath.Join(merged, "lower")); err != nil || string(b) != "lower\n" {
		return fmt.Errorf("read the lower layer through the overlay: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(merged, "upper"), []byte("upper\n"), 0o644); err != nil {
		return fmt.Errorf("write through the overlay: %w", err)
	}
	if err := unix.Unmount(merged, 0); err != nil {
		return fmt.Errorf("unmount the overlay: %w", err)
	}
	return nil
}

// helper prepares the rbox binary in helper mode, cloned with flags. With
// mapSelf the user is mapped to root in the new user namespace, as rbox
// exec's single map does.
func (h *Host) helper(ctx context.Context, flags uintptr, mapSelf bool, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, h.Exe, append([]string{HelperArg}, args...)...)
	cmd.Args[0] = "rbox"
	cmd.Env = []string{"PATH=" + h.Path}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	if mapSelf {
		// Under a /proc of an outer pid namespace the helper maps itself.
		if env, err := userns.SelfMapAttr(cmd.SysProcAttr, h.UID, h.GID); err == nil && env != "" {
			cmd.Env = append(cmd.Env, env)
		}
	}
	return cmd
}

// runHelper runs a helper to its end; the error carries its stderr.
func runHelper(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return errors.New(strings.ReplaceAll(msg, "\n", "; "))
		}
	}
	return err
}

// removeAll removes a try's directory, first opening the modes that an
// overlay work directory leaves (work/work is mode 0).
func removeAll(dir string) error {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
