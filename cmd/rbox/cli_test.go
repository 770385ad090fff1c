package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/rbox-sandbox/rbox/sandbox"
)

func model(t *testing.T) *kong.Application {
	t.Helper()
	var c cli
	p, err := newParser(&c)
	if err != nil {
		t.Fatal(err)
	}
	return p.Model
}

// Every command's --help shows examples.
func TestEveryCommandHasExamples(t *testing.T) {
	a := model(t)
	if !strings.Contains(a.Detail, "Examples:") {
		t.Error("rbox --help has no examples")
	}
	for _, n := range a.Children {
		if n.Hidden {
			continue
		}
		if !strings.Contains(n.Detail, "Examples:") || !strings.Contains(n.Detail, "rbox "+n.Name) {
			t.Errorf("rbox %s --help has no examples of rbox %s (add a Help method in help.go)", n.Name, n.Name)
		}
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		args []string
		cmd  string
	}{
		{[]string{"check"}, "check"},
		{[]string{"check", "--json"}, "check"},
		{[]string{"completion", "fish"}, "completion <shell>"},
		{[]string{"version"}, "version"},
		{[]string{"exec", "--rootfs", "x", "--status-json", "s.json", "--", "true"}, "exec <command>"},
	}
	for _, c := range cases {
		var cl cli
		p, _ := newParser(&cl)
		ctx, err := p.Parse(c.args)
		if err != nil || ctx.Command() != c.cmd {
			t.Errorf("%v: got %v %v", c.args, ctx, err)
		}
	}
	var cl cli
	p, _ := newParser(&cl)
	if _, err := p.Parse([]string{"completion", "tcsh"}); err == nil {
		t.Error("completion tcsh must be refused")
	}
}

func scripts(t *testing.T) map[string]string {
	t.Helper()
	cmds := completionModel(model(t))
	out := map[string]string{}
	for sh, write := range map[string]func(*strings.Builder) error{
		"bash": func(b *strings.Builder) error { return writeBash(b, cmds) },
		"zsh":  func(b *strings.Builder) error { return writeZsh(b, cmds) },
		"fish": func(b *strings.Builder) error { return writeFish(b, cmds) },
	} {
		var b strings.Builder
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		out[sh] = b.String()
	}
	return out
}

func TestCompletionModel(t *testing.T) {
	byName := map[string]compCmd{}
	for _, c := range completionModel(model(t)) {
		byName[c.Name] = c
	}
	for name, arg := range map[string]string{"kill": compName, "wait": compName, "rm": compName, "logs": compName,
		"remove-layer": compDir, "exec": compCommand, "completion": compEnum, "ps": compNone} {
		if got := byName[name].Arg; got != arg {
			t.Errorf("%s: argument completes to %q, want %q", name, got, arg)
		}
	}
	flags := map[string]compFlag{}
	for _, f := range byName["exec"].Flags {
		flags[f.Long] = f
	}
	if f := flags["rootfs"]; f.Kind != compDir || !f.Value {
		t.Errorf("--rootfs: %+v", f)
	}
	if f := flags["net"]; f.Kind != compEnum || strings.Join(f.Enum, ",") != "slirp,pasta,none,host,slirp:allow-host-loopback,pasta:allow-host-loopback" {
		t.Errorf("--net: %+v", f)
	}
	if f := flags["env"]; !f.Many || f.Short != 'e' {
		t.Errorf("--env: %+v", f)
	}
	if f := flags["name"]; f.Kind != compNone {
		t.Errorf("exec --name is a new name, not an existing one: %+v", f)
	}
	if f := flags["tty"]; f.Value {
		t.Errorf("--tty takes no value: %+v", f)
	}
}

// Each script parses in its shell, where the shell is installed.
func TestCompletionSyntax(t *testing.T) {
	for sh, text := range scripts(t) {
		t.Run(sh, func(t *testing.T) {
			bin, err := exec.LookPath(sh)
			if err != nil {
				t.Skipf("%s not installed", sh)
			}
			f := filepath.Join(t.TempDir(), "rbox."+sh)
			os.WriteFile(f, []byte(text), 0o644)
			if out, err := exec.Command(bin, "-n", f).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", sh, err, out)
			}
		})
	}
}

// The bash script, run for real on a few command lines.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "rbox.bash")
	os.WriteFile(script, []byte(scripts(t)["bash"]), 0o644)
	os.Mkdir(filepath.Join(dir, "imgdir"), 0o755)
	// A fake rbox on PATH answers ps -a, as the real one prints it.
	os.WriteFile(filepath.Join(dir, "rbox"), []byte("#!/bin/sh\nprintf 'NAME ID PID\\nweb 1 2\\ndb 3 4\\n'\n"), 0o755)
	cases := []struct {
		line string // the words so far; the last is the one completed
		want []string
		not  []string
	}{
		{"rbox ", []string{"exec", "check", "completion", "--version"}, nil},
		{"rbox ch", []string{"check"}, []string{"exec"}},
		{"rbox check --", []string{"--json", "--help"}, nil},
		{"rbox exec --net ", []string{"none", "host"}, nil},
		{"rbox exec --rootfs im", []string{"imgdir"}, nil},
		{"rbox exec --st", []string{"--status-json", "--stop-timeout"}, nil},
		{"rbox kill ", []string{"web", "db"}, nil},
		{"rbox completion ", []string{"bash", "zsh", "fish"}, nil},
		{"rbox exec --rootfs x -- bas", []string{"bash"}, nil},
	}
	for _, c := range cases {
		words := strings.Split(c.line, " ")
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := "source " + script + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" + itoa(len(words)-1) +
			"; _rbox; printf '%s\\n' \"${COMPREPLY[@]}\""
		cmd := exec.Command("bash", "-c", prog)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", c.line, err, out)
		}
		got := strings.Fields(string(out))
		for _, w := range c.want {
			if !contains(got, w) {
				t.Errorf("%q: want %q among %v", c.line, w, got)
			}
		}
		for _, w := range c.not {
			if contains(got, w) {
				t.Errorf("%q: %q must not be offered: %v", c.line, w, got)
			}
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func TestRunStatus(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	began := start.Add(30 * time.Millisecond)
	end := start.Add(2 * time.Second)
	cases := []struct {
		name   string
		st     sandbox.Status
		code   int
		err    error
		signal string
		setup  int64
	}{
		{"exit-0", sandbox.Status{WorkloadStarted: began}, 0, nil, "", 30},
		{"killed", sandbox.Status{WorkloadStarted: began, WorkloadCode: 137}, 137, nil, "SIGKILL", 30},
		{"timed-out", sandbox.Status{WorkloadStarted: began, WorkloadCode: 143, TimedOut: true}, 124, nil, "SIGTERM", 30},
		{"never-ran", sandbox.Status{}, 125, errors.New("rootfs missing"), "", 0},
		{"exit-200", sandbox.Status{WorkloadStarted: began, WorkloadCode: 200}, 200, nil, "", 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newRunStatus(&c.st, start, end, c.code, c.err)
			if s.Signal != c.signal || s.SetupMs != c.setup || s.TotalMs != 2000 || s.ExitCode != c.code || s.TimedOut != c.st.TimedOut || s.OOMKilled != nil {
				t.Errorf("got %+v", s)
			}
			if (c.err != nil) != (s.Error != "") {
				t.Errorf("error %q", s.Error)
			}
		})
	}
	f := filepath.Join(t.TempDir(), "st.json")
	if err := writeStatus(f, newRunStatus(&sandbox.Status{Name: "a"}, start, end, 3, nil)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["exitCode"] != 3.0 || m["oomKilled"] != nil || m["name"] != "a" {
		t.Errorf("%v %s", err, b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(f)); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := writeStatus(filepath.Join(f, "x"), runStatus{}); err == nil || !strings.Contains(err.Error(), "--status-json") {
		t.Errorf("want an error naming the flag, got %v", err)
	}
}

func TestStatusCode(t *testing.T) {
	if exitStatus(126, errors.New("x")) != 126 ||
		exitStatus(0, errors.New("x")) != 125 || exitStatus(7, nil) != 7 {
		t.Error("exitStatus")
	}
}

// The fish script, through fish's own complete -C.
func TestFishCompletion(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("fish not installed")
	}
	script := filepath.Join(t.TempDir(), "rbox.fish")
	os.WriteFile(script, []byte(scripts(t)["fish"]), 0o644)
	for line, want := range map[string]string{
		"rbox ":             "check",
		"rbox exec --net ":  "none",
		"rbox exec --st":    "--status-json",
		"rbox check --j":    "--json",
		"rbox completion z": "zsh",
	} {
		out, err := exec.Command("fish", "--no-config", "-c", "source "+script+"; complete -C '"+line+"'").CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", line, err, out)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
		if !contains(got, want) {
			t.Errorf("%q: want %q among %v", line, want, got)
		}
	}
}

// rbox exec parses with a model of exec alone (execCLI): what it accepts,
// refuses and prints as help must be what the whole CLI's model gives.
func TestExecModel(t *testing.T) {
	cases := [][]string{
		{"exec", "--rootfs", "r", "--idmap", "single", "--net", "none", "--", "true"},
		{"exec", "-t", "-e", "A=1", "-v", "/a:/b:ro", "--rootfs", "r", "sh"},
		{"exec", "--bogus"},
		{"exec", "--idmap", "x", "--", "true"},
		{"exec", "--net"},
		{"exec", "--help"},
	}
	parse := func(grammar any, args []string) string {
		var out strings.Builder
		p, err := kong.New(grammar, kong.Name("rbox"), kong.Vars{"version": "v"},
			kong.Writers(&out, &out), kong.Exit(func(int) { panic(errExited) }))
		if err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil && r != errExited {
					panic(r)
				}
			}()
			ctx, err := p.Parse(args)
			if err != nil {
				out.WriteString("error: " + err.Error())
			} else {
				out.WriteString("command: " + ctx.Command())
			}
		}()
		return out.String()
	}
	for _, args := range cases {
		whole, alone := parse(&cli{}, args), parse(&execCLI{}, args)
		if whole != alone {
			t.Errorf("%v:\nwhole CLI: %s\nexec alone: %s", args, whole, alone)
		}
	}
}

var errExited = errors.New("kong exited")
