package main

import (
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		in      string
		want    procStat
		wantErr bool
	}{
		{"42 (sleep) S 41 42 1 0", procStat{42, 41, "sleep"}, false},
		{"7 (a b) c)) R 1 7", procStat{7, 1, "a b) c)"}, false},
		{"7 (x)", procStat{}, true},
		{"nonsense", procStat{}, true},
		{"x (y) S z", procStat{}, true},
	}
	for _, tt := range tests {
		got, err := parseStat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseStatusKiB(t *testing.T) {
	in := "Name:\trbox\nVmPeak:\t  9000 kB\nVmHWM:\t    5676 kB\nVmRSS:\t    5000 kB\n"
	got, err := parseStatusKiB(strings.NewReader(in), "VmHWM", "VmRSS")
	if err != nil || got["VmHWM"] != 5676 || got["VmRSS"] != 5000 || len(got) != 2 {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := parseStatusKiB(strings.NewReader("VmHWM:\t12 MB\n"), "VmHWM"); err == nil {
		t.Error("want an error for a unit other than kB")
	}
}

func TestDepthUnder(t *testing.T) {
	all := map[int]procStat{1: {1, 0, "init"}, 10: {10, 1, "rbox"}, 11: {11, 10, "exe"}, 12: {12, 11, "sleep"}, 20: {20, 1, "other"}}
	tests := []struct{ root, pid, want int }{{10, 12, 2}, {10, 10, 0}, {10, 20, -1}, {11, 12, 1}, {10, 99, -1}}
	for _, tt := range tests {
		if got := depthUnder(all, tt.root, tt.pid); got != tt.want {
			t.Errorf("depthUnder(%d, %d) = %d, want %d", tt.root, tt.pid, got, tt.want)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add("42 (sleep) S 41 42 1 0")
	f.Fuzz(func(t *testing.T, in string) {
		st, err := parseStat(in)
		if err == nil && strings.Contains(in, st.comm) == false {
			t.Fatalf("comm %q not in input", st.comm)
		}
	})
}

func FuzzParseStatusKiB(f *testing.F) {
	f.Add("VmHWM:\t 12 kB\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := parseStatusKiB(strings.NewReader(in), "VmHWM")
		if err == nil && m["VmHWM"] < 0 {
			t.Fatal("negative size")
		}
	})
}
