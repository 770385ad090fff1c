package oci

import (
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want unix.Signal // 0: refused
	}{
		{"9", unix.SIGKILL}, {"15", unix.SIGTERM}, {"KILL", unix.SIGKILL}, {"SIGKILL", unix.SIGKILL},
		{"term", unix.SIGTERM}, {"SigUsr1", unix.SIGUSR1}, {"USR2", unix.SIGUSR2}, {"HUP", unix.SIGHUP},
		{"WINCH", unix.SIGWINCH}, {"64", 64}, {"RTMIN", 34}, {"RTMIN+3", 37}, {"SIGRTMAX-2", 62}, {"RTMAX", 64},
		{"", 0}, {"65", 0}, {"-9", 0}, {"FOO", 0}, {"SIG", 0}, {"RTMIN+31", 0}, {"RTMIN-1", 0},
		{"RTMAX+1", 0}, {"RTMIN+", 0}, {"RTMIN+03", 0}, {"9x", 0}, {" 9", 0},
	}
	if sig, err := ParseSignal("0"); err != nil || sig != 0 {
		t.Errorf("ParseSignal(\"0\") = %d, %v; want 0 (a probe, as kill(2) takes it)", sig, err)
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("ParseSignal(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"9", "KILL", "SIGRTMIN+2", "RTMAX-30", "sigterm", "SIGX"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err != nil {
			return
		}
		if sig < 0 || sig > 64 {
			t.Fatalf("%q parsed as %d", s, sig)
		}
		// A number reads as itself.
		if n, err := strconv.Atoi(s); err == nil && int(sig) != n {
			t.Fatalf("%q parsed as %d", s, sig)
		}
	})
}
