package cgroupv2

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"64m", 64 << 20},
		{"64M", 64 << 20},
		{"64MB", 64 << 20},
		{"64mb", 64 << 20},
		{"64MiB", 64 << 20},
		{"512k", 512 << 10},
		{"512KB", 512 << 10},
		{"1g", 1 << 30},
		{"1.5g", 3 << 29},
		{"1.5G", 3 << 29},
		{".5g", 1 << 29},
		{"2.g", 2 << 30},
		{"1t", 1 << 40},
		{"1048576", 1 << 20},
		{"1048576b", 1 << 20},
		{"1048576B", 1 << 20},
		{"0.5", 0},
		{"0", 0},
		{" 64m ", 64 << 20},
		{"-1", Unlimited},
		{"max", Unlimited},
		{"MAX", Unlimited},
		{"8388607t", 8388607 << 40},
	}
	for _, tt := range tests {
		got, err := ParseMemory(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMemoryErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", "64X", "m", "64 m", "-64m", "+64m", "1e3", "0x10", "1..5g", "1.5.5g",
		"64mm", "64ib", "64bb", "64kbib", "-2", "NaN", "inf", "64m\n1", "1/2g", "８m",
		"8388608t", "99999999999999999999",
	} {
		got, err := ParseMemory(in)
		if err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", in, got)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Flag != "--memory" {
			t.Errorf("ParseMemory(%q) error %v is not a --memory ParseError", in, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseMemory(%q) error is not one line: %q", in, err)
		}
	}
	_, err := ParseMemory("64X")
	want := `invalid --memory "64X": use a number with an optional unit b, k, m or g (for example 64m), or -1 for no limit`
	if err == nil || err.Error() != want {
		t.Errorf("ParseMemory(64X) error = %v, want %s", err, want)
	}
	_, err = ParseMemorySwap("1q")
	if err == nil || !strings.HasPrefix(err.Error(), `invalid --memory-swap "1q": `) {
		t.Errorf("ParseMemorySwap(1q) error = %v", err)
	}
}

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"0.5", "50000 100000"},
		{"1", "100000 100000"},
		{"2", "200000 100000"},
		{"1.5", "150000 100000"},
		{".25", "25000 100000"},
		{"0.01", "1000 100000"},
		{"0.000015", ""},            // 1.5 µs: under the kernel's 1 ms minimum
		{"0.009995", "1000 100000"}, // rounds to 999.5 → 1000 µs
		{"3.333333", "333333 100000"},
		{" 0.5 ", "50000 100000"},
	}
	for _, tt := range tests {
		got, err := ParseCPUs(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseCPUs(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseCPUs(%q) = %q, %v; want %q", tt.in, got.String(), err, tt.want)
		}
	}
	for _, in := range []string{"", "0", "0.0", "-1", "-0.5", "0.009", "1c", "1e2", "NaN", "Inf", "1,5", "9999999"} {
		if got, err := ParseCPUs(in); err == nil {
			t.Errorf("ParseCPUs(%q) = %v, want an error", in, got)
		}
	}
	_, err := ParseCPUs("0")
	want := `invalid --cpus "0": use a positive number of CPUs, at least 0.01 (for example 0.5 or 2)`
	if err == nil || err.Error() != want {
		t.Errorf("ParseCPUs(0) error = %v, want %s", err, want)
	}
}

func TestParsePids(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"100", 100, true},
		{"1", 1, true},
		{"-1", Unlimited, true},
		{"max", Unlimited, true},
		{"4194304", 4194304, true},
		{"4194305", 0, false},
		{"0", 0, false},
		{"-2", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"10k", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParsePids(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePids(%q) = %d, %v; want %d (ok=%v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"": Auto, "auto": Auto, "systemd": Systemd, "CgroupFS": Cgroupfs} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseKind("none"); err == nil {
		t.Error("ParseKind(none): want an error")
	}
}

func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"64m", "1.5g", "-1", "max", "1048576", "64MiB", "8388607t", "1..2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseMemory(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Fatalf("ParseMemory(%q): bad error %v", s, err)
			}
			return
		}
		if v < 0 && v != Unlimited {
			t.Fatalf("ParseMemory(%q) = %d", s, v)
		}
		// Whatever parses round-trips through the exact byte count.
		if v >= 0 {
			if back, err := ParseMemory(formatBytes(v)); err != nil || back != v {
				t.Fatalf("ParseMemory(%q) = %d, but %q parses to %d, %v", s, v, formatBytes(v), back, err)
			}
		}
	})
}

func FuzzParseCPUs(f *testing.F) {
	for _, s := range []string{"0.5", "2", "0.01", "1048576", "0", "-1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCPUs(s)
		if err != nil {
			return
		}
		if c.Period != CPUPeriod || c.Quota < minCPUQuota || c.Quota > (1<<20)*CPUPeriod {
			t.Fatalf("ParseCPUs(%q) = %+v", s, c)
		}
	})
}

func FuzzParsePids(f *testing.F) {
	for _, s := range []string{"100", "-1", "max", "0", "4194305"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParsePids(s)
		if err == nil && (n == 0 || n < Unlimited || n > maxPids) {
			t.Fatalf("ParsePids(%q) = %d", s, n)
		}
	})
}
