package oci

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ExecError words a failure to start the container's process (the
// execve of process.args[0], reported back by the init) in the words
// podman maps to its exit codes: "executable file not found in" and "no
// such file or directory" give 127, "permission denied" and "operation
// not permitted" give 126 (libpod's getOCIRuntimeError). Any other
// failure keeps its own words, and podman reports 125/its own error.
func ExecError(prog string, err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("exec %q: %w", prog, err)
	}
	// A name without a slash was looked up in the process's PATH; with
	// one, strerror's own words ("no such file or directory", "permission
	// denied", "operation not permitted") are the ones podman matches.
	if errno == unix.ENOENT && !strings.Contains(prog, "/") {
		return fmt.Errorf("exec %q: executable file not found in $PATH: %w", prog, errno)
	}
	return fmt.Errorf("exec %q: %w", prog, errno)
}
