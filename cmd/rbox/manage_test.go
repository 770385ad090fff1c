package main

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for _, c := range []struct {
		in   string
		want unix.Signal
	}{
		{"TERM", unix.SIGTERM}, {"SIGKILL", unix.SIGKILL}, {"hup", unix.SIGHUP}, {"sigusr1", unix.SIGUSR1},
		{"9", unix.SIGKILL}, {"15", unix.SIGTERM}, {"64", unix.Signal(64)},
		{"", 0}, {"0", 0}, {"65", 0}, {"-9", 0}, {"+9", 0}, {"09", 0}, {"NOSIG", 0}, {"SIG", 0}, {"9x", 0},
	} {
		got, err := parseSignal(c.in)
		if got != c.want || (err != nil) != (c.want == 0) {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+c.in+`"`) {
			t.Errorf("parseSignal(%q): the error does not name the value: %v", c.in, err)
		}
	}
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"TERM", "9", "sigint", "65", "", "SIG"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := parseSignal(s)
		if err == nil && (sig < 1 || sig > 64) {
			t.Fatalf("parseSignal(%q) accepted %d", s, sig)
		}
		if err != nil && (sig != 0 || strings.Contains(err.Error(), "\n")) {
			t.Fatalf("parseSignal(%q): %d, %q", s, sig, err)
		}
	})
}
