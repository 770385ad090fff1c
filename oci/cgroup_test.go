package oci

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestV2Files(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	u16 := func(v uint16) *uint16 { return &v }
	yes := true
	fl := func(n, v, field string) v2File { return v2File{Name: n, Value: v, Field: "linux.resources." + field} }
	tests := []struct {
		name string
		r    *specs.LinuxResources
		want []v2File
		err  string
	}{
		{"nil", nil, nil, ""},
		{"memory: swap is the total", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(32 << 20)}},
			[]v2File{fl("memory.max", "67108864", "memory.limit"), fl("memory.low", "33554432", "memory.reservation"), fl("memory.swap.max", "33554432", "memory.swap")}, ""},
		{"memory unlimited", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(-1)}},
			[]v2File{fl("memory.max", "max", "memory.limit"), fl("memory.swap.max", "max", "memory.swap")}, ""},
		{"swap below the limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(2), Swap: i64(1)}}, nil, "memory.swap 1 is less than memory.limit 2"},
		{"swap without a limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(1 << 20)}}, nil, "memory.swap 1048576: needs memory.limit"},
		{"no OOM killer", &specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: &yes}}, nil, "memory.disableOOMKiller"},
		{"cpu", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"}},
			[]v2File{fl("cpu.weight", "39", "cpu.shares"), fl("cpu.max", "50000 100000", "cpu.quota"), fl("cpuset.cpus", "0", "cpu.cpus"), fl("cpuset.mems", "0", "cpu.mems")}, ""},
		{"cpu period alone", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(50000)}}, []v2File{fl("cpu.max", "max 50000", "cpu.quota")}, ""},
		{"real-time", &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1)}}, nil, "realtimeRuntime"},
		{"pids", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}, []v2File{fl("pids.max", "max", "pids.limit")}, ""},
		{"io", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(10),
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 300}}}},
			[]v2File{{Name: "io.weight", Value: "default 1", Field: "linux.resources.blockIO.weight", Alt: "io.bfq.weight"}, fl("io.max", "8:16 wiops=300", "blockIO.throttleWriteIOPSDevice[0]")}, ""},
		{"hugetlb", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 1 << 30}}},
			[]v2File{fl("hugetlb.1GB.max", "1073741824", "hugepageLimits[0]")}, ""},
		{"network", &specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "lo"}}}}, nil, "net_cls or net_prio"},
		{"unified", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1000000"}}, []v2File{fl("memory.high", "1000000", "unified.memory.high")}, ""},
		{"unified with a path", &specs.LinuxResources{Unified: map[string]string{"../memory.high": "1"}}, nil, `key "../memory.high"`},
		{"unified cgroup core file", &specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, nil, `key "cgroup.procs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v2Files(tt.r)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWeights(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 1, 2: 1, 1024: 39, 262144: 10000, 1 << 40: 10000} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	for w, want := range map[uint16]uint64{0: 1, 10: 1, 500: 4950, 1000: 10000, 5000: 10000} {
		if got := blkioToIOWeight(w); got != want {
			t.Errorf("blkioToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
}

func TestSystemdPath(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"system.slice:docker:abc", "/system.slice/docker-abc.scope", ""},
		{"machine-libpod_pod_1.slice:libpod:abc", "/machine.slice/machine-libpod_pod_1.slice/libpod-abc.scope", ""},
		{":crio:abc", "/system.slice/crio-abc.scope", ""},
		{"system.slice::abc", "/system.slice/abc.scope", ""},
		{"-.slice:p:n", "/p-n.scope", ""},
		{"user.slice:p:child.slice", "/user.slice/child.slice", ""},
		{"a-b-c.slice:p:n", "/a.slice/a-b.slice/a-b-c.slice/p-n.scope", ""},
		{"/a/b", "", "want slice:prefix:name"},
		{"system.slice:docker:a/b", "", "without '/'"},
		{"system:docker:abc", "", `slice "system"`},
		{"a--b.slice:p:n", "", "not a valid slice name"},
		{"system.slice:docker:", "", "want slice:prefix:name"},
	}
	for _, tt := range tests {
		got, err := systemdPath(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "linux.cgroupsPath ") {
				t.Errorf("%q: %q, %v; want an error naming linux.cgroupsPath and %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCgroupPath(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"/a/b", "/a/b", ""},
		{"/a//b/", "/a/b", ""},
		{"/", "", "is the root cgroup"},
		{"/a/../b", "", `holds ".."`},
		{"/a\x00", "", "NUL"},
	} {
		got, err := cgroupPath(tt.in, "id", false, false)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !isConfigError(err) {
				t.Errorf("%q: %q, %v; want a config error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	// Relative paths go below the runtime's own cgroup (v1) or its
	// parent (v2), as runc places them.
	own, err := ownCgroup(false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cgroupPath("", "c1", false, false); err != nil || !strings.HasSuffix(got, "/c1") || !strings.HasPrefix(got, strings.TrimSuffix(own, "/")) {
		t.Errorf("no path: %q, %v; want %s/c1", got, err, own)
	}
}

func TestDeviceRules(t *testing.T) {
	b := &Bundle{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
		Devices: []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}, {Path: "/dev/p", Type: "p"}}}
	rules := deviceRules(b)
	if len(rules) != 1+len(defaultDeviceRules)+1 || rules[0].Allow || *rules[len(rules)-1].Major != 10 {
		t.Errorf("rules %+v: want the config's deny first, the defaults, then /dev/fuse", rules)
	}
	if deviceRules(&Bundle{}) != nil {
		t.Error("rules without linux.resources.devices: want none (the parent's list stays)")
	}
}

// cgroupsPath comes from the engine's config.json: the expansion must
// not panic, and what it returns stays a clean absolute path.
func FuzzSystemdPath(f *testing.F) {
	for _, s := range []string{"system.slice:docker:abc", "a-b.slice:p:n", "-.slice::x", "::", "a:b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := systemdPath(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || filepath.Clean(p) != p || slices.Contains(strings.Split(p, "/"), "..") {
			t.Fatalf("%q: %q, want a clean absolute path inside the hierarchy", s, p)
		}
	})
}

func TestUserManager(t *testing.T) {
	for own, want := range map[string]string{
		"/user.slice/user-1000.slice/user@1000.service/app.slice/run-1.scope": "/user.slice/user-1000.slice/user@1000.service",
		"/user.slice/user-1000.slice/session-3.scope":                         "/",
		"/": "/",
	} {
		if got := userManager(own); got != want {
			t.Errorf("userManager(%q) = %q, want %q", own, got, want)
		}
	}
}
