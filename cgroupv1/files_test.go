package cgroupv1

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func u32(v uint32) *uint32 { return &v }
func yes() *bool           { b := true; return &b }
func f(c, n, v, fl string) File {
	return File{Controller: c, Name: n, Value: v, Field: "linux.resources." + fl}
}

func TestFiles(t *testing.T) {
	dev := func(maj, min int64) specs.LinuxBlockIODevice { return specs.LinuxBlockIODevice{Major: maj, Minor: min} }
	tests := []struct {
		name string
		r    *specs.LinuxResources
		want []File
		err  string
	}{
		{"nil", nil, nil, ""},
		{"memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20), Reservation: i64(32 << 20), Swappiness: u64(10), DisableOOMKiller: yes()}},
			[]File{f("memory", "memory.limit_in_bytes", "67108864", "memory.limit"), f("memory", "memory.memsw.limit_in_bytes", "134217728", "memory.swap"),
				f("memory", "memory.soft_limit_in_bytes", "33554432", "memory.reservation"), f("memory", "memory.swappiness", "10", "memory.swappiness"),
				f("memory", "memory.oom_control", "1", "memory.disableOOMKiller")}, ""},
		{"unlimited memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			[]File{f("memory", "memory.limit_in_bytes", "-1", "memory.limit")}, ""},
		{"kernel TCP memory is optional", &specs.LinuxResources{Memory: &specs.LinuxMemory{KernelTCP: i64(1 << 20)}},
			[]File{{"memory", "memory.kmem.tcp.limit_in_bytes", "1048576", "linux.resources.memory.kernelTCP", true}}, ""},
		{"swappiness beyond 100", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}}, nil, "memory.swappiness 101"},
		{"cpu: period before quota", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0-1", Mems: "0"}},
			[]File{f("cpu", "cpu.shares", "512", "cpu.shares"), f("cpu", "cpu.cfs_period_us", "100000", "cpu.period"), f("cpu", "cpu.cfs_quota_us", "50000", "cpu.quota"),
				f("cpuset", "cpuset.cpus", "0-1", "cpu.cpus"), f("cpuset", "cpuset.mems", "0", "cpu.mems")}, ""},
		{"pids", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(100)}}, []File{f("pids", "pids.max", "100", "pids.limit")}, ""},
		{"pids unlimited", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}, []File{f("pids", "pids.max", "-1", "pids.limit")}, ""},
		{"pids without a limit", &specs.LinuxResources{Pids: &specs.LinuxPids{}}, nil, ""},
		{"blkio", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(500),
			WeightDevice:          []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(8, 0), Weight: u16(300)}},
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 1048576}}}},
			[]File{f("blkio", "blkio.weight", "500", "blockIO.weight"), f("blkio", "blkio.weight_device", "8:0 300", "blockIO.weightDevice[0]"),
				f("blkio", "blkio.throttle.read_bps_device", "8:0 1048576", "blockIO.throttleReadBpsDevice[0]")}, ""},
		{"hugetlb", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
			[]File{f("hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304", "hugepageLimits[0]")}, ""},
		{"hugetlb page size with a path", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../2MB", Limit: 1}}}, nil, `pageSize "../2MB"`},
		{"network", &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x100001), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}}},
			[]File{f("net_cls", "net_cls.classid", "1048577", "network.classID"), f("net_prio", "net_prio.ifpriomap", "eth0 5", "network.priorities[0]")}, ""},
		{"network name with a newline", &specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "a\nb"}}}}, nil, "network.priorities[0].name"},
		{"devices in order", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}, {Allow: true, Type: "c", Major: i64(136), Access: "rwm"}}},
			[]File{f("devices", "devices.deny", "a", "devices[0]"), f("devices", "devices.allow", "c 1:3 rw", "devices[1]"), f("devices", "devices.allow", "c 136:* rwm", "devices[2]")}, ""},
		{"device of a bad type", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}}, nil, `devices[0]: type "x"`},
		{"device access beyond rwm", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Access: "rwx"}}}, nil, `devices[0]: access "rwx"`},
		{"unified on v1", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, nil, "unified: needs cgroup v2"},
		{"rdma", &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx": {}}}, nil, "rdma"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Files(tt.r)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "linux.resources.") {
					t.Fatalf("error %v, want one naming linux.resources. and %q", err, tt.err)
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
