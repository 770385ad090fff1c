package hostcheck

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/rbox-sandbox/rbox/idmap"
)

// minRange is what an image needs: IDs up to 65534 (nobody) mapped.
const minRange = 65536

// subEntry is one line of /etc/subuid or /etc/subgid, as the supervisor's
// parser reads it: the probe must judge exactly what exec will use.
type subEntry = idmap.Entry

var parseSubEntries = idmap.ParseSubEntries

// subIDVerdict judges one user's entries in a parsed file: none, less
// than minRange IDs, or shared with another owner. free is where a new
// range would not overlap anyone's (for the fix).
func subIDVerdict(entries []subEntry, file, user string, uid uint32) (problem string, mine []idmap.Range) {
	isMine := func(e subEntry) bool { return e.Owns(user, uid) }
	var total uint64
	for _, e := range entries {
		if isMine(e) {
			mine = append(mine, idmap.Range{Start: uint32(e.Start), Count: uint32(e.Count)})
			total += e.Count
		}
	}
	if len(mine) == 0 {
		return fmt.Sprintf("no range for user %q in %s", user, file), nil
	}
	for _, a := range entries {
		if !isMine(a) {
			continue
		}
		for _, b := range entries {
			if isMine(b) || a.Start >= b.Start+b.Count || b.Start >= a.Start+a.Count {
				continue
			}
			return fmt.Sprintf("the range %d-%d of %q (%s:%d) overlaps %q's %d-%d (%s:%d): either user could reach the other's files",
				a.Start, a.Start+a.Count-1, a.Owner, file, a.Line, b.Owner, b.Start, b.Start+b.Count-1, file, b.Line), mine
		}
	}
	if total < minRange {
		return fmt.Sprintf("only %d IDs for %q in %s: images need %d (up to nobody, 65534)", total, user, file, minRange), mine
	}
	return "", mine
}

// freeStart is the first ID at or above 100000 (where distributions start
// them) past every range of every file, so that a new range overlaps none.
func freeStart(files ...[]subEntry) uint64 {
	start := uint64(100000)
	for _, es := range files {
		for _, e := range es {
			start = max(start, e.Start+e.Count)
		}
	}
	return start
}

func readSubEntries(file string) ([]subEntry, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseSubEntries(f, file)
}

// probeSubID judges the user's ranges in file ("subuid" or "subgid").
func probeSubID(h *Host, name, file string) (Result, []idmap.Range) {
	entries, err := readSubEntries(file)
	if err != nil {
		return fail(name, "as root, correct or remove the line: newuidmap refuses the whole file too", "%v", err), nil
	}
	// The fix adds the same free range to both files, as useradd does.
	uids, _ := readSubEntries(h.SubUIDFile)
	gids, _ := readSubEntries(h.SubGIDFile)
	start := freeStart(uids, gids)
	add := fmt.Sprintf("as root: usermod --add-subuids %d-%d --add-subgids %d-%d %s",
		start, start+minRange-1, start, start+minRange-1, h.User)
	problem, mine := subIDVerdict(entries, file, h.User, h.UID)
	if problem != "" {
		fix := add
		if strings.Contains(problem, "overlaps") {
			fix = "as root, remove the overlapping line and give the user a range of its own: " + add
		}
		if len(mine) == 0 {
			fix += "\n(without it, rbox exec maps only you, as root: chown and -u with other IDs fail inside)"
		}
		return fail(name, fix, "%s", problem), mine
	}
	parts := make([]string, len(mine))
	for i, r := range mine {
		parts[i] = fmt.Sprintf("%d-%d", r.Start, uint64(r.Start)+uint64(r.Count)-1)
	}
	sort.Strings(parts)
	return ok(name, "%s has %d IDs in %s (%s)", h.User, idmapSize(mine), file, strings.Join(parts, ", ")), mine
}

func idmapSize(rs []idmap.Range) uint64 {
	var n uint64
	for _, r := range rs {
		n += uint64(r.Count)
	}
	return n
}
