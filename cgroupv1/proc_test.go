package cgroupv1

import (
	"reflect"
	"strings"
	"testing"
)

// This host's layout: v1 hierarchies (cpu and cpuacct together), a
// named systemd one, the cgroup2 of the hybrid layout, and a bind mount
// of a cgroup's subdirectory, which is not a hierarchy's root.
const hybridMountinfo = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
37 31 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
38 31 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
39 31 0:34 /sub /mnt/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:35 / /sys/fs/cgroup/free\040zer rw - cgroup cgroup rw,freezer
`

func TestParseMountinfo(t *testing.T) {
	got, err := parseMountinfo(strings.NewReader(hybridMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids", "freezer": "/sys/fs/cgroup/free zer"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"", "-", "1 2 3 4 5 6 - cgroup", "1 2 3 / /x - cgroup cgroup rw,memory"} {
		if m, err := parseMountinfo(strings.NewReader(bad)); err != nil || len(m) != 0 {
			t.Errorf("%q: %v, %v; want nothing", bad, m, err)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	in := "9:name=systemd:/\n8:pids:/a/b\n1:cpu,cpuacct:/c\n0::/\nbroken\n7:memory:relative\n"
	got, err := parseProcCgroup(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pids": "/a/b", "cpu": "/c", "cpuacct": "/c"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`a\040b`: "a b", `a\134`: `a\`, `a\`: `a\`, `a\04`: `a\04`, `a\999`: `a\999`, "plain": "plain"} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// The /proc files come from the kernel, but a mount namespace's mounts
// are its creator's to shape: neither parser may panic on any input.
func FuzzParseMountinfo(f *testing.F) {
	f.Add(hybridMountinfo)
	f.Add("1 2 3 / /x\\0 - cgroup c rw,memory")
	f.Fuzz(func(t *testing.T, s string) {
		parseMountinfo(strings.NewReader(s))
		parseProcCgroup(strings.NewReader(s))
	})
}
