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
		// caps still words these with the flags' names.
		return 0, nil, fieldErr("CapAdd", "", "%w", err)
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
			return 0, nil, fieldErr("Seccomp", s.Seccomp, "{Seccomp} %q: %w (use unconfined, default or the path of an OCI seccomp profile)", s.Seccomp, err)
		}
		defer f.Close()
		p, err = seccomp.LoadOCI(f)
		if err != nil {
			return 0, nil, fieldErr("Seccomp", s.Seccomp, "{Seccomp} %q: %w", s.Seccomp, err)
		}
	}
	f, err := seccomp.Compile(p, seccomp.NativeArch, set.Names())
	if err != nil {
		return 0, nil, fieldErr("Seccomp", s.Seccomp, "{Seccomp} %q: %w", s.Seccomp, err)
	}
	if err := canStart(f, s.Seccomp); err != nil {
		return 0, nil, err
	}
	return set, &f, nil
}

// canStart refuses a filter that would stop the workload's own execve.
// The init installs the filter in the forked child as its last step
// before execve (userns/forkexec.go), so execve is the one call rbox makes
// under it; a filter that refuses it can start nothing, and the run
// would end in an unexplained exec failure. The arguments are pointers
// as a process passes them. What the program then calls (the dynamic
// loader's mmap, libc's exit_group, futex, execveat for fexecve) is the
// profile author's business, as in runc and crun: a workload that the
// profile breaks fails under it like any other refused call.
func canStart(f seccomp.Filter, name string) error {
	ok, err := f.Allows(seccomp.NativeArch, "execve", 0x7ffc00001000, 0x7ffc00002000, 0x7ffc00003000)
	if err != nil {
		return fieldErr("Seccomp", name, "{Seccomp} %q: checking execve: %w", name, err)
	}
	if !ok {
		return fieldErr("Seccomp", name, "{Seccomp} %q denies execve: the workload cannot start", name)
	}
	return nil
}

// startCalls are calls nearly every program makes before main or at its
// end: the C library's TLS setup (amd64), its first allocations and
// exit_group. A profile denying one of them passes canStart, since the
// execve goes through, but the program then dies at once, often by
// SIGSEGV with nothing printed; the warning says why.
var startCalls = []string{"arch_prctl", "brk", "mmap", "exit_group"}

// seccompWarning names the startCalls f denies, or returns nil.
func seccompWarning(s *Spec, f *seccomp.Filter) *FieldError {
	if f == nil {
		return nil
	}
	var denied []string
	for _, name := range startCalls {
		// An error: a call the architecture does not have (arch_prctl on arm64).
		if ok, err := f.Allows(seccomp.NativeArch, name, 0, 0, 0, 0, 0, 0); err == nil && !ok {
			denied = append(denied, name)
		}
	}
	if len(denied) == 0 {
		return nil
	}
	return fieldErr("Seccomp", s.Seccomp, "{Seccomp} %q denies %s: most programs cannot start or exit under it", s.Seccomp, strings.Join(denied, ", "))
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
func readOnlyWarning(s *Spec, set caps.Set) *FieldError {
	if !set.Has(unix.CAP_SYS_ADMIN) {
		return nil
	}
	roVolume := false
	for _, v := range s.Volumes {
		roVolume = roVolume || v.ReadOnly
	}
	switch {
	case roVolume && s.ReadOnly:
		return fieldErr("CapAdd", "SYS_ADMIN", "SYS_ADMIN ({CapAdd}) lets the workload remount the :ro volumes and the {ReadOnly} root read-write (see SECURITY.md)")
	case roVolume:
		return fieldErr("CapAdd", "SYS_ADMIN", "SYS_ADMIN ({CapAdd}) lets the workload remount the :ro volumes read-write (see SECURITY.md)")
	case s.ReadOnly:
		return fieldErr("CapAdd", "SYS_ADMIN", "SYS_ADMIN ({CapAdd}) lets the workload remount the {ReadOnly} root read-write (see SECURITY.md)")
	}
	return nil
}
