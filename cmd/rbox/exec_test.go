package main

import (
	"testing"

	"github.com/alecthomas/kong"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/sandbox"
)

// The resource flags, parsed as kong parses a command line, into the Spec:
// nothing runs.
func TestExecResourceFlags(t *testing.T) {
	cases := []struct {
		argv    []string
		stats   string
		limits  cgroupv2.Limits
		manager cgroupv2.Kind
		err     string
	}{
		{argv: nil, manager: cgroupv2.Auto},
		{argv: []string{"--stats"}, stats: sandbox.StatsText, manager: cgroupv2.Auto},
		{argv: []string{"--stats=json"}, stats: sandbox.StatsJSON, manager: cgroupv2.Auto},
		{argv: []string{"--stats", "--memory", "64M"}, stats: sandbox.StatsText, limits: cgroupv2.Limits{Memory: 64 << 20}, manager: cgroupv2.Auto},
		{
			argv:    []string{"--memory", "1.5g", "--memory-swap", "-1", "--cpus", "0.5", "--pids-limit", "20", "--cgroup-manager", "systemd"},
			limits:  cgroupv2.Limits{Memory: 3 << 29, MemorySwap: cgroupv2.Unlimited, CPU: cgroupv2.CPUMax{Quota: 50000, Period: 100000}, Pids: 20},
			manager: cgroupv2.Systemd,
		},
		{argv: []string{"--pids-limit=-1"}, limits: cgroupv2.Limits{Pids: cgroupv2.Unlimited}, manager: cgroupv2.Auto},
		{argv: []string{"--pids-limit", "-1", "-t"}, limits: cgroupv2.Limits{Pids: cgroupv2.Unlimited}, manager: cgroupv2.Auto},
		{argv: []string{"--memory", "-1"}, limits: cgroupv2.Limits{Memory: cgroupv2.Unlimited}, manager: cgroupv2.Auto},
		{argv: []string{"--pids-limit", "-10"}, err: `invalid --pids-limit "-10"`},
		{argv: []string{"--memory", "lots"}, err: `invalid --memory "lots"`},
		{argv: []string{"--cpus", "0"}, err: `invalid --cpus "0"`},
		{argv: []string{"--pids-limit", "0"}, err: `invalid --pids-limit "0"`},
	}
	for _, c := range cases {
		var cli struct {
			Exec execCmd `cmd:""`
		}
		p, err := kong.New(&cli)
		if err != nil {
			t.Fatal(err)
		}
		argv := append(append([]string{"exec", "--rootfs", "/"}, c.argv...), "--", "true")
		if _, err := p.Parse(argv); err != nil {
			t.Errorf("%v: %v", c.argv, err)
			continue
		}
		s, err := cli.Exec.spec()
		if c.err != "" {
			if err == nil || err.Error()[:len(c.err)] != c.err {
				t.Errorf("%v: want error %q, got %v", c.argv, c.err, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.argv, err)
			continue
		}
		if s.Stats != c.stats || s.Limits != c.limits || s.CgroupManager != c.manager {
			t.Errorf("%v: got stats %q, limits %+v, manager %q", c.argv, s.Stats, s.Limits, s.CgroupManager)
		}
	}
}
