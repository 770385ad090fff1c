package userns

import (
	"os"

	"golang.org/x/sys/unix"
)

// forwarded are the signals the init passes on to the workload.
var forwarded = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// supervise forwards signals to the workload and reaps every child until
// the workload exits, then returns its status: the exit code, or 128+N for
// signal N. If the supervisor hangs up, the sandbox is killed.
func supervise(workload int, kids *children, sigs <-chan os.Signal, hangup <-chan struct{}) int {
	// A SIGCHLD may have come and gone before we looked.
	if code, done := reap(workload, kids); done {
		return code
	}
	for {
		select {
		case s := <-sigs:
			if s == unix.SIGCHLD {
				if code, done := reap(workload, kids); done {
					return code
				}
				continue
			}
			unix.Kill(workload, s.(unix.Signal))
		case <-hangup:
			unix.Kill(workload, unix.SIGKILL)
			hangup = nil
		}
	}
}

// reap collects every exited child without blocking and reports the
// workload's status once it is among them.
func reap(workload int, kids *children) (int, bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return 0, false
		}
		code := ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		if pid != workload {
			kids.exited(pid, code)
			continue
		}
		return code, true
	}
}

// killAll kills every other process of the pid namespace and reaps them.
// kill(-1) from PID 1 reaches all processes of the namespace but the init.
func killAll() {
	unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
	}
}
