package cgroupv1

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// File is one cgroup v1 interface file to write: Controller's hierarchy,
// the file Name in the container's directory there, the Value. Field is
// the config.json path it comes from, for errors. Optional files are
// skipped where the kernel lacks them (kernel TCP memory); a missing
// required one is an error. memory.kernel is ignored, as the spec allows:
// kernels since 5.4 no longer limit kernel memory, and 6.x take the
// write and do nothing with it.
type File struct {
	Controller, Name, Value, Field string
	Optional                       bool
}

// Files translates linux.resources into the v1 files to write, in the
// order they are written. It refuses only what v1 cannot express
// (unified, rdma); whether a hierarchy is mounted is the manager's check.
func Files(r *specs.LinuxResources) ([]File, error) {
	if r == nil {
		return nil, nil
	}
	const f = "linux.resources."
	var out []File
	add := func(ctrl, name, value, field string) {
		out = append(out, File{Controller: ctrl, Name: name, Value: value, Field: f + field})
	}
	if len(r.Unified) > 0 {
		return nil, fmt.Errorf("%sunified: needs cgroup v2, and this host's cgroups are v1", f)
	}
	if len(r.Rdma) > 0 {
		return nil, fmt.Errorf("%srdma: rbox-runtime sets no RDMA limits", f)
	}
	if len(r.Devices) > 0 {
		for i, d := range r.Devices {
			rule, err := DeviceRule(d)
			if err != nil {
				return nil, fmt.Errorf("%sdevices[%d]: %w", f, i, err)
			}
			name := "devices.deny"
			if d.Allow {
				name = "devices.allow"
			}
			add("devices", name, rule, fmt.Sprintf("devices[%d]", i))
		}
	}
	if m := r.Memory; m != nil {
		// memory.memsw (memory plus swap) must stay at least memory's
		// limit: the manager retries in the other order when the kernel
		// refuses (Set), as when a limit grows past the old total.
		if m.Limit != nil {
			add("memory", "memory.limit_in_bytes", limitString(*m.Limit), "memory.limit")
		}
		if m.Swap != nil {
			add("memory", "memory.memsw.limit_in_bytes", limitString(*m.Swap), "memory.swap")
		}
		if m.Reservation != nil {
			add("memory", "memory.soft_limit_in_bytes", limitString(*m.Reservation), "memory.reservation")
		}
		if m.KernelTCP != nil {
			out = append(out, File{"memory", "memory.kmem.tcp.limit_in_bytes", limitString(*m.KernelTCP), f + "memory.kernelTCP", true})
		}
		if m.Swappiness != nil {
			if *m.Swappiness > 100 {
				return nil, fmt.Errorf("%smemory.swappiness %d: want 0 to 100", f, *m.Swappiness)
			}
			add("memory", "memory.swappiness", strconv.FormatUint(*m.Swappiness, 10), "memory.swappiness")
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			add("memory", "memory.oom_control", "1", "memory.disableOOMKiller")
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil {
			add("cpu", "cpu.shares", strconv.FormatUint(*c.Shares, 10), "cpu.shares")
		}
		// The period first: a quota is checked against the period in place.
		if c.Period != nil {
			add("cpu", "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10), "cpu.period")
		}
		if c.Quota != nil {
			add("cpu", "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10), "cpu.quota")
		}
		if c.Burst != nil {
			add("cpu", "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10), "cpu.burst")
		}
		if c.RealtimePeriod != nil {
			add("cpu", "cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10), "cpu.realtimePeriod")
		}
		if c.RealtimeRuntime != nil {
			add("cpu", "cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10), "cpu.realtimeRuntime")
		}
		if c.Idle != nil {
			add("cpu", "cpu.idle", strconv.FormatInt(*c.Idle, 10), "cpu.idle")
		}
		if c.Cpus != "" {
			add("cpuset", "cpuset.cpus", c.Cpus, "cpu.cpus")
		}
		if c.Mems != "" {
			add("cpuset", "cpuset.mems", c.Mems, "cpu.mems")
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		add("pids", "pids.max", limitString(*p.Limit), "pids.limit")
	}
	if b := r.BlockIO; b != nil {
		if b.Weight != nil {
			add("blkio", "blkio.weight", strconv.Itoa(int(*b.Weight)), "blockIO.weight")
		}
		if b.LeafWeight != nil {
			add("blkio", "blkio.leaf_weight", strconv.Itoa(int(*b.LeafWeight)), "blockIO.leafWeight")
		}
		for i, d := range b.WeightDevice {
			if d.Weight != nil {
				add("blkio", "blkio.weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight), fmt.Sprintf("blockIO.weightDevice[%d]", i))
			}
			if d.LeafWeight != nil {
				add("blkio", "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight), fmt.Sprintf("blockIO.weightDevice[%d]", i))
			}
		}
		for _, t := range []struct {
			name, field string
			ds          []specs.LinuxThrottleDevice
		}{
			{"blkio.throttle.read_bps_device", "throttleReadBpsDevice", b.ThrottleReadBpsDevice},
			{"blkio.throttle.write_bps_device", "throttleWriteBpsDevice", b.ThrottleWriteBpsDevice},
			{"blkio.throttle.read_iops_device", "throttleReadIOPSDevice", b.ThrottleReadIOPSDevice},
			{"blkio.throttle.write_iops_device", "throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice},
		} {
			for i, d := range t.ds {
				add("blkio", t.name, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate), fmt.Sprintf("blockIO.%s[%d]", t.field, i))
			}
		}
	}
	for i, h := range r.HugepageLimits {
		if !ValidPagesize(h.Pagesize) {
			return nil, fmt.Errorf("%shugepageLimits[%d].pageSize %q: want a size with a unit, such as 2MB or 1GB", f, i, h.Pagesize)
		}
		add("hugetlb", "hugetlb."+h.Pagesize+".limit_in_bytes", strconv.FormatUint(h.Limit, 10), fmt.Sprintf("hugepageLimits[%d]", i))
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			add("net_cls", "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10), "network.classID")
		}
		for i, p := range n.Priorities {
			if p.Name == "" || strings.ContainsAny(p.Name, " \n/") {
				return nil, fmt.Errorf("%snetwork.priorities[%d].name %q: want an interface name", f, i, p.Name)
			}
			add("net_prio", "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority), fmt.Sprintf("network.priorities[%d]", i))
		}
	}
	return out, nil
}

// limitString is a byte or count limit as v1 files take it: -1 (or any
// negative value) is no limit.
func limitString(v int64) string {
	if v < 0 {
		return "-1"
	}
	return strconv.FormatInt(v, 10)
}

// ValidPagesize: digits and a unit KB, MB or GB, as the kernel names its
// hugetlb files in both versions (v1 hugetlb.2MB.limit_in_bytes, v2
// hugetlb.2MB.max).
func ValidPagesize(s string) bool {
	if len(s) < 3 {
		return false
	}
	num, unit := s[:len(s)-2], s[len(s)-2:]
	if unit != "KB" && unit != "MB" && unit != "GB" {
		return false
	}
	_, err := strconv.ParseUint(num, 10, 32)
	return err == nil
}

// DeviceRule is a devices cgroup rule in the kernel's form, "c 1:3 rwm":
// the type (a for all), major and minor (* for any), the access.
func DeviceRule(d specs.LinuxDeviceCgroup) (string, error) {
	t := d.Type
	switch t {
	case "":
		t = "a"
	case "a", "b", "c":
	default:
		return "", fmt.Errorf("type %q: want a, b or c", d.Type)
	}
	num := func(p *int64) (string, error) {
		if p == nil || *p == -1 {
			return "*", nil
		}
		if *p < 0 {
			return "", fmt.Errorf("device number %d: want 0 or more, or none for any", *p)
		}
		return strconv.FormatInt(*p, 10), nil
	}
	major, err := num(d.Major)
	if err != nil {
		return "", err
	}
	minor, err := num(d.Minor)
	if err != nil {
		return "", err
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	if strings.Trim(access, "rwm") != "" || len(access) > 3 {
		return "", fmt.Errorf("access %q: want letters of rwm", d.Access)
	}
	if t == "a" {
		// The kernel's "a" rule names every device: no numbers.
		return "a", nil
	}
	return fmt.Sprintf("%s %s:%s %s", t, major, minor, access), nil
}
