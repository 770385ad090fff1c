package slirp

import (
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Port
		err  string
	}{
		{"8080:80", Port{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, ""},
		{"8080:80/tcp", Port{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, ""},
		{"5353:53/udp", Port{HostPort: 5353, ContainerPort: 53, Proto: "udp"}, ""},
		{"127.0.0.1:8080:80", Port{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Proto: "tcp"}, ""},
		{"[::1]:8080:80/udp", Port{HostIP: "::1", HostPort: 8080, ContainerPort: 80, Proto: "udp"}, ""},
		{"[0:0::1]:1:65535", Port{HostIP: "::1", HostPort: 1, ContainerPort: 65535, Proto: "tcp"}, ""},
		{"80", Port{}, "two or three fields"},
		{"1:2:3:4", Port{}, "two or three fields"},
		{"0:80", Port{}, "host port 0 is out of range"},
		{"8080:65536", Port{}, "container port 65536 is out of range"},
		{"8080:80/sctp", Port{}, `protocol "sctp"`},
		{"x:80", Port{}, `"x" is not a number`},
		{":80", Port{}, "host port is empty"},
		{"8080:", Port{}, "container port is empty"},
		{"+80:80", Port{}, "not a number"},
		{"localhost:8080:80", Port{}, `"localhost" is not an IPv4 address`},
		{"::1:8080:80", Port{}, "two or three fields"},
		{"[::1:8080:80", Port{}, "followed by :HOSTPORT"},
		{"[1.2.3.4]:8080:80", Port{}, "not an IPv6 address"},
		{"[fe80::1%eth0]:8080:80", Port{}, "not an IPv6 address"},
		{"1.2.3.4:99999999999999999999:80", Port{}, "out of range"},
	} {
		got, err := ParsePort(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePort(%q) = %v, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestConflict(t *testing.T) {
	p := func(s string) Port {
		t.Helper()
		x, err := ParsePort(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, tc := range []struct {
		in []string
		ok bool
	}{
		{[]string{"8080:80", "8081:80"}, true},
		{[]string{"8080:80", "8080:80/udp"}, true},
		{[]string{"127.0.0.1:8080:80", "127.0.0.2:8080:81"}, true},
		{[]string{"8080:80", "8080:81"}, false},
		{[]string{"127.0.0.1:8080:80", "8080:81"}, false},
		{[]string{"8080:80/udp", "[::1]:8080:81/udp"}, false},
	} {
		var ps []Port
		for _, s := range tc.in {
			ps = append(ps, p(s))
		}
		if _, _, found := Conflict(ps); found == tc.ok {
			t.Errorf("Conflict(%v) = %v, want ok=%v", tc.in, found, tc.ok)
		}
	}
}

// FuzzParsePort: no input panics, and whatever parses prints back to a
// spec that parses to the same port.
func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"8080:80", "127.0.0.1:1:2/udp", "[::1]:3:4/tcp", "::", "[", "1:2:3:4", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePort(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q: %v", s, err)
			}
			return
		}
		if p.HostPort < 1 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
			t.Fatalf("%q parsed to out-of-range %+v", s, p)
		}
		q, err := ParsePort(p.String())
		if err != nil || q != p {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, p, p.String(), q, err)
		}
	})
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"slirp", Mode{Kind: Slirp}, true},
		{"slirp:allow-host-loopback", Mode{Kind: Slirp, AllowHostLoopback: true}, true},
		{"pasta", Mode{Kind: Pasta}, true},
		{"pasta:allow-host-loopback", Mode{Kind: Pasta, AllowHostLoopback: true}, true},
		{"none", Mode{Kind: None}, true},
		{"host", Mode{Kind: Host}, true},
		{"host:allow-host-loopback", Mode{}, false},
		{"slirp:nope", Mode{}, false},
		{"bridge", Mode{}, false},
		{"", Mode{}, false},
	} {
		got, err := ParseMode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMode(%q) = %+v, %v", tc.in, got, err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("ParseMode(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestCheckMTU(t *testing.T) {
	for mtu, ok := range map[int]bool{0: true, 576: true, 1500: true, 65520: true, 575: false, 65521: false, -1: false} {
		if err := CheckMTU(mtu); (err == nil) != ok {
			t.Errorf("CheckMTU(%d) = %v", mtu, err)
		}
	}
}
