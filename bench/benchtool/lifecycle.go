package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// cmdLifecycle drives one OCI runtime through the life of one container,
// as an engine's shim does: create (the container's process blocks before
// its program), start, wait until the container has stopped, delete. The
// container's init is create's child; when create exits it is reparented
// to this process, a child subreaper, which reaps it as conmon and the
// containerd shim do. With -noop it only starts and exits: the driver's
// own cost, which the harness subtracts.
func cmdLifecycle(args []string) error {
	fs := flag.NewFlagSet("lifecycle", flag.ContinueOnError)
	runtime := fs.String("runtime", "", "the OCI runtime (runc's command line)")
	root := fs.String("root", "", "the runtime's state root (--root)")
	bundle := fs.String("bundle", "", "the bundle: config.json whose process exits 0")
	id := fs.String("id", "bench", "container ID")
	noop := fs.Bool("noop", false, "start and exit: the driver alone")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *noop {
		return nil
	}
	if *runtime == "" || *root == "" || *bundle == "" {
		return errors.New("-runtime, -root and -bundle are required")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a child subreaper: %w", err)
	}
	rt := func(a ...string) error {
		cmd := exec.Command(*runtime, append([]string{"--root", *root}, a...)...)
		// The container's stdio are the runtime's: the driver's own. Not
		// a pipe: the container's process would hold it open, and Wait
		// would wait for it as long. The runtime's errors go to stderr.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %w", *runtime, a[0], err)
		}
		return nil
	}
	if err := rt("create", "--bundle", *bundle, *id); err != nil {
		rt("delete", "--force", *id)
		return err
	}
	if err := rt("start", *id); err != nil {
		rt("delete", "--force", *id)
		return err
	}
	// What is left to reap is the container's init (and whatever else the
	// runtime left behind): wait for all of it, the container then has
	// stopped.
	if err := reapAll(); err != nil {
		rt("delete", "--force", *id)
		return err
	}
	return rt("delete", *id)
}

// reapAll waits for every remaining child, and fails when one did not
// exit 0: the container's process is the bundle's, which exits 0.
func reapAll() error {
	var bad error
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return bad
		case err != nil:
			return fmt.Errorf("wait for the container: %w", err)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			bad = fmt.Errorf("the container's process %d ended with status %#x, want exit 0", pid, uint32(ws))
		}
	}
}
