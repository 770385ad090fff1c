package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rbox-sandbox/rbox/oci"
)

// TestMain lets the test binary serve as the container's init and exec
// helper, as main does: create re-executes /proc/self/exe, which under
// go test is this binary. Without the dispatch the re-executed binary ran
// the tests again, and a test that creates a container recursed.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 {
		switch os.Args[1] {
		case oci.InitArg:
			oci.InitMain()
		case oci.ExecArg:
			oci.ExecMain()
		}
	}
	code := m.Run()
	if staticBin != "" {
		os.RemoveAll(filepath.Dir(staticBin))
	}
	os.Exit(code)
}
