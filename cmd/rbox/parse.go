package main

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/rbox-sandbox/rbox/sandbox"
)

// parseVolume parses -v SRC:DST[:ro|:rw]. A relative SRC is taken from the
// current directory, as docker does; DST must be absolute.
func parseVolume(s string) (sandbox.Volume, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return sandbox.Volume{}, fmt.Errorf("invalid -v %q: use SRC:DST or SRC:DST:ro", s)
	}
	v := sandbox.Volume{Source: parts[0], Target: parts[1]}
	if v.Source == "" {
		return sandbox.Volume{}, fmt.Errorf("invalid -v %q: empty host path", s)
	}
	if !path.IsAbs(v.Target) {
		return sandbox.Volume{}, fmt.Errorf("invalid -v %q: the sandbox path %q must be absolute", s, v.Target)
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			v.ReadOnly = true
		case "rw":
		default:
			return sandbox.Volume{}, fmt.Errorf("invalid -v %q: unknown option %q (use ro or rw)", s, parts[2])
		}
	}
	if strings.ContainsRune(s, 0) {
		return sandbox.Volume{}, fmt.Errorf("invalid -v %q: NUL byte", s)
	}
	abs, err := filepath.Abs(v.Source)
	if err != nil {
		return sandbox.Volume{}, fmt.Errorf("invalid -v %q: %w", s, err)
	}
	v.Source = abs
	v.Target = path.Clean(v.Target)
	return v, nil
}

// tmpfsSize accepts N, Nk, Nm, Ng or N% (the kernel's own forms).
func tmpfsSize(v string) bool {
	digits := strings.TrimRight(v, "kKmMgG%")
	if len(v)-len(digits) > 1 {
		return false
	}
	return allIn(digits, "0123456789")
}

// tmpfsMode accepts three or four octal digits.
func tmpfsMode(v string) bool {
	return (len(v) == 3 || len(v) == 4) && allIn(v, "01234567")
}

func allIn(s, set string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune(set, c) {
			return false
		}
	}
	return true
}

// parseTmpfs parses --tmpfs DST[:size=N,mode=M].
func parseTmpfs(s string) (sandbox.Tmpfs, error) {
	target, opts, _ := strings.Cut(s, ":")
	if !path.IsAbs(target) {
		return sandbox.Tmpfs{}, fmt.Errorf("invalid --tmpfs %q: the path %q must be absolute", s, target)
	}
	t := sandbox.Tmpfs{Target: path.Clean(target)}
	if opts == "" {
		return t, nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch {
		case k == "size" && tmpfsSize(v):
			t.Size = v
		case k == "mode" && tmpfsMode(v):
			t.Mode = v
		default:
			return sandbox.Tmpfs{}, fmt.Errorf("invalid --tmpfs %q: bad option %q (use size=64m or mode=1777)", s, o)
		}
	}
	return t, nil
}

// parseEnv parses one -e value. KEY alone takes the value from lookup (the
// host's environment), as docker does; an unset KEY is left out.
func parseEnv(s string, lookup func(string) (string, bool)) (string, bool, error) {
	k, v, hasValue := strings.Cut(s, "=")
	if err := checkEnvKey(k); err != nil {
		return "", false, fmt.Errorf("invalid -e %q: %w", s, err)
	}
	if strings.ContainsRune(v, 0) {
		return "", false, fmt.Errorf("invalid -e %q: NUL byte in the value", s)
	}
	if !hasValue {
		hv, ok := lookup(k)
		if !ok {
			return "", false, nil
		}
		v = hv
	}
	return k + "=" + v, true, nil
}

func checkEnvKey(k string) error {
	if k == "" {
		return fmt.Errorf("empty variable name (use KEY=VALUE)")
	}
	if strings.ContainsAny(k, "=\x00") || strings.TrimSpace(k) != k {
		return fmt.Errorf("variable name %q must not contain '=', NUL or surrounding blanks", k)
	}
	return nil
}

// parseEnvFile reads an --env-file: KEY=VALUE per line, blank lines and
// lines starting with # ignored, KEY alone taken from lookup. Values are
// taken literally: no quotes, no expansion, as docker does.
func parseEnvFile(r io.Reader, name string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kv, ok, err := parseEnv(line, lookup)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if ok {
			out = append(out, kv)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}
