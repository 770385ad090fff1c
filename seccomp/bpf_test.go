package seccomp

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func ins(code uint16, jt, jf uint8, k uint32) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

const (
	ldW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	retK = unix.BPF_RET | unix.BPF_K
	jeqK = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
)

// The interpreter by hand-written programs: each instruction it knows,
// and each way a program can be one the kernel would refuse.
func TestRun(t *testing.T) {
	d := seccompData{nr: 59, arch: 0xc000003e, args: [6]uint64{0x1_0000_0002, 7}}
	for _, tc := range []struct {
		name string
		prog []unix.SockFilter
		want uint32
		err  string
	}{
		{"ret", []unix.SockFilter{ins(retK, 0, 0, 42)}, 42, ""},
		{"load nr, jeq taken", []unix.SockFilter{ins(ldW, 0, 0, 0), ins(jeqK, 0, 1, 59), ins(retK, 0, 0, 1), ins(retK, 0, 0, 2)}, 1, ""},
		{"load arch, jeq not taken", []unix.SockFilter{ins(ldW, 0, 0, 4), ins(jeqK, 0, 1, 59), ins(retK, 0, 0, 1), ins(retK, 0, 0, 2)}, 2, ""},
		{"high half of arg 0", []unix.SockFilter{ins(ldW, 0, 0, 20), ins(jeqK, 0, 1, 1), ins(retK, 0, 0, 1), ins(retK, 0, 0, 2)}, 1, ""},
		{"jgt", []unix.SockFilter{ins(ldW, 0, 0, 24), ins(unix.BPF_JMP|unix.BPF_JGT|unix.BPF_K, 0, 1, 6), ins(retK, 0, 0, 1), ins(retK, 0, 0, 2)}, 1, ""},
		{"jge equal", []unix.SockFilter{ins(ldW, 0, 0, 24), ins(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, 0, 1, 7), ins(retK, 0, 0, 1), ins(retK, 0, 0, 2)}, 1, ""},
		{"jset clear", []unix.SockFilter{ins(ldW, 0, 0, 24), ins(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, 0, 1, 8), ins(retK, 0, 0, 1), ins(retK, 0, 0, 2)}, 2, ""},
		{"and", []unix.SockFilter{ins(ldW, 0, 0, 24), ins(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, 0, 0, 4), ins(jeqK, 0, 1, 4), ins(retK, 0, 0, 1), ins(retK, 0, 0, 2)}, 1, ""},
		{"ja", []unix.SockFilter{ins(unix.BPF_JMP|unix.BPF_JA, 0, 0, 1), ins(retK, 0, 0, 1), ins(retK, 0, 0, 2)}, 2, ""},
		{"load past seccomp_data", []unix.SockFilter{ins(ldW, 0, 0, 64), ins(retK, 0, 0, 1)}, 0, "outside seccomp_data"},
		{"load that wraps around", []unix.SockFilter{ins(ldW, 0, 0, 0xfffffffc), ins(retK, 0, 0, 1)}, 0, "outside seccomp_data"},
		{"unaligned load", []unix.SockFilter{ins(ldW, 0, 0, 2), ins(retK, 0, 0, 1)}, 0, "outside seccomp_data"},
		{"ja past the end", []unix.SockFilter{ins(unix.BPF_JMP|unix.BPF_JA, 0, 0, 0xffffffff), ins(retK, 0, 0, 1)}, 0, "past the end"},
		{"jeq past the end", []unix.SockFilter{ins(ldW, 0, 0, 0), ins(jeqK, 5, 5, 59), ins(retK, 0, 0, 1)}, 0, "past the end"},
		{"no return", []unix.SockFilter{ins(ldW, 0, 0, 0)}, 0, "fell off the end"},
		{"empty", nil, 0, "fell off the end"},
		{"opcode seccomp refuses", []unix.SockFilter{ins(unix.BPF_LD|unix.BPF_IMM, 0, 0, 1), ins(retK, 0, 0, 1)}, 0, "not expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := run(tc.prog, d)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("run = %#x, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("run = %#x, %v; want %#x", got, err, tc.want)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	for _, tc := range []struct {
		profile string
		name    string
		want    bool
	}{
		{`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}`, "execve", false},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}`, "execve", true},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_KILL"}]}`, "execve", false},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_TRAP"}]}`, "execve", false},
		{`{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["execve"],"action":"SCMP_ACT_LOG"}]}`, "execve", true},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]}]}`, "execve", true},
		{`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`, "execve", true},
	} {
		p, err := LoadOCI(strings.NewReader(tc.profile))
		if err != nil {
			t.Fatal(err)
		}
		for _, arch := range []string{"amd64", "arm64"} {
			f, err := Compile(p, arch, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Allows(arch, tc.name, 0x7ffc00001000, 0x7ffc00002000, 0x7ffc00003000)
			if err != nil || got != tc.want {
				t.Errorf("%s on %s: Allows(%s) = %v, %v; want %v", tc.profile, arch, tc.name, got, err, tc.want)
			}
		}
	}
	var f Filter
	if _, err := f.Allows("amd64", "no_such_call"); err == nil {
		t.Error("Allows(no_such_call): want an error")
	}
	// Default denies nothing a start needs.
	f, err := Compile(Default(), NativeArch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Allows(NativeArch, "execve", 1, 2, 3); !ok || err != nil {
		t.Errorf("the default profile: Allows(execve) = %v, %v", ok, err)
	}
}

// FuzzRun feeds the interpreter arbitrary programs and data: it must end,
// without a panic, in a return value or an error.
func FuzzRun(f *testing.F) {
	f.Add([]byte{6, 0, 0, 0, 0, 0, 0xff, 0x7f}, []byte{59, 0, 0, 0})
	f.Add([]byte{0x20, 0, 0, 0, 4, 0, 0, 0, 0x15, 0, 0, 1, 0x3e, 0, 0, 0xc0, 6, 0, 0, 0, 0, 0, 0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, code, data []byte) {
		prog := make([]unix.SockFilter, len(code)/8)
		for i := range prog {
			b := code[8*i:]
			prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])}
		}
		var d seccompData
		buf := make([]byte, 64)
		copy(buf, data)
		d.nr = int32(binary.LittleEndian.Uint32(buf))
		d.arch = binary.LittleEndian.Uint32(buf[4:])
		for i := range d.args {
			d.args[i] = binary.LittleEndian.Uint64(buf[16+8*i:])
		}
		run(prog, d)
	})
}
