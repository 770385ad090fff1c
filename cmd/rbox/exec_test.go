package main

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/childfd"
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

// Values the parser would take for short flags, and paths that fail only
// at the end of a run: one line naming the flag, the value and the fix,
// found before anything starts. Nothing runs.
func TestExecBadValues(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		argv []string
		want string
	}{
		{[]string{"--cpus", "-1"}, `invalid --cpus "-1": use a positive number`},
		{[]string{"--cpus", "-1.5"}, `invalid --cpus "-1.5"`},
		{[]string{"--timeout", "-1s"}, "invalid --timeout -1s: a duration must not be negative"},
		{[]string{"--timeout=-1s"}, "invalid --timeout -1s"},
		{[]string{"--stop-timeout", "-2s"}, "invalid --stop-timeout -2s"},
		{[]string{"--timeout", "-x"}, `--timeout: invalid duration "-x": use a Go duration`},
		{[]string{"--name", "-x"}, `invalid --name "-x": use letters`},
		{[]string{"--env-file", dir}, `--env-file "` + dir + `" is a directory: give a file`},
		{[]string{"--env-file", dir + "/none"}, `--env-file "` + dir + `/none": no such file or directory: give a file`},
		{[]string{"--status-json", dir + "/none/s.json"}, `--status-json "` + dir + `/none/s.json": directory "` + dir + `/none" does not exist`},
		{[]string{"--status-json", dir}, `--status-json "` + dir + `" is a directory`},
		{[]string{"--timeout", "2s", "--name", "ok"}, ""},
	}
	for _, c := range cases {
		var cli struct {
			Exec execCmd `cmd:""`
		}
		p, err := kong.New(&cli)
		if err != nil {
			t.Fatal(err)
		}
		argv := append(append([]string{"exec", "--rootfs", dir, "--net", "none"}, c.argv...), "--", "true")
		_, err = p.Parse(argv)
		if err == nil {
			var s *sandbox.Spec
			if s, err = cli.Exec.spec(); err == nil {
				if err = flagError(sandbox.Validate(s)); err == nil {
					err = checkStatusPath(cli.Exec.StatusJSON)
				}
			}
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.argv, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%v: want one line with %q, got %v", c.argv, c.want, err)
		}
	}
}

// Every Spec field has its words in specFlags, so no error of sandbox
// reaches the user with a Go field name.
func TestSpecFlagsCoverSpec(t *testing.T) {
	typ := reflect.TypeOf(sandbox.Spec{})
	for i := 0; i < typ.NumField(); i++ {
		if _, ok := specFlags[typ.Field(i).Name]; !ok {
			t.Errorf("specFlags has no entry for Spec.%s", typ.Field(i).Name)
		}
	}
	if len(specFlags) != typ.NumField() {
		t.Errorf("specFlags has %d entries for %d fields: one names no field", len(specFlags), typ.NumField())
	}
}

// A FieldError from deep in the chain is worded with flags, and the
// chain survives.
func TestFlagError(t *testing.T) {
	s := &sandbox.Spec{Rootfs: "/r", Args: []string{"true"}, Net: "none", Overlay: "auto", IDMap: "auto", Persist: "/p", ReadOnly: true}
	err := flagError(fmt.Errorf("start: %w", sandbox.Validate(s)))
	if got, want := err.Error(), "start: --persist and --read-only conflict: a read-only root keeps no changes; drop one"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var fe *sandbox.FieldError
	if !errors.As(err, &fe) || fe.Field != "Persist" {
		t.Errorf("the chain lost its *FieldError: %#v", err)
	}
	plain := errors.New("x")
	if flagError(plain) != plain || flagError(nil) != nil {
		t.Error("an error without a FieldError must come back as it was")
	}
}

// rbox __supervise is not a command: without the job descriptor it says
// so and fails, touching nothing.
func TestSuperviseWithoutJob(t *testing.T) {
	t.Setenv(childfd.Env, "")
	if code := supervise(); code != exitFailure {
		t.Errorf("supervise without a job: %d, want %d", code, exitFailure)
	}
}
