package idmap

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Range is one contiguous run of subordinate IDs owned by a user.
type Range struct {
	Start uint32
	Count uint32
}

// ParseSubID reads a subuid or subgid file (name:start:count per line) and
// returns the ranges that belong to the user, matched by name or by numeric
// ID. Several lines for one user add up, in file order. A malformed line is an
// error naming the file and line even when it belongs to someone else:
// newuidmap parses the same file, and a silently skipped line is a support
// ticket later.
func ParseSubID(r io.Reader, file, user string, id uint32) ([]Range, error) {
	var out []Range
	uid := strconv.FormatUint(uint64(id), 10)
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("%s:%d: malformed line %q: want NAME:START:COUNT", file, n, line)
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count-1 > 0xFFFFFFFE {
			return nil, fmt.Errorf("%s:%d: malformed line %q: START and COUNT must be numbers, COUNT > 0, the range below 4294967295", file, n, line)
		}
		if f[0] != user && f[0] != uid {
			continue
		}
		out = append(out, Range{Start: uint32(start), Count: uint32(count)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

// ReadSubID is ParseSubID on a file. A missing file means no ranges.
func ReadSubID(file, user string, id uint32) ([]Range, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	defer f.Close()
	return ParseSubID(f, file, user, id)
}
