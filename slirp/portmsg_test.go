package slirp

import (
	"strings"
	"testing"
)

func TestParsePortRequest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want portRequest
		ok   bool
	}{
		{"tcp 80", portRequest{"tcp", 80}, true},
		{"udp 65535", portRequest{"udp", 65535}, true},
		{"tcp 0", portRequest{}, false},
		{"tcp 65536", portRequest{}, false},
		{"sctp 80", portRequest{}, false},
		{"tcp  80", portRequest{}, false},
		{"tcp 80 ", portRequest{}, false},
		{"tcp 0080", portRequest{}, false},
		{"udp 00000000000001", portRequest{}, false},
		{"tcp", portRequest{}, false},
		{"", portRequest{}, false},
	} {
		got, err := parsePortRequest([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parsePortRequest(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

// FuzzParsePortRequest: no input panics or gives a port out of range,
// and what parses prints back to itself.
func FuzzParsePortRequest(f *testing.F) {
	for _, s := range []string{"tcp 80", "udp 1", "tcp", " ", "udp 99999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parsePortRequest(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(string(b), "\n") {
				t.Fatalf("multi-line error for %q: %v", b, err)
			}
			return
		}
		if r.Port < 1 || r.Port > 65535 || r.String() != string(b) {
			t.Fatalf("%q parsed to %+v", b, r)
		}
	})
}
