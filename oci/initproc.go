package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/caps"
	"github.com/rbox-sandbox/rbox/seccomp"
)

// capSets are process.capabilities as sets; nil lists are empty sets.
type capSets struct{ bounding, effective, permitted, inheritable, ambient caps.Set }

func parseCaps(c *specs.LinuxCapabilities) (capSets, error) {
	var s capSets
	if c == nil {
		return s, nil
	}
	for _, x := range []struct {
		dst  *caps.Set
		list []string
		name string
	}{{&s.bounding, c.Bounding, "bounding"}, {&s.effective, c.Effective, "effective"}, {&s.permitted, c.Permitted, "permitted"},
		{&s.inheritable, c.Inheritable, "inheritable"}, {&s.ambient, c.Ambient, "ambient"}} {
		set, err := caps.Parse(x.list...)
		if err != nil {
			return s, fmt.Errorf("process.capabilities.%s: %w", x.name, err)
		}
		*x.dst = set
	}
	return s, nil
}

// checkGrantable refuses a capability that the process could not be
// given: one outside the init's bounding set (which no capset can raise:
// root on this host may lack CAP_SYS_RESOURCE there) or one this kernel
// does not know. The spec wants such a value to fail, and create is where
// the engine can still report it; the capset after start could only kill
// the process.
func checkGrantable(cs capSets, bounding caps.Set) error {
	for _, x := range []struct {
		set  caps.Set
		name string
	}{{cs.bounding, "bounding"}, {cs.effective, "effective"}, {cs.permitted, "permitted"},
		{cs.inheritable, "inheritable"}, {cs.ambient, "ambient"}} {
		if extra := x.set &^ bounding; extra != 0 {
			return fmt.Errorf("process.capabilities.%s: %s cannot be granted: not in the runtime's bounding set (%s): drop it from the config", x.name, extra.Names()[0], boundingWords(bounding))
		}
	}
	return nil
}

func boundingWords(b caps.Set) string {
	if missing := caps.All &^ b; missing != 0 {
		return "it lacks " + missing.String()
	}
	return "it has all"
}

// boundingSet is this thread's capability bounding set as the kernel
// reports it; capabilities this kernel does not have are never in it.
func boundingSet() caps.Set {
	var s caps.Set
	for n := 0; n <= caps.Last; n++ {
		if r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); err == nil && r == 1 {
			s |= 1 << n
		}
	}
	return s
}

// setUser drops the bounding set (which needs CAP_SETPCAP, so before
// the uid changes), then takes process.user's groups and IDs, keeping
// the permitted set for applyCaps.
func setUser(p Process, userNS bool, cs capSets) error {
	for n := 0; n <= caps.Last; n++ {
		if cs.bounding.Has(n) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("process.capabilities.bounding: drop %d: %w", n, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keep capabilities across setuid: %w", err)
	}
	groups := make([]int, len(p.AdditionalGids))
	for i, g := range p.AdditionalGids {
		groups[i] = int(g)
	}
	if err := unix.Setgroups(groups); err != nil {
		// A user namespace whose gid_map was written without
		// CAP_SETGID denies setgroups: fine when none are asked for.
		b, _ := os.ReadFile("/proc/self/setgroups")
		if len(groups) > 0 || !strings.HasPrefix(string(b), "deny") {
			return fmt.Errorf("process.user.additionalGids %v: %w", p.AdditionalGids, err)
		}
	}
	if err := unix.Setresgid(int(p.GID), int(p.GID), int(p.GID)); err != nil {
		return fmt.Errorf("process.user.gid %d: %w", p.GID, err)
	}
	if err := unix.Setresuid(int(p.UID), int(p.UID), int(p.UID)); err != nil {
		return fmt.Errorf("process.user.uid %d: %w", p.UID, err)
	}
	return nil
}

// applyCaps sets the effective, permitted and inheritable sets exactly,
// and raises the ambient ones the kernel allows: an ambient capability
// must be permitted and inheritable too, and configs (runc spec's among
// them) list ambient ones without an inheritable set; runc and crun pass
// over those as well.
func applyCaps(cs capSets) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := 0; i < 2; i++ {
		data[i].Effective = uint32(uint64(cs.effective) >> (32 * i))
		data[i].Permitted = uint32(uint64(cs.permitted) >> (32 * i))
		data[i].Inheritable = uint32(uint64(cs.inheritable) >> (32 * i))
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("process.capabilities: capset: %w", err)
	}
	unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	for n := 0; n <= caps.Last; n++ {
		if cs.ambient.Has(n) && cs.permitted.Has(n) && cs.inheritable.Has(n) {
			if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0); err != nil {
				return fmt.Errorf("process.capabilities.ambient: raise %d: %w", n, err)
			}
		}
	}
	return unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0)
}

// installSeccomp loads the config's filter on this thread, the one that
// executes the process. Without no_new_privs the kernel wants
// CAP_SYS_ADMIN, which the process may have just given up: runc then
// fails the same way.
func installSeccomp(f *seccomp.Filter) error {
	if err := seccomp.InstallOnThread(*f); err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	return nil
}

// runHookInside runs a createContainer or startContainer hook in the
// container's namespaces (this process's).
// The state is "created" (after lifecycle step 2) with the process's pid
// as the host sees it.
func runHookInside(h Hook, b *Bundle, id string, pid int) error {
	st := specs.State{Version: b.OCIVersion, ID: id, Status: specs.StateCreated, Pid: pid, Bundle: b.Dir, Annotations: b.Annotations}
	return RunHook(context.Background(), h, st)
}
