package cgroupv1

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// maxLines bounds what the parsers read of a /proc file.
const maxLines = 4096

// parseMountinfo maps each v1 controller to the mount point of its
// hierarchy, from /proc/self/mountinfo: the lines of file system type
// "cgroup", whose super options name the controllers (rw,memory or
// rw,cpu,cpuacct). Named hierarchies without a controller
// (name=systemd) are left out. The first mount of a hierarchy wins.
func parseMountinfo(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 0; sc.Scan(); n++ {
		if n >= maxLines {
			return nil, fmt.Errorf("mountinfo: more than %d lines", maxLines)
		}
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 6 || sep+3 >= len(fields) {
			continue
		}
		if fields[sep+1] != "cgroup" || fields[3] != "/" {
			continue
		}
		mnt := unescape(fields[4])
		for _, opt := range strings.Split(fields[sep+3], ",") {
			if controllers[opt] {
				if _, ok := out[opt]; !ok {
					out[opt] = mnt
				}
			}
		}
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes of space, tab, newline and
// backslash.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			o := s[i+1 : i+4]
			if o[0] >= '0' && o[0] <= '3' && o[1] >= '0' && o[1] <= '7' && o[2] >= '0' && o[2] <= '7' {
				b.WriteByte((o[0]-'0')<<6 | (o[1]-'0')<<3 | (o[2] - '0'))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseProcCgroup maps each v1 controller to the process's cgroup in its
// hierarchy, from /proc/PID/cgroup ("4:cpu,cpuacct:/a/b"); the v2 line
// ("0::/") and named hierarchies are left out.
func parseProcCgroup(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 0; sc.Scan(); n++ {
		if n >= maxLines {
			return nil, fmt.Errorf("cgroup file: more than %d lines", maxLines)
		}
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if controllers[c] {
				out[c] = parts[2]
			}
		}
	}
	return out, sc.Err()
}
