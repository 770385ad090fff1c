package sandbox

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/caps"
	"github.com/rbox-sandbox/rbox/seccomp"
)

// hardening resolves the workload's capability set and compiles its
// seccomp filter (nil when unconfined). It runs on the host, before any
// namespace exists, so that a bad name or profile is a usage error that
// names the flag, the file and the entry.
func hardening(s *Spec) (caps.Set, *seccomp.Filter, error) {
	set, err := caps.Resolve(s.CapAdd, s.CapDrop)
	if err != nil {
		return 0, nil, err
	}
	var p *seccomp.Profile
	switch s.Seccomp {
	case SeccompUnconfined:
		return set, nil, nil
	case "", SeccompDefault:
		p = seccomp.Default()
	default:
		f, err := os.Open(s.Seccomp)
		if err != nil {
			return 0, nil, fmt.Errorf("--seccomp %q: %w (use unconfined, default or the path of an OCI seccomp profile)", s.Seccomp, err)
		}
		defer f.Close()
		p, err = seccomp.LoadOCI(f)
		if err != nil {
			return 0, nil, fmt.Errorf("--seccomp %q: %w", s.Seccomp, err)
		}
	}
	f, err := seccomp.Compile(p, seccomp.NativeArch, set.Names())
	if err != nil {
		return 0, nil, fmt.Errorf("--seccomp %q: %w", s.Seccomp, err)
	}
	return set, &f, nil
}

func seccompName(s *Spec, f *seccomp.Filter) string {
	switch {
	case f == nil:
		return SeccompUnconfined
	case s.Seccomp == "" || s.Seccomp == SeccompDefault:
		return fmt.Sprintf("default (%d instructions)", len(f.Program))
	}
	return fmt.Sprintf("%q (%d instructions)", s.Seccomp, len(f.Program))
}

// needSealedCopy says whether the init must run from a sealed copy of
// the rbox binary (runc's CVE-2019-5736): when the workload may reach
// /proc/1/exe, which takes CAP_SYS_PTRACE because the init is
// non-dumpable, and the user may write the binary (a go build output,
// ~/bin/rbox), so that root of the sandbox, who is that user, could too.
// A binary the user cannot write (installed by root) needs no copy, and
// without CAP_SYS_PTRACE the copy would guard a link no one can follow.
func needSealedCopy(set caps.Set, exe string) bool {
	if !set.Has(unix.CAP_SYS_PTRACE) {
		return false
	}
	if exe == "" {
		exe = "/proc/self/exe"
	}
	return unix.Access(exe, unix.W_OK) == nil
}

// readOnlyWarning is the one line exec prints when the workload may undo
// its read-only mounts: with CAP_SYS_ADMIN, root of the sandbox can
// `mount -o remount,bind,rw` a `:ro` volume or the --read-only root,
// because rbox made those mounts in the workload's own user namespace
// and the kernel locks only the flags of mounts inherited from a more
// privileged one. Locking them would need the workload in a nested user
// namespace, which would then own neither the network nor the pid
// namespace (SECURITY.md, "Capabilities worth knowing about").
func readOnlyWarning(s *Spec, set caps.Set) string {
	if !set.Has(unix.CAP_SYS_ADMIN) {
		return ""
	}
	var what []string
	for _, v := range s.Volumes {
		if v.ReadOnly {
			what = append(what, "the :ro volumes")
			break
		}
	}
	if s.ReadOnly {
		what = append(what, "the --read-only root")
	}
	if len(what) == 0 {
		return ""
	}
	return "rbox: warning: SYS_ADMIN (--cap-add) lets the workload remount " + strings.Join(what, " and ") + " read-write (see SECURITY.md)"
}
