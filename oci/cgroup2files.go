package oci

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/cgroupv1"
)

// v2File is one cgroup v2 interface file to write; Field is the
// config.json path it comes from. Alt is the file to write instead where
// the kernel lacks Name (io.bfq.weight for io.weight).
type v2File struct {
	Name, Value, Field, Alt string
}

// v2Files translates linux.resources into cgroup v2 files, in the order
// they are written, with runc's conversions of v1 values (cpu.shares to
// cpu.weight, blkio weights to io.weight). What v2 cannot express is
// refused with its field; devices are not among these files (see
// newCgroup).
func v2Files(r *specs.LinuxResources) ([]v2File, error) {
	if r == nil {
		return nil, nil
	}
	const f = "linux.resources."
	var out []v2File
	add := func(name, value, field string) {
		out = append(out, v2File{Name: name, Value: value, Field: f + field})
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil {
			add("memory.max", maxOr(*m.Limit), "memory.limit")
		}
		if m.Reservation != nil {
			add("memory.low", maxOr(*m.Reservation), "memory.reservation")
		}
		if m.Swap != nil {
			// OCI's swap is memory plus swap; memory.swap.max is swap alone.
			switch {
			case *m.Swap < 0:
				add("memory.swap.max", "max", "memory.swap")
			case m.Limit == nil || *m.Limit < 0:
				return nil, fmt.Errorf("%smemory.swap %d: needs memory.limit (it is the total of memory and swap)", f, *m.Swap)
			case *m.Swap < *m.Limit:
				return nil, fmt.Errorf("%smemory.swap %d is less than memory.limit %d: it is the total of memory and swap", f, *m.Swap, *m.Limit)
			default:
				add("memory.swap.max", strconv.FormatInt(*m.Swap-*m.Limit, 10), "memory.swap")
			}
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			return nil, fmt.Errorf("%smemory.disableOOMKiller: cgroup v2 cannot turn the OOM killer off", f)
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			add("cpu.weight", strconv.FormatUint(sharesToWeight(*c.Shares), 10), "cpu.shares")
		}
		if c.Quota != nil || c.Period != nil {
			quota, period := "max", uint64(100000)
			if c.Quota != nil && *c.Quota > 0 {
				quota = strconv.FormatInt(*c.Quota, 10)
			}
			if c.Period != nil && *c.Period != 0 {
				period = *c.Period
			}
			add("cpu.max", quota+" "+strconv.FormatUint(period, 10), "cpu.quota")
		}
		if c.Burst != nil {
			add("cpu.max.burst", strconv.FormatUint(*c.Burst, 10), "cpu.burst")
		}
		if c.RealtimeRuntime != nil || c.RealtimePeriod != nil {
			return nil, fmt.Errorf("%scpu.realtimeRuntime/realtimePeriod: cgroup v2 has no real-time budget", f)
		}
		if c.Idle != nil {
			add("cpu.idle", strconv.FormatInt(*c.Idle, 10), "cpu.idle")
		}
		if c.Cpus != "" {
			add("cpuset.cpus", c.Cpus, "cpu.cpus")
		}
		if c.Mems != "" {
			add("cpuset.mems", c.Mems, "cpu.mems")
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		add("pids.max", maxOr(*p.Limit), "pids.limit")
	}
	if b := r.BlockIO; b != nil {
		if b.Weight != nil && *b.Weight != 0 {
			w := strconv.FormatUint(blkioToIOWeight(*b.Weight), 10)
			out = append(out, v2File{Name: "io.weight", Value: "default " + w, Field: f + "blockIO.weight", Alt: "io.bfq.weight"})
		}
		if b.LeafWeight != nil {
			return nil, fmt.Errorf("%sblockIO.leafWeight: cgroup v2 has no leaf weight", f)
		}
		for i, d := range b.WeightDevice {
			if d.Weight != nil {
				out = append(out, v2File{Name: "io.weight", Value: fmt.Sprintf("%d:%d %d", d.Major, d.Minor, blkioToIOWeight(*d.Weight)),
					Field: fmt.Sprintf("%sblockIO.weightDevice[%d]", f, i), Alt: "io.bfq.weight"})
			}
		}
		for _, t := range []struct {
			key, field string
			ds         []specs.LinuxThrottleDevice
		}{
			{"rbps", "throttleReadBpsDevice", b.ThrottleReadBpsDevice},
			{"wbps", "throttleWriteBpsDevice", b.ThrottleWriteBpsDevice},
			{"riops", "throttleReadIOPSDevice", b.ThrottleReadIOPSDevice},
			{"wiops", "throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice},
		} {
			for i, d := range t.ds {
				rate := strconv.FormatUint(d.Rate, 10)
				if d.Rate == 0 {
					rate = "max"
				}
				add("io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, rate), fmt.Sprintf("blockIO.%s[%d]", t.field, i))
			}
		}
	}
	for i, h := range r.HugepageLimits {
		if !cgroupv1.ValidPagesize(h.Pagesize) {
			return nil, fmt.Errorf("%shugepageLimits[%d].pageSize %q: want a size with a unit, such as 2MB or 1GB", f, i, h.Pagesize)
		}
		add("hugetlb."+h.Pagesize+".max", strconv.FormatUint(h.Limit, 10), fmt.Sprintf("hugepageLimits[%d]", i))
	}
	if r.Network != nil && (r.Network.ClassID != nil || len(r.Network.Priorities) > 0) {
		return nil, fmt.Errorf("%snetwork: cgroup v2 has no net_cls or net_prio controller", f)
	}
	if len(r.Rdma) > 0 {
		return nil, fmt.Errorf("%srdma: rbox-runtime sets no RDMA limits", f)
	}
	for k, v := range r.Unified {
		// A file of the cgroup itself, named like "memory.high": no path.
		if i := strings.IndexByte(k, '.'); i <= 0 || strings.ContainsAny(k, "/\x00") || strings.HasPrefix(k, "cgroup.") {
			return nil, fmt.Errorf("%sunified: key %q: want a controller's file, such as memory.high", f, k)
		}
		add(k, v, "unified."+k)
	}
	return out, nil
}

// maxOr is a v2 limit: a negative value is "max".
func maxOr(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// sharesToWeight maps cpu.shares (2 to 262144) onto cpu.weight (1 to
// 10000) linearly, as runc and crun do, so that engines that speak
// shares get the same weights from every runtime.
func sharesToWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + (shares-2)*9999/262142
}

// blkioToIOWeight maps a blkio weight (10 to 1000) onto io.weight (1 to
// 10000), as runc does.
func blkioToIOWeight(w uint16) uint64 {
	v := uint64(min(max(w, 10), 1000))
	return 1 + (v-10)*9999/990
}
