package caps

import (
	"fmt"
	"math/bits"
	"strings"
)

// names lists every capability Linux knows, indexed by number
// (include/uapi/linux/capability.h, up to CAP_CHECKPOINT_RESTORE in 5.9).
var names = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
	"CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// Last is the highest capability number this package knows.
const Last = len(names) - 1

// Set is a set of capabilities, bit N standing for capability number N.
type Set uint64

// All holds every capability this package knows.
const All Set = 1<<(Last+1) - 1

// Default returns podman's default set for a container's root.
func Default() Set {
	s, err := Parse("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
		"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")
	if err != nil {
		panic(err) // the list above is constant
	}
	return s
}

// Lookup returns the number of a capability named with or without the CAP_
// prefix, in any case.
func Lookup(name string) (int, bool) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for i, c := range names {
		if c == n {
			return i, true
		}
	}
	return 0, false
}

// Name returns the canonical name (CAP_...) of capability number n.
func Name(n int) (string, bool) {
	if n < 0 || n > Last {
		return "", false
	}
	return names[n], true
}

// Parse builds a set from capability names; "ALL" stands for every one.
func Parse(list ...string) (Set, error) {
	var s Set
	for _, name := range list {
		if isAll(name) {
			s |= All
			continue
		}
		n, ok := Lookup(name)
		if !ok {
			return 0, fmt.Errorf("unknown capability %q (see capabilities(7))", name)
		}
		s |= 1 << n
	}
	return s, nil
}

// Has reports whether capability number n is in the set.
func (s Set) Has(n int) bool { return n >= 0 && n <= Last && s&(1<<n) != 0 }

// Names returns the canonical names of the set's members, by number.
func (s Set) Names() []string {
	out := make([]string, 0, bits.OnesCount64(uint64(s)))
	for i := range names {
		if s.Has(i) {
			out = append(out, names[i])
		}
	}
	return out
}

// String lists the members, comma-separated, as capsh does.
func (s Set) String() string { return strings.Join(s.Names(), ",") }

// Resolve computes the workload's set from --cap-add and --cap-drop the way
// docker and podman do: drops apply to the default set, then adds apply;
// "--cap-drop ALL" starts from nothing, so only the adds remain;
// "--cap-add ALL" starts from everything, minus the drops. Naming one
// capability in both lists is a contradiction and an error.
func Resolve(add, drop []string) (Set, error) {
	addSet, addAll, err := parseFlag(add, "--cap-add")
	if err != nil {
		return 0, err
	}
	dropSet, dropAll, err := parseFlag(drop, "--cap-drop")
	if err != nil {
		return 0, err
	}
	switch {
	case addAll && dropAll:
		return 0, fmt.Errorf("--cap-add ALL and --cap-drop ALL contradict each other; drop ALL and add the capabilities you need")
	case dropAll:
		return addSet, nil
	case addAll:
		return All &^ dropSet, nil
	}
	if both := addSet & dropSet; both != 0 {
		return 0, fmt.Errorf("capability %s is both in --cap-add and --cap-drop; keep it in one of them", both.Names()[0])
	}
	return Default()&^dropSet | addSet, nil
}

func parseFlag(list []string, flag string) (s Set, all bool, err error) {
	for _, name := range list {
		if isAll(name) {
			all = true
			continue
		}
		n, ok := Lookup(name)
		if !ok {
			return 0, false, fmt.Errorf("unknown capability %q in %s (see capabilities(7))", name, flag)
		}
		s |= 1 << n
	}
	return s, all, nil
}

func isAll(name string) bool { return strings.EqualFold(strings.TrimSpace(name), "ALL") }
