package childfd

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// Env is the variable that carries the table to the child.
const Env = "_RBOX_FDS"

// first is the child's number of the first inherited file: exec.Cmd puts
// ExtraFiles right after stdin, stdout and stderr.
const first = 3

// maxFD bounds a number read from the table: far above any real table, far
// below the kernel's limit on descriptors.
const maxFD = 1 << 20

// Table is the descriptors a parent passes to one child, in order.
type Table struct {
	names []string
	files []*os.File
}

// Add puts f in the table under name and returns the number it will have
// in the child, for the rare caller that must name it in argv (an execve
// of /proc/self/fd/N).
func (t *Table) Add(name string, f *os.File) int {
	t.names = append(t.names, name)
	t.files = append(t.files, f)
	return first + len(t.files) - 1
}

// Attach gives cmd the table's files as its ExtraFiles and the variable
// that names them. A cmd without its own environment gets ours, as
// exec.Cmd would have given it; a table we inherited is replaced, since
// exec.Cmd keeps the last of two equal keys.
func (t *Table) Attach(cmd *exec.Cmd) {
	cmd.ExtraFiles = t.files
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, t.Var())
}

// Files are the table's files, in the order of their numbers in the
// child, for a caller that clones the child itself.
func (t *Table) Files() []*os.File { return t.files }

// Var is the table as the child's environment entry.
func (t *Table) Var() string {
	fds := make(map[string]int, len(t.names))
	for i, n := range t.names {
		fds[n] = first + i
	}
	return Var(fds)
}

// Var formats fds (name → number) as an environment entry, for a process
// that re-executes itself with descriptors it already holds.
func Var(fds map[string]int) string {
	names := make([]string, 0, len(fds))
	for n := range fds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(Env + "=")
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + ":" + strconv.Itoa(fds[n]))
	}
	return b.String()
}

// Parse reads a table's value ("sync:3,exe:4"). A name is lower-case
// letters; a number is an inherited descriptor, so at least 3.
func Parse(v string) (map[string]int, error) {
	fds := map[string]int{}
	if v == "" {
		return fds, nil
	}
	for _, e := range strings.Split(v, ",") {
		name, num, ok := strings.Cut(e, ":")
		if !ok || !validName(name) {
			return nil, fmt.Errorf("%s entry %q: want NAME:NUMBER", Env, e)
		}
		fd, err := strconv.Atoi(num)
		if err != nil || fd < first || fd > maxFD {
			return nil, fmt.Errorf("%s entry %q: %q is not a descriptor from %d to %d", Env, e, num, first, maxFD)
		}
		if _, dup := fds[name]; dup {
			return nil, fmt.Errorf("%s names %q twice", Env, name)
		}
		fds[name] = fd
	}
	return fds, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// Lookup returns the number of the descriptor named name in our table.
func Lookup(name string) (int, error) {
	fds, err := Parse(os.Getenv(Env))
	if err != nil {
		return -1, err
	}
	fd, ok := fds[name]
	if !ok {
		return -1, fmt.Errorf("no descriptor %q in %s", name, Env)
	}
	return fd, nil
}

// File is Lookup as an *os.File.
func File(name string) (*os.File, error) {
	fd, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}
