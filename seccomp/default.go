package seccomp

import "golang.org/x/sys/unix"

// Default returns rbox's default profile: everything is allowed except
// what a sandbox never needs and what has been a steady source of kernel
// exploits, which fails with EPERM. It is a deny list on purpose: the user
// namespace already withholds host privileges, so the profile only trims
// attack surface that stays reachable from inside one, without the
// breakage an allow list brings (new syscalls, odd runtimes).
//
// Decisions, case by case:
//   - ptrace stays allowed, as in podman on kernels >= 4.8 (since then a
//     tracer cannot skip the filter of its tracee); strace and gdb are
//     ordinary things to run in a sandbox.
//   - clone, clone3, unshare, setns, mount and friends stay allowed: the
//     user namespace decides what they may do, and glibc needs clone3.
//   - io_uring is blocked (EPERM, the kernel's own answer when
//     kernel.io_uring_disabled=2, so liburing users fall back): it bypasses
//     seccomp for the operations it carries and has been the most exploited
//     kernel surface of recent years; docker and podman's profiles dropped
//     it for the same reason.
//   - ioctl TIOCSTI (push input into a terminal the sandbox shares with
//     the user) and TIOCLINUX (the same and more on a virtual console)
//     fail; only the low 32 bits of the request are compared, as the kernel
//     does, so setting high bits cannot slip past.
//   - personality is limited to the values podman allows plus
//     ADDR_NO_RANDOMIZE (gdb and setarch -R turn ASLR off for their own
//     child; that is the workload's business, not a kernel risk).
func Default() *Profile {
	eperm := func(names ...string) Syscall {
		return Syscall{Names: names, Action: ActErrno, ErrnoRet: ptr(uint32(unix.EPERM))}
	}
	// Compare only the 32 bits the kernel reads of an int argument.
	low32 := func(index uint, v uint32) []Arg {
		return []Arg{{Index: index, Value: 0xffffffff, ValueTwo: uint64(v), Op: OpMaskedEqual}}
	}
	p := &Profile{
		DefaultAction: ActAllow,
		Syscalls: []Syscall{
			{Comment: "kernel keyrings are not namespaced",
				Names: []string{"add_key", "keyctl", "request_key"}},
			{Comment: "replacing or changing the running kernel",
				Names: []string{"kexec_load", "kexec_file_load", "init_module", "finit_module",
					"delete_module", "reboot", "swapon", "swapoff", "acct"}},
			{Comment: "kernel attack surface a sandbox does not need",
				Names: []string{"bpf", "perf_event_open", "userfaultfd", "lookup_dcookie",
					"io_uring_setup", "io_uring_enter", "io_uring_register"}},
			{Comment: "opening by file handle bypasses the mount namespace's view (the 'shocker' escape)",
				Names: []string{"open_by_handle_at"}},
			{Comment: "the host's kernel log", Names: []string{"syslog"}},
			{Comment: "TIOCSTI: inject input into the terminal",
				Names: []string{"ioctl"}, Args: low32(1, unix.TIOCSTI)},
			{Comment: "TIOCLINUX: virtual console control, including input injection",
				Names: []string{"ioctl"}, Args: low32(1, unix.TIOCLINUX)},
		},
	}
	for i := range p.Syscalls {
		s := eperm(p.Syscalls[i].Names...)
		s.Comment, s.Args = p.Syscalls[i].Comment, p.Syscalls[i].Args
		p.Syscalls[i] = s
	}
	const (
		perLinux         = 0x0
		perLinux32       = 0x8
		uname26          = 0x20000
		addrNoRandomize  = 0x40000
		personalityQuery = 0xffffffff
	)
	for _, v := range []uint32{perLinux, perLinux32, uname26, uname26 | perLinux32,
		addrNoRandomize, addrNoRandomize | perLinux32, personalityQuery} {
		p.Syscalls = append(p.Syscalls, Syscall{Names: []string{"personality"}, Action: ActAllow, Args: low32(0, v),
			Comment: "personality values podman allows, and ADDR_NO_RANDOMIZE"})
	}
	p.Syscalls = append(p.Syscalls, eperm("personality"))
	return p
}

func ptr[T any](v T) *T { return &v }
