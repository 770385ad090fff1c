package state

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseStart(t *testing.T) {
	tail := " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 20 21"
	tests := []struct {
		line string
		want uint64
		bad  bool
	}{
		{line: "123 (sleep)" + tail, want: 4242},
		{line: "123 (a) b (c))" + tail, want: 4242}, // a name with parentheses and spaces
		{line: "123 (x)\n", bad: true},
		{line: "123 sleep" + tail, bad: true},
		{line: "123 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -1", bad: true},
	}
	for _, tt := range tests {
		got, err := parseStart([]byte(tt.line))
		if tt.bad != (err != nil) || got != tt.want {
			t.Errorf("parseStart(%q) = %d, %v; want %d (error %v)", tt.line, got, err, tt.want, tt.bad)
		}
	}
}

func FuzzParseStart(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 5 1 2"))
	f.Add([]byte("1 ()) S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := parseStart(b); err == nil && !strings.Contains(string(b), ")") {
			t.Fatalf("accepted %q as %d without a command name", b, v)
		}
	})
}

// OpenProcess signals nothing it cannot prove: a reused pid (another
// start time) and a record without a start time are refused.
func TestOpenProcess(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	start, err := ProcStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	pfd, err := OpenProcess(pid, start, "supervisor")
	if err != nil {
		t.Fatalf("the right process: %v", err)
	}
	unix.Close(pfd)
	for _, s := range []uint64{0, start + 1} {
		if pfd, err := OpenProcess(pid, s, "supervisor"); err == nil {
			unix.Close(pfd)
			t.Errorf("start time %d accepted for pid %d (started %d)", s, pid, start)
		}
	}
	if _, err := OpenProcess(os.Getpid()+1<<22, start, "supervisor"); err == nil {
		t.Error("a pid that does not exist was accepted")
	}
}
