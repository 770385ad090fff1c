package userns

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
)

// The init's clone, run on the host: the child is PID 1 of its new
// namespaces, runs with every capability as an ambient one although it
// executed unmapped, has its descriptors where the table put them, and
// sees the map written after its execve.
func TestCloneInit(t *testing.T) {
	in, toChild, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	defer toChild.Close()
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	extra, extraW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	script := `echo pid $$; grep CapAmb /proc/self/status; echo fd3 >&3; read go; cat /proc/self/uid_map`
	pid, err := cloneInit(CloneFlags(true), "/bin/sh", []string{"sh", "-c", script}, []string{"PATH=/usr/bin:/bin"}, []*os.File{in, w, w, extraW})
	w.Close()
	extraW.Close()
	if err != nil {
		t.Fatalf("cloneInit: %v", err)
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if err := writeMap(pid, idmap.Single(uid, gid)); err != nil {
		t.Fatal(err)
	}
	toChild.WriteString("go\n")
	b, _ := io.ReadAll(out)
	e, _ := io.ReadAll(extra)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("wait: %v, status %v", err, ws)
	}
	last, err := lastCap()
	if err != nil {
		t.Fatal(err)
	}
	// Fields: uid_map pads its columns.
	got := strings.Join(strings.Fields(string(b)), " ")
	amb := fmt.Sprintf("%016x", uint64(1)<<(last+1)-1)
	for _, want := range []string{"pid 1 ", "CapAmb: " + amb + " ", fmt.Sprintf(" 0 %d 1", uid)} {
		if !strings.Contains(got, want) {
			t.Errorf("child printed %q, want %q in it", got, want)
		}
	}
	if string(e) != "fd3\n" {
		t.Errorf("descriptor 3 got %q, want %q", e, "fd3\n")
	}
}

// A child that cannot execute says which step failed and is reaped.
func TestCloneInitExecFails(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	_, err = cloneInit(CloneFlags(false), "/nonexistent/init", []string{"init"}, nil, []*os.File{null, null, null})
	var ce *childError
	if !errors.As(err, &ce) || ce.step != stepExec || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("got %v, want the execve step failing with ENOENT", err)
	}
	if pid, _ := unix.Wait4(-1, nil, unix.WNOHANG, nil); pid > 0 {
		t.Errorf("the failed child %d was left for us to reap", pid)
	}
}
