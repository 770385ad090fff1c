package hostcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/userns"
)

// What an outer container runtime (docker, podman, a Kubernetes pod, a
// CI job's container, another rbox) does that rbox works around, and the
// outer option that lifts each: a seccomp filter, masked parts of /proc
// and /sys, devices left out.

// seccompFix lifts an outer runtime's default seccomp profile.
const seccompFix = "run the outer container with --security-opt seccomp=unconfined (docker, podman); Kubernetes: securityContext.seccompProfile.type: Unconfined"

// procFix gives a container an unmasked /proc.
const procFix = "run the outer container with --security-opt unmask=/proc/* (podman) or --security-opt systempaths=unconfined (docker); Kubernetes: securityContext.procMount: Unmasked"

// sysFix gives a container an unmasked /sys.
const sysFix = "run the outer container with --security-opt unmask=ALL (podman) or --security-opt systempaths=unconfined (docker); --net host needs no new /sys"

// Mount is one line of /proc/self/mountinfo, the fields the probes read.
type Mount struct {
	ID, Parent int
	Point      string
	FSType     string
}

// ParseMountInfo reads /proc/PID/mountinfo. Lines it cannot read are
// skipped: the probes judge what they can see.
func ParseMountInfo(text string) []Mount {
	var out []Mount
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		var m Mount
		if _, err := fmt.Sscanf(f[0]+" "+f[1], "%d %d", &m.ID, &m.Parent); err != nil {
			continue
		}
		m.Point, m.FSType = unescapeOctal(f[4]), f[sep+1]
		out = append(out, m)
	}
	return out
}

// unescapeOctal undoes the kernel's \ooo escapes of spaces and the like.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil && c < 256 {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// emptyMountPoints are the directories procfs and sysfs keep empty for
// other filesystems: a mount there hides nothing, and the kernel lets a
// new instance be mounted beside it.
var emptyMountPoints = map[string]bool{
	"/proc/sys/fs/binfmt_misc": true,
	"/sys/fs/cgroup":           true, "/sys/fs/fuse/connections": true, "/sys/fs/bpf": true,
	"/sys/fs/pstore": true, "/sys/kernel/security": true, "/sys/kernel/debug": true,
	"/sys/kernel/tracing": true, "/sys/kernel/config": true, "/sys/firmware/efi/efivars": true,
}

// Masks lists the mounts over parts of the fstype filesystem mounted at
// point (the masks of a container's /proc, say), which make the kernel
// refuse a new instance in a nested user namespace.
func Masks(mounts []Mount, point, fstype string) []string {
	top := -1
	for _, m := range mounts {
		if m.Point == point && m.FSType == fstype {
			top = m.ID // the last one mounted there is the one seen
		}
	}
	var out []string
	for _, m := range mounts {
		if m.Parent == top && top >= 0 && !emptyMountPoints[m.Point] && strings.HasPrefix(m.Point, point+"/") {
			out = append(out, m.Point)
		}
	}
	return out
}

// probeMasks reports the masked parts of /proc or /sys.
func probeMasks(h *Host, name, point, fstype, consequence, fix string) Result {
	masks := Masks(ParseMountInfo(h.MountInfo), point, fstype)
	if len(masks) == 0 {
		return ok(name, "%s has no masked parts: sandboxes get a %s of their own", point, fstype)
	}
	shown := masks
	if len(shown) > 3 {
		shown = append(shown[:3:3], "...")
	}
	return fail(name, fix, "%s has %d masked parts (%s), as containers have: a new %s is refused, %s", point, len(masks), strings.Join(shown, ", "), fstype, consequence)
}

func probeProc(h *Host) Result {
	return probeMasks(h, "proc", "/proc", "proc", "so sandboxes see the outer pid namespace's /proc (rbox's masks over it)", procFix)
}

func probeSys(h *Host) Result {
	return probeMasks(h, "sys", "/sys", "sysfs", "so sandboxes with their own network see the parent's /sys, read-only", sysFix)
}

// probeSeccomp finds a seccomp filter installed outside rbox and names
// what it denies that rbox needs: the clone of the namespaces (probe
// userns fails then) or sethostname in them.
func probeSeccomp(ctx context.Context, h *Host, r *Report) Result {
	const name = "seccomp"
	if !strings.Contains(h.Status, "\nSeccomp:\t2") {
		return ok(name, "no seccomp filter installed outside rbox")
	}
	if u := r.Get("userns"); u.Status == Fail && strings.Contains(u.Detail, "operation not permitted") {
		return fail(name, seccompFix, "a seccomp filter installed outside rbox (Seccomp: 2 in /proc/self/status) denies clone with namespace flags or mount, as docker's default profile does: rbox exec cannot start")
	}
	if !r.ok("userns") || h.Exe == "" {
		return skip(name, "a seccomp filter is installed outside rbox (Seccomp: 2); not tried: needs probe userns")
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	err := runHelper(h.helper(ctx, userns.CloneFlags(true), true, "hostname"))
	if err != nil && (errors.Is(err, unix.EPERM) || strings.Contains(err.Error(), "operation not permitted")) {
		return fail(name, seccompFix, "a seccomp filter installed outside rbox (Seccomp: 2) denies sethostname, as podman's and docker's default profiles do: sandboxes keep the outer hostname")
	}
	return ok(name, "a seccomp filter is installed outside rbox (Seccomp: 2) and lets through what rbox needs")
}

// inContainer guesses whether rbox runs inside a container or another
// sandbox: then a missing device is the outer runtime's to pass in.
func inContainer(h *Host) bool {
	if strings.Contains(h.Status, "\nSeccomp:\t2") || len(Masks(ParseMountInfo(h.MountInfo), "/proc", "proc")) > 0 {
		return true
	}
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return false
}

// deviceFix is the fix of a missing or closed device, for a host or, in a
// container, for the outer runtime.
func deviceFix(h *Host, dev, hostFix string) string {
	if !inContainer(h) {
		return hostFix
	}
	return fmt.Sprintf("run the outer container with --device %s (docker, podman; rbox: --device %s; Kubernetes: a device plugin or a privileged pod); on the host: %s", dev, dev, hostFix)
}
