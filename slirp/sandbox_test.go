package slirp

import (
	"os"
	"os/exec"
	"testing"
)

// ownPid keeps a pid of our namespace as it is, for us and for a child.
func TestOwnPid(t *testing.T) {
	if got := ownPid(os.Getpid()); got != os.Getpid() {
		t.Errorf("ownPid(self %d) = %d", os.Getpid(), got)
	}
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Process.Kill()
	if got := ownPid(cmd.Process.Pid); got != cmd.Process.Pid {
		t.Errorf("ownPid(child %d) = %d", cmd.Process.Pid, got)
	}
	if got := ownPid(1 << 30); got != 1<<30 {
		t.Errorf("ownPid of no process = %d, want it back", got)
	}
}
