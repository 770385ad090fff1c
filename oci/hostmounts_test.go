package oci

import (
	"path"
	"reflect"
	"strings"
	"testing"
)

const mountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:40 / /b/rootfs rw - overlay overlay rw
41 30 254:0 /b/rootfs /b/rootfs rw - ext4 /dev/vda rw
42 41 0:50 / /b/rootfs/proc rw - proc proc rw
43 41 0:51 / /b/rootfs/dev rw - tmpfs tmpfs rw
44 43 0:52 / /b/rootfs/dev/pts rw - devpts devpts rw
45 22 0:53 / /b/rootfs2 rw - tmpfs tmpfs rw
46 41 0:54 / /b/rootfs/with\040space rw - tmpfs tmpfs rw
`

// The mounts a container without a mount namespace made under its root
// are detached, the last first; the engine's (kept) and those of a
// sibling path are not.
func TestHostMounts(t *testing.T) {
	ms, err := mountsUnder(strings.NewReader(mountinfo), "/b/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, m := range ms {
		ids = append(ids, m.id)
	}
	if want := []int{30, 41, 42, 43, 44, 46}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("under /b/rootfs: %v, want %v", ids, want)
	}
	for _, c := range []struct {
		keep []int
		want []string
	}{
		{[]int{30}, []string{"/b/rootfs/with space", "/b/rootfs/dev/pts", "/b/rootfs/dev", "/b/rootfs/proc", "/b/rootfs"}},
		{nil, []string{"/b/rootfs/with space", "/b/rootfs/dev/pts", "/b/rootfs/dev", "/b/rootfs/proc", "/b/rootfs", "/b/rootfs"}},
		{[]int{30, 41, 42, 43, 44, 46}, nil},
	} {
		var got []string
		for _, m := range toDetach(ms, c.keep) {
			got = append(got, m.point)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("keep %v: detach %q, want %q", c.keep, got, c.want)
		}
	}
	if ms, _ := mountsUnder(strings.NewReader(mountinfo), "/b/rootfs/"); len(ms) != 6 {
		t.Errorf("a root with a trailing slash: %d mounts", len(ms))
	}
}

func FuzzMountsUnder(f *testing.F) {
	f.Add(mountinfo, "/b/rootfs")
	f.Add(`1 2 3 4 \0`, "/")
	f.Fuzz(func(t *testing.T, info, root string) {
		ms, err := mountsUnder(strings.NewReader(info), root)
		if err != nil {
			return
		}
		root = path.Clean(root)
		for _, m := range ms {
			if m.point != root && !strings.HasPrefix(m.point, strings.TrimSuffix(root, "/")+"/") {
				t.Fatalf("%q is not under %q", m.point, root)
			}
		}
	})
}
