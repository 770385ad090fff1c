package oci

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A container without a mount namespace of its own (linux.namespaces
// lists none: the spec says it inherits the runtime's) gets its mounts in
// the caller's namespace, on root.path. Nothing removes them when its
// process ends, so create records the mounts that were under root.path
// before (the engine's own, such as an overlay it mounted there), and
// delete detaches every other one.

// hostMount is one line of mountinfo: its ID and mount point.
type hostMount struct {
	id    int
	point string
}

// mountsUnder returns the mounts of a mountinfo listing that are at root
// or below it, in the listing's order (the namespace's, oldest first).
func mountsUnder(r io.Reader, root string) ([]hostMount, error) {
	var out []hostMount
	root = path.Clean(root)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == root || strings.HasPrefix(mp, strings.TrimSuffix(root, "/")+"/") {
			out = append(out, hostMount{id, mp})
		}
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of a
// mountinfo field.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MountIDsUnder lists the IDs of the mounts of this process's namespace
// at or under root.
func MountIDsUnder(root string) ([]int, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ms, err := mountsUnder(f, root)
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	ids := make([]int, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.id)
	}
	return ids, nil
}

// DetachUnder detaches the mounts at or under root that are not among
// keep, the last listed first (a later mount may sit on an earlier one).
func DetachUnder(root string, keep []int) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	ms, err := mountsUnder(f, root)
	f.Close()
	if err != nil {
		return fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	var first error
	for _, m := range toDetach(ms, keep) {
		// A parent's lazy detach takes its children with it: EINVAL then.
		if err := unix.Unmount(m.point, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT && first == nil {
			first = fmt.Errorf("detach %q: %w", m.point, err)
		}
	}
	return first
}

// toDetach is ms without the kept IDs, the last listed first.
func toDetach(ms []hostMount, keep []int) []hostMount {
	kept := map[int]bool{}
	for _, id := range keep {
		kept[id] = true
	}
	var out []hostMount
	for i := len(ms) - 1; i >= 0; i-- {
		if !kept[ms[i].id] {
			out = append(out, ms[i])
		}
	}
	return out
}
