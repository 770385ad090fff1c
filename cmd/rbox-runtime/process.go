package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/oci"
)

func runKill(e *env, name string, args []string) error {
	fs := newFlags(name)
	all := fs.Bool("all", false, "")
	fs.BoolVar(all, "a", false, "")
	rest, err := parse(fs, args, 1, 2)
	if err != nil {
		return err
	}
	sigArg := "SIGTERM"
	if len(rest) == 2 {
		sigArg = rest[1]
	}
	sig, err := oci.ParseSignal(sigArg)
	if err != nil {
		return err
	}
	st, err := e.store(false)
	if err != nil {
		return err
	}
	r, err := st.Load(rest[0])
	if err != nil {
		return err
	}
	return oci.Signal(r, sig, *all)
}

func runExec(e *env, name string, args []string) error {
	fs := newFlags(name)
	process := fs.String("process", "", "")
	fs.StringVar(process, "p", "", "")
	fs.Bool("detach", false, "")
	fs.Bool("d", false, "")
	fs.String("pid-file", "", "")
	fs.Bool("tty", false, "")
	fs.Bool("t", false, "")
	fs.String("console-socket", "", "")
	preserveFDs := fs.Int("preserve-fds", 0, "")
	fs.String("cwd", "", "")
	var list stringList
	fs.Var(&list, "env", "")
	fs.Var(&list, "e", "")
	fs.Var(&list, "cap", "")
	fs.Var(&list, "c", "")
	fs.String("user", "", "")
	fs.String("u", "", "")
	fs.Bool("no-new-privs", false, "")
	fs.String("apparmor", "", "")
	fs.String("process-label", "", "")
	fs.String("cgroup", "", "")
	fs.Bool("ignore-paused", false, "")
	rest, err := parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	if *preserveFDs < 0 {
		return fmt.Errorf("--preserve-fds %d: want 0 or more", *preserveFDs)
	}
	if *process != "" {
		data, err := readInput(*process, e.stdin)
		if err != nil {
			return fmt.Errorf("--process: %w", err)
		}
		if _, err := oci.ParseProcess(data); err != nil {
			return fmt.Errorf("--process %q: %w", *process, err)
		}
	} else if len(rest) < 2 {
		return errors.New("no process: give --process FILE, or the command after the container ID")
	}
	r, err := load(e, rest[0])
	if err != nil {
		return err
	}
	switch s := r.State().Status; s {
	case specs.StateRunning, specs.StateCreated:
	default:
		return fmt.Errorf("cannot exec in container %q: it is %s", r.ID, s)
	}
	return fmt.Errorf("%w: joining container %q waits for rbox's sandbox plan", errNotYet, r.ID)
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// readInput reads a file argument, "-" being stdin.
func readInput(path string, stdin io.Reader) ([]byte, error) {
	const max = 16 << 20
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err == nil && len(b) > max {
		err = fmt.Errorf("%q is larger than %d MiB", path, max>>20)
	}
	return b, err
}

func load(e *env, id string) (*oci.Record, error) {
	st, err := e.store(false)
	if err != nil {
		return nil, err
	}
	return st.Load(id)
}

func runPs(e *env, name string, args []string) error {
	fs := newFlags(name)
	format := fs.String("format", "table", "")
	fs.StringVar(format, "f", "table", "")
	rest, err := parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("--format %q: want table or json", *format)
	}
	if *format == "json" && len(rest) > 1 {
		return fmt.Errorf("ps arguments %q are for --format table only", rest[1:])
	}
	r, err := load(e, rest[0])
	if err != nil {
		return err
	}
	pids := oci.Processes(r)
	if *format == "json" {
		if pids == nil {
			pids = []int{}
		}
		b, err := json.Marshal(pids)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	return psTable(e.stdout, pids, rest[1:])
}

// psTable prints ps(1)'s table (ps -ef unless args are given) for the
// container's pids only, as runc does: containerd's Top parses it.
func psTable(w io.Writer, pids []int, args []string) error {
	if len(args) == 0 {
		args = []string{"-ef"}
	}
	prog, err := exec.LookPath("ps")
	if err != nil {
		prog = "/bin/ps" // PATH may be unset, as under podman
	}
	out, err := exec.Command(prog, args...).Output()
	if err != nil {
		return fmt.Errorf("run %s %q: %w", prog, args, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	if !sc.Scan() {
		return fmt.Errorf("%s %q printed nothing", prog, args)
	}
	header := sc.Text()
	col := slices.Index(strings.Fields(header), "PID")
	if col < 0 {
		return fmt.Errorf("%s %q printed no PID column", prog, args)
	}
	fmt.Fprintln(w, header)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if col < len(f) {
			if pid, err := strconv.Atoi(f[col]); err == nil && slices.Contains(pids, pid) {
				fmt.Fprintln(w, sc.Text())
			}
		}
	}
	return nil
}
