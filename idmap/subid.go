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

// Entry is one line of a subuid or subgid file.
type Entry struct {
	Owner        string // a user name or a numeric ID
	Start, Count uint64
	Line         int // 1-based, for messages
}

// ParseSubEntries reads every line of a subuid or subgid file
// (name:start:count). A malformed line is an error naming the file and
// line even when it belongs to someone else: newuidmap parses the same
// file, and a silently skipped line is a support ticket later.
func ParseSubEntries(r io.Reader, file string) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
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
		out = append(out, Entry{Owner: f[0], Start: start, Count: count, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

// Owns reports whether the entry belongs to the user, by name or by ID.
func (e Entry) Owns(user string, id uint32) bool {
	return e.Owner == user || e.Owner == strconv.FormatUint(uint64(id), 10)
}

// ParseSubID returns the ranges of a subuid or subgid file that belong to
// the user, matched by name or by numeric ID. Several lines for one user
// add up, in file order.
func ParseSubID(r io.Reader, file, user string, id uint32) ([]Range, error) {
	entries, err := ParseSubEntries(r, file)
	if err != nil {
		return nil, err
	}
	var out []Range
	for _, e := range entries {
		if e.Owns(user, id) {
			out = append(out, Range{Start: uint32(e.Start), Count: uint32(e.Count)})
		}
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
