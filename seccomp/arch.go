package seccomp

import (
	"fmt"
	"runtime"
)

// archInfo is what the compiler needs to know about one architecture.
type archInfo struct {
	goarch   string
	oci      string // the runtime-spec name, SCMP_ARCH_*
	audit    uint32 // AUDIT_ARCH_* as seccomp_data.arch reports it
	syscalls map[string]uint32
	max      uint32 // highest syscall number in the table
	// x32 marks amd64, where x32-ABI syscalls share AUDIT_ARCH_X86_64 and
	// are told apart by bit 30 of the number (__X32_SYSCALL_BIT).
	x32 bool
}

const x32SyscallBit = 0x40000000

var arches = map[string]*archInfo{
	"amd64": {goarch: "amd64", oci: "SCMP_ARCH_X86_64", audit: 0xc000003e, syscalls: syscallsAmd64, x32: true},
	"arm64": {goarch: "arm64", oci: "SCMP_ARCH_AARCH64", audit: 0xc00000b7, syscalls: syscallsArm64},
}

func init() {
	for _, a := range arches {
		for _, n := range a.syscalls {
			a.max = max(a.max, n)
		}
	}
	for _, n := range privateSyscalls {
		knownSyscalls[n] = true
	}
}

// ociArches are the architecture names the runtime spec defines; a
// profile may list any of them.
var ociArches = map[string]bool{
	"SCMP_ARCH_X86": true, "SCMP_ARCH_X86_64": true, "SCMP_ARCH_X32": true,
	"SCMP_ARCH_ARM": true, "SCMP_ARCH_AARCH64": true,
	"SCMP_ARCH_MIPS": true, "SCMP_ARCH_MIPS64": true, "SCMP_ARCH_MIPS64N32": true,
	"SCMP_ARCH_MIPSEL": true, "SCMP_ARCH_MIPSEL64": true, "SCMP_ARCH_MIPSEL64N32": true,
	"SCMP_ARCH_PPC": true, "SCMP_ARCH_PPC64": true, "SCMP_ARCH_PPC64LE": true,
	"SCMP_ARCH_S390": true, "SCMP_ARCH_S390X": true,
	"SCMP_ARCH_PARISC": true, "SCMP_ARCH_PARISC64": true,
	"SCMP_ARCH_RISCV64": true, "SCMP_ARCH_LOONGARCH64": true,
	"SCMP_ARCH_M68K": true, "SCMP_ARCH_SH": true, "SCMP_ARCH_SHEB": true,
}

// NativeArch is the architecture rbox runs on, as Compile names it.
const NativeArch = runtime.GOARCH

func lookupArch(goarch string) (*archInfo, error) {
	a, ok := arches[goarch]
	if !ok {
		return nil, fmt.Errorf("seccomp filters for architecture %q are not supported (rbox builds them for amd64 and arm64)", goarch)
	}
	return a, nil
}

// privateSyscalls are real syscalls that x/sys's tables leave out: ARM's
// private ones above __ARM_NR_BASE (arch/arm/include/uapi/asm/unistd.h),
// which docker's profile names.
var privateSyscalls = []string{"breakpoint", "cacheflush", "usr26", "usr32", "set_tls", "get_tls"}
