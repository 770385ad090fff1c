package oci

import (
	"errors"
	"fmt"
	"regexp"
	"testing"

	"golang.org/x/sys/unix"
)

// podmanExit is libpod's getOCIRuntimeError (podman 4.3,
// libpod/oci_conmon_common.go) reduced to the exit code it gives.
func podmanExit(msg string) int {
	switch {
	case regexp.MustCompile("(?i).*permission denied.*|.*operation not permitted.*").MatchString(msg):
		return 126
	case regexp.MustCompile("(?i).*executable file not found in.*|.*no such file or directory.*").MatchString(msg):
		return 127
	}
	return 125
}

func TestExecError(t *testing.T) {
	tests := []struct {
		prog string
		err  error
		want int
	}{
		{"nonexistent", unix.ENOENT, 127},
		{"/nonexistent", unix.ENOENT, 127},
		{"/etc/hosts", unix.EACCES, 126},
		{"/bin/sh", unix.EPERM, 126},
		{"/bin/x", fmt.Errorf("execve: %w", unix.EACCES), 126},
		{"/bin/x", unix.ENOEXEC, 125},
		{"/bin/x", errors.New("the init died"), 125},
	}
	for _, tt := range tests {
		err := ExecError(tt.prog, tt.err)
		if got := podmanExit(err.Error()); got != tt.want {
			t.Errorf("ExecError(%q, %v) = %q: podman gives %d, want %d", tt.prog, tt.err, err, got, tt.want)
		}
		if !errors.Is(err, tt.err) && !errors.Is(err, errors.Unwrap(tt.err)) {
			t.Errorf("ExecError(%q, %v) = %q does not wrap the cause", tt.prog, tt.err, err)
		}
	}
}
