package userns

import "testing"

func TestSeccompMode(t *testing.T) {
	tests := []struct{ status, want string }{
		{"Name:\tsh\nSeccomp:\t2\nSeccomp_filters:\t3\n", "2"},
		{"Name:\tsh\nSeccomp:\t0\n", "0"},
		{"Name:\tsh\n", ""},
	}
	for _, tt := range tests {
		if got := seccompMode(tt.status); got != tt.want {
			t.Errorf("seccompMode(%q) = %q, want %q", tt.status, got, tt.want)
		}
	}
}

func TestFdinfoPid(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nPid:\t4242\nNSpid:\t4242\t1\n", 4242, true},
		{"Pid:\t-1\n", -1, false}, // the process has died
		{"pos:\t0\n", 0, false},
	}
	for _, tt := range tests {
		if got, ok := fdinfoPid(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("fdinfoPid(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
