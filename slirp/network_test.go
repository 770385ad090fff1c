package slirp

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A tun device the user cannot open is tested for real, as the user, in
// tests/integration (TestCheckDevicesInaccessible): root opens any file.
func TestCheckHostProblems(t *testing.T) {
	dir := t.TempDir()
	// A PATH with stand-ins for the helpers: Check only looks them up.
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	for _, b := range []string{"slirp4netns", "pasta"} {
		os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\n"), 0o755)
	}
	t.Setenv("PATH", bin)
	tun := filepath.Join(dir, "tun")
	os.WriteFile(tun, nil, 0o666)
	old := tunDevice
	tunDevice = tun
	defer func() { tunDevice = old }()

	slirpMode := Config{Mode: Mode{Kind: Slirp}}
	if err := Check(slirpMode); err != nil {
		t.Fatalf("Check with everything present: %v", err)
	}
	for _, tc := range []struct {
		name  string
		setup func()
		c     Config
		want  string
	}{
		{"no-tun", func() { os.Remove(tun) }, slirpMode, "modprobe tun"},
		{"no-slirp4netns", func() { os.Remove(filepath.Join(bin, "slirp4netns")) }, slirpMode, "apt-get install slirp4netns"},
		{"no-pasta", func() { os.Remove(filepath.Join(bin, "pasta")) }, Config{Mode: Mode{Kind: Pasta}}, "apt-get install passt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			err := Check(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Check = %v, want one line with %q", err, tc.want)
			}
		})
	}
}

func TestProbePortsInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = probePorts([]Port{{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 80, Proto: "tcp"}})
	if err == nil || !strings.Contains(err.Error(), "host port "+strconv.Itoa(port)+"/tcp is already in use on 127.0.0.1") {
		t.Errorf("probePorts on a busy port = %v", err)
	}
	// The same port over UDP is free.
	if err := probePorts([]Port{{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 80, Proto: "udp"}}); err != nil {
		t.Errorf("probePorts udp: %v", err)
	}
}
