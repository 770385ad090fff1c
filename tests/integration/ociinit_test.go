package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The container's process leads a session and a process group of its
// own, as runc's does: conmon's --timeout kills the process's group, which
// must not be conmon's.
func TestRuntimeInitSession(t *testing.T) {
	subreaper(t)
	root := filepath.Join(t.TempDir(), "root")
	bundle := bundleConfig(t, false, "sleep", "60")
	pid := createWith(t, root, bundle, "sess", nil)
	ok(t, runtime(t, nil, "--root", root, "start", "sess"))
	defer func() {
		ok(t, runtime(t, nil, "--root", root, "delete", "--force", "sess"))
		reap(t, pid)
	}()
	var pgrp, sid int
	waitFor(t, func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(sleep") {
			return false // not yet the workload
		}
		var state string
		var ppid int
		fmt.Sscanf(s[i+2:], "%s %d %d %d", &state, &ppid, &pgrp, &sid)
		return true
	})
	if pgrp != pid || sid != pid {
		t.Fatalf("the container's process %d: process group %d, session %d; want its own", pid, pgrp, sid)
	}
}
