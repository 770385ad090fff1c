package hostcheck

import (
	"reflect"
	"strings"
	"testing"
)

// Lines of /proc/self/mountinfo inside rootless podman (default options)
// and on a host.
const podmanMountInfo = `1300 1213 0:68 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w,userxattr
1301 1300 0:71 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1302 1300 0:72 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
1310 1300 0:76 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs rw
1320 1301 0:72 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
1321 1301 0:80 / /proc/acpi ro,relatime - tmpfs tmpfs ro,size=0k
1322 1301 0:71 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
1330 1310 0:81 / /sys/firmware ro,relatime - tmpfs tmpfs ro,size=0k
1331 1310 0:82 / /sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw
1340 1300 0:83 / /my\040dir rw - tmpfs tmpfs rw
`

const hostMountInfo = `22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
25 23 0:23 / /proc/sys/fs/binfmt_misc rw,relatime - autofs systemd-1 rw
26 24 0:24 / /sys/fs/cgroup rw - tmpfs tmpfs rw
27 24 0:25 / /sys/kernel/security rw - securityfs securityfs rw
`

func TestMasks(t *testing.T) {
	podman, host := ParseMountInfo(podmanMountInfo), ParseMountInfo(hostMountInfo)
	tests := []struct {
		name          string
		mounts        []Mount
		point, fstype string
		want          []string
	}{
		{"podman proc", podman, "/proc", "proc", []string{"/proc/kcore", "/proc/acpi", "/proc/sys"}},
		{"podman sys", podman, "/sys", "sysfs", []string{"/sys/firmware"}},
		{"host proc", host, "/proc", "proc", nil},
		{"host sys", host, "/sys", "sysfs", nil},
		{"no proc at all", nil, "/proc", "proc", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Masks(tt.mounts, tt.point, tt.fstype); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Masks = %q, want %q", got, tt.want)
			}
		})
	}
	if got := podman[len(podman)-1].Point; got != "/my dir" {
		t.Errorf("escaped mount point read as %q, want %q", got, "/my dir")
	}
}

func TestProbeMasksAndSeccomp(t *testing.T) {
	h := &Host{MountInfo: podmanMountInfo, Status: "Name:\tx\nSeccomp:\t2\nSeccomp_filters:\t1\n"}
	p := probeProc(h)
	if p.Status != Fail || !strings.Contains(p.Detail, "3 masked parts") || !strings.Contains(p.Fix, "unmask=/proc/*") || !strings.Contains(p.Fix, "systempaths=unconfined") {
		t.Errorf("probe proc in podman = %+v", p)
	}
	if !inContainer(h) || !strings.Contains(deviceFix(h, "/dev/net/tun", "modprobe tun"), "--device /dev/net/tun") {
		t.Errorf("inside podman, a missing device is not the outer runtime's --device: %q", deviceFix(h, "/dev/net/tun", "modprobe tun"))
	}
	r := &Report{Probes: []Result{{Name: "userns", Status: Fail, Detail: "could not be created: fork/exec: operation not permitted"}}}
	if s := probeSeccomp(t.Context(), h, r); s.Status != Fail || !strings.Contains(s.Fix, "seccomp=unconfined") || !strings.Contains(s.Detail, "clone") {
		t.Errorf("probe seccomp with a refused clone = %+v", s)
	}
	host := &Host{MountInfo: hostMountInfo, Status: "Name:\tx\nSeccomp:\t0\n"}
	if p := probeProc(host); p.Status != OK {
		t.Errorf("probe proc on a host = %+v", p)
	}
	if s := probeSeccomp(t.Context(), host, r); s.Status != OK {
		t.Errorf("probe seccomp without a filter = %+v", s)
	}
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add(podmanMountInfo)
	f.Add(hostMountInfo)
	f.Add("1 2 3 4 5 6 - x\n\\\\ - -\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range ParseMountInfo(s) {
			if m.FSType == "" {
				t.Fatalf("a mount without a type from %q", s)
			}
		}
		Masks(ParseMountInfo(s), "/proc", "proc")
	})
}
