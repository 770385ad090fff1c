package seccomp

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Filter is a compiled seccomp program, ready for InstallOnThread.
type Filter struct {
	Program []unix.SockFilter
	Flags   uintptr // SECCOMP_FILTER_FLAG_*
}

// Offsets in struct seccomp_data. Arguments are 64-bit words read as two
// 32-bit halves; amd64 and arm64 are little-endian, low half first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16

	errnoEPERM  = uint32(unix.EPERM)
	errnoENOSYS = uint32(unix.ENOSYS)
	maxInsns    = 4096 // BPF_MAXINSNS
)

// rule is one applicable (syscall, conditions) pair with its return value.
type rule struct {
	args []Arg
	ret  uint32
	from int // index in Profile.Syscalls, for messages
}

// block gathers what the filter does for one syscall number: conditional
// rules in profile order, then the unconditional one (if any).
type block struct {
	nr     uint32
	name   string
	conds  []rule
	uncond *rule
}

// Compile turns p into a filter for the architecture goarch ("amd64",
// "arm64"). caps names the capabilities the workload holds; only docker's
// includes.caps / excludes.caps conditions look at them.
//
// The program, on top of what the profile says:
//   - kills the process for a syscall made through any other ABI (i386 or
//     x32 on amd64, arm on arm64): rbox compiles rules for the native ABI
//     only, and a 32-bit entry point must not bypass them. KILL_PROCESS is
//     libseccomp's default for architectures a filter does not list; it is
//     loud (the workload dies by SIGSYS, exit 159) where an errno would
//     leave a 32-bit program failing in odd ways.
//   - answers ENOSYS for syscall numbers above the highest one its table
//     knows: a profile cannot name them, so neither can it judge them, and
//     ENOSYS makes libc fall back to older calls as on an older kernel.
//
// Per syscall, rules with argument conditions are tried in profile order
// before a rule without conditions; of two unconditional rules the first
// wins, as in libseccomp (which keeps an existing unconditional rule and
// drops a later one for the same syscall): podman's own seccomp.json
// relies on it, allowing setns, sethostname and others in its big allow
// list and refusing them again further down for a container without
// CAP_SYS_ADMIN. Names this architecture does not have are skipped.
func Compile(p *Profile, goarch string, caps []string) (Filter, error) {
	if err := p.Validate(); err != nil {
		return Filter{}, err
	}
	a, err := lookupArch(goarch)
	if err != nil {
		return Filter{}, err
	}
	if err := coversArch(p, a); err != nil {
		return Filter{}, err
	}
	defRet := retValue(p.DefaultAction, p.DefaultErrnoRet, errnoEPERM)
	blocks, err := collect(p, a, caps, defRet)
	if err != nil {
		return Filter{}, err
	}
	prog, err := emit(a, blocks, defRet)
	if err != nil {
		return Filter{}, err
	}
	var flags uintptr
	for _, f := range p.Flags {
		flags |= filterFlags[f]
	}
	return Filter{Program: prog, Flags: flags}, nil
}

func coversArch(p *Profile, a *archInfo) error {
	if len(p.Architectures) == 0 && len(p.ArchMap) == 0 {
		return nil
	}
	listed := slices.Contains(p.Architectures, a.oci)
	for _, m := range p.ArchMap {
		listed = listed || m.Arch == a.oci
	}
	if !listed {
		return at("architectures", "does not list %s, the architecture rbox runs on", a.oci)
	}
	return nil
}

// retValue is the seccomp return value of an action; errno applies to
// SCMP_ACT_ERRNO (and is the message of SCMP_ACT_TRACE) when the profile
// gives none.
func retValue(act Action, errnoRet *uint32, errno uint32) uint32 {
	if errnoRet != nil {
		errno = *errnoRet
	}
	switch act {
	case ActErrno:
		return actionRet[act] | errno
	case ActTrace:
		if errnoRet == nil {
			return actionRet[act]
		}
		return actionRet[act] | errno
	}
	return actionRet[act]
}

func collect(p *Profile, a *archInfo, caps []string, defRet uint32) ([]*block, error) {
	byNr := map[uint32]*block{}
	var order []*block
	for i, s := range p.Syscalls {
		ok, err := applies(&s, a, caps)
		if err != nil {
			return nil, prefix(fmt.Sprintf("syscalls[%d]", i), err)
		}
		if !ok {
			continue
		}
		r := rule{args: s.Args, ret: retValue(s.Action, s.ErrnoRet, errnoEPERM), from: i}
		for _, name := range s.Names {
			nr, ok := a.syscalls[name]
			if !ok {
				continue // exists on other architectures (Validate checked)
			}
			b := byNr[nr]
			if b == nil {
				b = &block{nr: nr, name: name}
				byNr[nr] = b
				order = append(order, b)
			}
			switch {
			case len(r.args) > 0:
				b.conds = append(b.conds, r)
			case b.uncond == nil:
				r := r
				b.uncond = &r
			}
		}
	}
	// A syscall whose only rule repeats the default needs no code.
	order = slices.DeleteFunc(order, func(b *block) bool {
		return len(b.conds) == 0 && b.uncond.ret == defRet
	})
	return order, nil
}

// applies evaluates docker's includes/excludes for the target.
func applies(s *Syscall, a *archInfo, caps []string) (bool, error) {
	has := func(c string) bool {
		want := canonCap(c)
		return slices.ContainsFunc(caps, func(h string) bool { return canonCap(h) == want })
	}
	if in := s.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.ContainsFunc(in.Arches, func(x string) bool { return archByDockerName(x) == a.goarch }) {
			return false, nil
		}
		for _, c := range in.Caps {
			if !has(c) {
				return false, nil
			}
		}
		if in.MinKernel != "" {
			ok, err := kernelAtLeast(in.MinKernel)
			if err != nil || !ok {
				return false, err
			}
		}
	}
	if ex := s.Excludes; ex != nil {
		if slices.ContainsFunc(ex.Arches, func(x string) bool { return archByDockerName(x) == a.goarch }) {
			return false, nil
		}
		if slices.ContainsFunc(ex.Caps, has) {
			return false, nil
		}
		if ex.MinKernel != "" {
			ok, err := kernelAtLeast(ex.MinKernel)
			if err != nil || ok {
				return false, err
			}
		}
	}
	return true, nil
}

func canonCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// parseKernel reads "major.minor" (more parts and a suffix are ignored).
func parseKernel(v string) ([2]int, error) {
	var out [2]int
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return out, fmt.Errorf("kernel version %q is not major.minor", v)
	}
	for i := range 2 {
		digits := parts[i]
		if i == 1 {
			digits, _, _ = strings.Cut(digits, "-")
		}
		n, err := strconv.Atoi(digits)
		if err != nil || n < 0 {
			return out, fmt.Errorf("kernel version %q is not major.minor", v)
		}
		out[i] = n
	}
	return out, nil
}

func kernelAtLeast(v string) (bool, error) {
	want, err := parseKernel(v)
	if err != nil {
		return false, err
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false, fmt.Errorf("uname: %w", err)
	}
	have, err := parseKernel(unix.ByteSliceToString(u.Release[:]))
	if err != nil {
		return false, err
	}
	return have[0] > want[0] || have[0] == want[0] && have[1] >= want[1], nil
}
