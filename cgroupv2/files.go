package cgroupv2

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The parsers below read cgroup and /proc files from an io.Reader so they can
// be tested on fixtures and fuzzed. They are strict about shape but bounded:
// kernel files are small, and a file that is not one is an error, not a hang.

const maxLines = 1024

// parseFlatKeyed parses a "flat keyed" cgroup file (memory.events, cpu.stat,
// pids.events): one "key value" pair per line, value an unsigned integer.
func parseFlatKeyed(r io.Reader) (map[string]uint64, error) {
	m := make(map[string]uint64)
	sc := bufio.NewScanner(r)
	for n := 0; sc.Scan(); n++ {
		if n >= maxLines {
			return nil, errors.New("too many lines")
		}
		line := sc.Text()
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok || k == "" || strings.Contains(v, " ") {
			return nil, fmt.Errorf("line %d: want \"key value\", got %q", n+1, line)
		}
		u, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: value of %q: %w", n+1, k, err)
		}
		m[k] = u
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// parseSingleValue parses a one-value file (memory.peak, pids.peak,
// memory.max): an unsigned integer or "max" (returned as max=true).
func parseSingleValue(r io.Reader) (v uint64, max bool, err error) {
	b, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return 0, false, err
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "max" {
		return 0, true, nil
	}
	v, err = strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("want a number or \"max\", got %q", s)
	}
	return v, false, nil
}

// parseProcCgroup returns the cgroup v2 path of a process from
// /proc/PID/cgroup: the "0::/path" line. On a hybrid host that line sits
// beside the v1 ones; on a v1-only host it is missing.
func parseProcCgroup(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for n := 0; sc.Scan(); n++ {
		if n >= maxLines {
			return "", errors.New("too many lines")
		}
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			if !strings.HasPrefix(p, "/") {
				return "", fmt.Errorf("cgroup v2 path %q is not absolute", p)
			}
			// A process in a cgroup that was removed shows " (deleted)".
			if strings.HasSuffix(p, " (deleted)") {
				return "", fmt.Errorf("cgroup %q was deleted", strings.TrimSuffix(p, " (deleted)"))
			}
			return filepath.Clean(p), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup v2 entry (0::/path)")
}

// parseControllers parses cgroup.controllers or cgroup.subtree_control: the
// controller names separated by spaces.
func parseControllers(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(string(b))
	for _, f := range fields {
		for _, c := range f {
			if (c < 'a' || c > 'z') && c != '_' && (c < '0' || c > '9') {
				return nil, fmt.Errorf("controller name %q", f)
			}
		}
	}
	return fields, nil
}

// readFile opens path and hands it to parse, naming the file in errors.
func readFile[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return v, fmt.Errorf("parse %q: %w", path, err)
	}
	return v, nil
}

// writeFile writes one value to a cgroup file, naming the file and value in
// errors; the kernel's errno stays reachable with errors.Is.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %q: %w", value, path, err)
	}
	return nil
}
