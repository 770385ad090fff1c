package idmap

import (
	"fmt"
	"strconv"
)

// Mapping is one line of /proc/PID/uid_map: Count IDs starting at Inside map
// to host IDs starting at Outside.
type Mapping struct {
	Inside  uint32 `json:"inside"`
	Outside uint32 `json:"outside"`
	Count   uint32 `json:"count"`
}

// Plan is the complete mapping of one user namespace.
type Plan struct {
	UID []Mapping `json:"uid"`
	GID []Mapping `json:"gid"`
	// Full is true when the plan uses subordinate ranges and so needs the
	// setuid helpers; false for the single mapping of the user to root.
	Full bool `json:"full"`
}

// Single maps container root to the user and group alone.
func Single(uid, gid uint32) Plan {
	return Plan{
		UID: []Mapping{{Inside: 0, Outside: uid, Count: 1}},
		GID: []Mapping{{Inside: 0, Outside: gid, Count: 1}},
	}
}

// Full maps container root to the user and 1..N to the subordinate ranges,
// packed one after another in the order the files list them.
func Full(uid, gid uint32, subuid, subgid []Range) (Plan, error) {
	if len(subuid) == 0 || len(subgid) == 0 {
		return Plan{}, fmt.Errorf("no subordinate ID range")
	}
	u, err := pack(uid, subuid)
	if err != nil {
		return Plan{}, fmt.Errorf("subuid: %w", err)
	}
	g, err := pack(gid, subgid)
	if err != nil {
		return Plan{}, fmt.Errorf("subgid: %w", err)
	}
	return Plan{UID: u, GID: g, Full: true}, nil
}

// MaxLines is the most lines the kernel accepts in one map (since 4.15).
const MaxLines = 340

func pack(self uint32, ranges []Range) ([]Mapping, error) {
	out := []Mapping{{Inside: 0, Outside: self, Count: 1}}
	next := uint64(1)
	for _, r := range ranges {
		if len(out) == MaxLines {
			break
		}
		// The user's own ID may sit inside its subordinate range; mapping it
		// twice would make the kernel reject the whole map.
		for _, part := range splitOut(r, self) {
			if next+uint64(part.Count) > 1<<32-1 {
				part.Count = uint32(1<<32 - 1 - next)
			}
			if part.Count == 0 || overlaps(out, part) {
				continue
			}
			out = append(out, Mapping{Inside: uint32(next), Outside: part.Start, Count: part.Count})
			next += uint64(part.Count)
		}
	}
	return out, nil
}

func splitOut(r Range, id uint32) []Range {
	end := uint64(r.Start) + uint64(r.Count)
	if uint64(id) < uint64(r.Start) || uint64(id) >= end {
		return []Range{r}
	}
	var out []Range
	if id > r.Start {
		out = append(out, Range{Start: r.Start, Count: id - r.Start})
	}
	if uint64(id)+1 < end {
		out = append(out, Range{Start: id + 1, Count: uint32(end - uint64(id) - 1)})
	}
	return out
}

func overlaps(ms []Mapping, r Range) bool {
	for _, m := range ms {
		if uint64(r.Start) < uint64(m.Outside)+uint64(m.Count) && uint64(m.Outside) < uint64(r.Start)+uint64(r.Count) {
			return true
		}
	}
	return false
}

// Size is the number of IDs a map covers.
func Size(ms []Mapping) uint64 {
	var n uint64
	for _, m := range ms {
		n += uint64(m.Count)
	}
	return n
}

// Contains reports whether the container ID id is mapped.
func Contains(ms []Mapping, id uint32) bool {
	for _, m := range ms {
		if id >= m.Inside && uint64(id) < uint64(m.Inside)+uint64(m.Count) {
			return true
		}
	}
	return false
}

// MapsHost reports whether the host ID id is mapped into the namespace,
// that is whether a file it owns shows its owner inside.
func MapsHost(ms []Mapping, id uint32) bool {
	for _, m := range ms {
		if id >= m.Outside && uint64(id) < uint64(m.Outside)+uint64(m.Count) {
			return true
		}
	}
	return false
}

// helperArgs is the argv tail of newuidmap/newgidmap: PID then triples.
func helperArgs(pid int, ms []Mapping) []string {
	args := []string{strconv.Itoa(pid)}
	for _, m := range ms {
		args = append(args,
			strconv.FormatUint(uint64(m.Inside), 10),
			strconv.FormatUint(uint64(m.Outside), 10),
			strconv.FormatUint(uint64(m.Count), 10))
	}
	return args
}

// CheckMapped says, in one line with the fix, why the container ID id of
// kind ("uid" or "gid") is not mapped by p; nil when it is.
func CheckMapped(p Plan, kind string, id uint32) error {
	ms := p.UID
	if kind == "gid" {
		ms = p.GID
	}
	if Contains(ms, id) {
		return nil
	}
	if !p.Full {
		return fmt.Errorf("%s %d is not mapped in the sandbox: only %s 0 is (single ID map); use 0, or give your user ranges in /etc/subuid and /etc/subgid (rbox check, probe subuid, says how)", kind, id, kind)
	}
	n := Size(ms)
	return fmt.Errorf("%s %d is not mapped in the sandbox, which maps %ss 0-%d: use a %s below %d", kind, id, kind, n-1, kind, n)
}
