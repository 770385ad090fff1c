package seccomp

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	retAllow       = 0x7fff0000
	retKillProcess = 0x80000000
	retEPERM       = 0x00050000 | uint32(unix.EPERM)
	retENOSYS      = 0x00050000 | uint32(unix.ENOSYS)
)

func compileT(t *testing.T, p *Profile, arch string) []unix.SockFilter {
	t.Helper()
	f, err := Compile(p, arch, nil)
	if err != nil {
		t.Fatalf("Compile(%s): %v", arch, err)
	}
	return f.Program
}

func mustRun(t *testing.T, prog []unix.SockFilter, d seccompData) uint32 {
	t.Helper()
	r, err := run(prog, d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDefaultProfile(t *testing.T) {
	const (
		auditI386 = 0x40000003
		auditARM  = 0x40000028
	)
	for _, arch := range []string{"amd64", "arm64"} {
		a := arches[arch]
		prog := compileT(t, Default(), arch)
		t.Logf("%s: %d instructions, table max %d", arch, len(prog), a.max)
		nr := func(name string) int32 {
			n, ok := a.syscalls[name]
			if !ok {
				t.Fatalf("%s has no %s", arch, name)
			}
			return int32(n)
		}
		native := func(name string, args ...uint64) seccompData {
			d := seccompData{nr: nr(name), arch: a.audit}
			copy(d.args[:], args)
			return d
		}
		cases := []struct {
			name string
			d    seccompData
			want uint32
		}{
			{"getpid", native("getpid"), retAllow},
			{"write", native("write", 1, 0, 10), retAllow},
			{"clone3", native("clone3"), retAllow},
			{"ptrace", native("ptrace"), retAllow},
			{"mount", native("mount"), retAllow},
			{"keyctl", native("keyctl"), retEPERM},
			{"add_key", native("add_key"), retEPERM},
			{"bpf", native("bpf"), retEPERM},
			{"perf_event_open", native("perf_event_open"), retEPERM},
			{"userfaultfd", native("userfaultfd"), retEPERM},
			{"open_by_handle_at", native("open_by_handle_at"), retEPERM},
			{"kexec_file_load", native("kexec_file_load"), retEPERM},
			{"finit_module", native("finit_module"), retEPERM},
			{"reboot", native("reboot"), retEPERM},
			{"syslog", native("syslog"), retEPERM},
			{"io_uring_setup", native("io_uring_setup"), retEPERM},
			{"ioctl TIOCSTI", native("ioctl", 0, unix.TIOCSTI), retEPERM},
			{"ioctl TIOCSTI high bits set", native("ioctl", 0, 0xdead_0000_0000|unix.TIOCSTI), retEPERM},
			{"ioctl TIOCLINUX", native("ioctl", 3, unix.TIOCLINUX), retEPERM},
			{"ioctl TIOCGWINSZ", native("ioctl", 0, unix.TIOCGWINSZ), retAllow},
			{"ioctl TIOCSTI as fd", native("ioctl", unix.TIOCSTI, unix.TCGETS), retAllow},
			{"personality query", native("personality", 0xffffffff), retAllow},
			{"personality PER_LINUX", native("personality", 0), retAllow},
			{"personality ADDR_NO_RANDOMIZE", native("personality", 0x40000), retAllow},
			{"personality READ_IMPLIES_EXEC", native("personality", 0x0400000), retEPERM},
			{"personality MMAP_PAGE_ZERO", native("personality", 0x0100000), retEPERM},
			{"beyond the table", seccompData{nr: int32(a.max + 1), arch: a.audit}, retENOSYS},
			{"far beyond the table", seccompData{nr: 1000, arch: a.audit}, retENOSYS},
			{"nr -1", seccompData{nr: -1, arch: a.audit}, retENOSYS},
			{"i386 getpid", seccompData{nr: 20, arch: auditI386}, retKillProcess},
			{"i386 keyctl", seccompData{nr: 288, arch: auditI386}, retKillProcess},
			{"arm getpid", seccompData{nr: 20, arch: auditARM}, retKillProcess},
			{"other arch's audit value", seccompData{nr: 39, arch: arches[otherArch(arch)].audit}, retKillProcess},
		}
		if arch == "amd64" {
			cases = append(cases,
				struct {
					name string
					d    seccompData
					want uint32
				}{"x32 keyctl", seccompData{nr: x32SyscallBit | 250, arch: a.audit}, retKillProcess},
				struct {
					name string
					d    seccompData
					want uint32
				}{"x32 getpid", seccompData{nr: x32SyscallBit | 39, arch: a.audit}, retKillProcess},
			)
		}
		for _, tc := range cases {
			if got := mustRun(t, prog, tc.d); got != tc.want {
				t.Errorf("%s %s: %#x, want %#x", arch, tc.name, got, tc.want)
			}
		}
		// Every syscall the table knows and the profile does not name is allowed.
		blocked := map[string]bool{}
		for _, s := range Default().Syscalls {
			for _, n := range s.Names {
				blocked[n] = true
			}
		}
		for name, n := range a.syscalls {
			if blocked[name] {
				continue
			}
			if got := mustRun(t, prog, seccompData{nr: int32(n), arch: a.audit}); got != retAllow {
				t.Errorf("%s %s: %#x, want allow", arch, name, got)
			}
		}
	}
}

func otherArch(arch string) string {
	if arch == "amd64" {
		return "arm64"
	}
	return "amd64"
}

// TestArgOperators checks every 64-bit comparison against Go's, at the
// edges where the high and low halves interact.
func TestArgOperators(t *testing.T) {
	edges := []uint64{0, 1, 0xfffffffe, 0xffffffff, 1 << 32, 1<<32 | 1, 1<<32 | 0xffffffff,
		0xffffffff_00000000, 0xffffffff_ffffffff, 0x12345678_9abcdef0}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		edges = append(edges, r.Uint64())
	}
	ref := map[Operator]func(a, v, v2 uint64) bool{
		OpEqualTo:      func(a, v, _ uint64) bool { return a == v },
		OpNotEqual:     func(a, v, _ uint64) bool { return a != v },
		OpLessThan:     func(a, v, _ uint64) bool { return a < v },
		OpLessEqual:    func(a, v, _ uint64) bool { return a <= v },
		OpGreaterThan:  func(a, v, _ uint64) bool { return a > v },
		OpGreaterEqual: func(a, v, _ uint64) bool { return a >= v },
		OpMaskedEqual:  func(a, v, v2 uint64) bool { return a&v == v2 },
	}
	for op, want := range ref {
		for _, v := range edges {
			v2 := v & 0x0000ffff_0000ff00
			p := &Profile{DefaultAction: ActAllow, Syscalls: []Syscall{{
				Names: []string{"getpid"}, Action: ActErrno,
				Args: []Arg{{Index: 2, Value: v, ValueTwo: v2, Op: op}},
			}}}
			prog := compileT(t, p, "amd64")
			for _, a := range edges {
				d := seccompData{nr: 39, arch: arches["amd64"].audit}
				d.args[2] = a
				got := mustRun(t, prog, d) == retEPERM
				if got != want(a, v, v2) {
					t.Errorf("%s: arg %#x value %#x valueTwo %#x: matched %v, want %v", op, a, v, v2, got, !got)
				}
			}
		}
	}
}

func TestCompileRules(t *testing.T) {
	errno := func(n uint32) *uint32 { return &n }
	amd := arches["amd64"]
	call := func(name string, args ...uint64) seccompData {
		d := seccompData{nr: int32(amd.syscalls[name]), arch: amd.audit}
		copy(d.args[:], args)
		return d
	}
	for _, tc := range []struct {
		name    string
		p       Profile
		caps    []string
		checks  map[string]uint32 // label -> want; label is "syscall" or "syscall arg1"
		inputs  map[string]seccompData
		wantErr string
	}{{
		name: "deny by default with errno, allow list, ENOSYS kept for unknown numbers",
		p: Profile{DefaultAction: ActErrno, DefaultErrnoRet: errno(38), Syscalls: []Syscall{
			{Names: []string{"read", "write", "s390_pci_mmio_read"}, Action: ActAllow},
			{Names: []string{"kill"}, Action: ActErrno, ErrnoRet: errno(13)},
		}},
		inputs: map[string]seccompData{"read": call("read"), "getpid": call("getpid"), "kill": call("kill"), "new": {nr: 600, arch: amd.audit}},
		checks: map[string]uint32{"read": retAllow, "getpid": 0x50000 | 38, "kill": 0x50000 | 13, "new": retENOSYS},
	}, {
		name: "several argument rules, AND within a rule, OR across rules, then the unconditional one",
		p: Profile{DefaultAction: ActAllow, Syscalls: []Syscall{
			{Names: []string{"socket"}, Action: ActAllow, Args: []Arg{{Index: 0, Value: 1, Op: OpEqualTo}}},
			{Names: []string{"socket"}, Action: ActAllow, Args: []Arg{{Index: 0, Value: 2, Op: OpEqualTo}, {Index: 1, Value: 3, Op: OpNotEqual}}},
			{Names: []string{"socket"}, Action: ActKillProcess},
		}},
		inputs: map[string]seccompData{"unix": call("socket", 1, 3), "inet": call("socket", 2, 1), "raw": call("socket", 2, 3), "netlink": call("socket", 16)},
		checks: map[string]uint32{"unix": retAllow, "inet": retAllow, "raw": retKillProcess, "netlink": retKillProcess},
	}, {
		name: "argument rules without an unconditional one fall back to the default",
		p: Profile{DefaultAction: ActLog, Syscalls: []Syscall{
			{Names: []string{"kill"}, Action: ActTrap, Args: []Arg{{Index: 1, Value: 9, Op: OpEqualTo}}},
		}},
		inputs: map[string]seccompData{"kill 9": call("kill", 1, 9), "kill 15": call("kill", 1, 15)},
		checks: map[string]uint32{"kill 9": 0x30000, "kill 15": 0x7ffc0000},
	}, {
		name: "includes and excludes",
		p: Profile{DefaultAction: ActErrno, Syscalls: []Syscall{
			{Names: []string{"getpid"}, Action: ActAllow},
			{Names: []string{"mount"}, Action: ActAllow, Includes: &Condition{Caps: []string{"CAP_SYS_ADMIN"}}},
			{Names: []string{"reboot"}, Action: ActAllow, Includes: &Condition{Arches: []string{"s390x"}}},
			{Names: []string{"kill"}, Action: ActAllow, Includes: &Condition{Arches: []string{"amd64"}, MinKernel: "4.8"}},
			{Names: []string{"tkill"}, Action: ActAllow, Includes: &Condition{MinKernel: "999.0"}},
			{Names: []string{"chroot"}, Action: ActAllow, Excludes: &Condition{Caps: []string{"sys_chroot"}}},
		}},
		caps:   []string{"SYS_ADMIN", "CAP_SYS_CHROOT"},
		inputs: map[string]seccompData{"mount": call("mount"), "reboot": call("reboot"), "kill": call("kill"), "tkill": call("tkill"), "chroot": call("chroot")},
		checks: map[string]uint32{"mount": retAllow, "reboot": retEPERM, "kill": retAllow, "tkill": retEPERM, "chroot": retEPERM},
	}, {
		name: "same unconditional action twice is fine",
		p: Profile{DefaultAction: ActAllow, Syscalls: []Syscall{
			{Names: []string{"bpf"}, Action: ActErrno}, {Names: []string{"bpf"}, Action: ActErrno},
		}},
		inputs: map[string]seccompData{"bpf": call("bpf")},
		checks: map[string]uint32{"bpf": retEPERM},
	}, {
		name: "conflicting unconditional actions: the first wins, as in libseccomp",
		p: Profile{DefaultAction: ActAllow, Syscalls: []Syscall{
			{Names: []string{"bpf"}, Action: ActErrno}, {Names: []string{"read", "bpf"}, Action: ActKill},
		}},
		inputs: map[string]seccompData{"bpf": call("bpf"), "read": call("read")},
		checks: map[string]uint32{"bpf": retEPERM, "read": 0},
	}, {
		name:    "profile without the native architecture",
		p:       Profile{DefaultAction: ActAllow, Architectures: []string{"SCMP_ARCH_AARCH64"}},
		wantErr: "architectures: does not list SCMP_ARCH_X86_64",
	}, {
		name: "docker archMap with the native architecture",
		p: Profile{DefaultAction: ActAllow, ArchMap: []ArchMap{{Arch: "SCMP_ARCH_X86_64", SubArch: []string{"SCMP_ARCH_X86"}}},
			Syscalls: []Syscall{{Names: []string{"bpf"}, Action: ActErrno}}},
		inputs: map[string]seccompData{"bpf": call("bpf"), "i386": {nr: 1, arch: 0x40000003}},
		checks: map[string]uint32{"bpf": retEPERM, "i386": retKillProcess},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Compile(&tc.p, "amd64", tc.caps)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for label, d := range tc.inputs {
				if got := mustRun(t, f.Program, d); got != tc.checks[label] {
					t.Errorf("%s: %#x, want %#x", label, got, tc.checks[label])
				}
			}
		})
	}
}

// TestLongBlock forces a syscall body past the 255-instruction reach of a
// conditional jump.
func TestLongBlock(t *testing.T) {
	p := &Profile{DefaultAction: ActAllow}
	for i := range 60 {
		p.Syscalls = append(p.Syscalls, Syscall{Names: []string{"ioctl"}, Action: ActErrno,
			Args: []Arg{{Index: 1, Value: uint64(1000 + i), Op: OpEqualTo}}})
	}
	p.Syscalls = append(p.Syscalls, Syscall{Names: []string{"bpf"}, Action: ActErrno})
	amd := arches["amd64"]
	prog := compileT(t, p, "amd64")
	if len(prog) < 300 {
		t.Fatalf("program of %d instructions does not exercise the long jump", len(prog))
	}
	for _, tc := range []struct {
		d    seccompData
		want uint32
	}{
		{seccompData{nr: int32(amd.syscalls["ioctl"]), arch: amd.audit, args: [6]uint64{0, 1059}}, retEPERM},
		{seccompData{nr: int32(amd.syscalls["ioctl"]), arch: amd.audit, args: [6]uint64{0, 2000}}, retAllow},
		{seccompData{nr: int32(amd.syscalls["bpf"]), arch: amd.audit}, retEPERM},
		{seccompData{nr: int32(amd.syscalls["read"]), arch: amd.audit}, retAllow},
	} {
		if got := mustRun(t, prog, tc.d); got != tc.want {
			t.Errorf("nr %d args %v: %#x, want %#x", tc.d.nr, tc.d.args[:2], got, tc.want)
		}
	}
}

func TestCompileUnsupportedArch(t *testing.T) {
	_, err := Compile(Default(), "riscv64", nil)
	if err == nil || !strings.Contains(err.Error(), `"riscv64" are not supported`) {
		t.Fatalf("error %v", err)
	}
}

func ExampleCompile() {
	f, err := Compile(Default(), "amd64", nil)
	fmt.Println(len(f.Program) > 0, err)
	// Output: true <nil>
}

func TestFilterJSONRoundTrip(t *testing.T) {
	f, err := Compile(Default(), NativeArch, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Flags = 2
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var g Filter
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("round trip changed the filter")
	}
	for _, bad := range []string{`{"program":""}`, `{"program":"AAAA"}`, `{"program":1}`} {
		if err := json.Unmarshal([]byte(bad), &g); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
