package seccomp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// seccompData is struct seccomp_data as the kernel hands it to a filter.
type seccompData struct {
	nr   int32
	arch uint32
	ip   uint64
	args [6]uint64
}

// bytes lays the struct out little-endian, as on amd64 and arm64.
func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], uint32(d.nr))
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// run interprets a classic-BPF program the way the kernel runs a seccomp
// filter, for the instructions this compiler emits (loads of
// seccomp_data words, AND, conditional and unconditional forward jumps,
// returns). Anything else is an error: the compiler's tests use it to
// guard against emitting what the kernel would refuse, and Allows to ask
// what a compiled profile does to one call before anything starts.
// Classic BPF jumps only forward, so every run ends within len(prog)
// steps.
func run(prog []unix.SockFilter, d seccompData) (uint32, error) {
	data := d.bytes()
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if ins.K%4 != 0 || uint64(ins.K)+4 > uint64(len(data)) {
				return 0, fmt.Errorf("pc %d: load at %d outside seccomp_data", pc, ins.K)
			}
			acc = binary.LittleEndian.Uint32(data[ins.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= ins.K
		case unix.BPF_RET | unix.BPF_K:
			return ins.K, nil
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(ins.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var cond bool
			switch ins.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				cond = acc == ins.K
			case unix.BPF_JGT:
				cond = acc > ins.K
			case unix.BPF_JGE:
				cond = acc >= ins.K
			case unix.BPF_JSET:
				cond = acc&ins.K != 0
			}
			if cond {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		default:
			return 0, fmt.Errorf("pc %d: opcode %#x not expected in a seccomp filter", pc, ins.Code)
		}
		if pc+1 > len(prog) {
			return 0, fmt.Errorf("pc %d: jump past the end", pc)
		}
	}
	return 0, fmt.Errorf("fell off the end of the program")
}

// Allows says whether f lets the native-ABI syscall name through on
// goarch when called with args: its program returns SCMP_ACT_ALLOW or
// SCMP_ACT_LOG. Every other action stops the call (ERRNO, KILL, TRAP, and
// TRACE or NOTIFY as well, which fail with ENOSYS when nothing listens,
// as nothing does in rbox).
func (f Filter) Allows(goarch, name string, args ...uint64) (bool, error) {
	a, err := lookupArch(goarch)
	if err != nil {
		return false, err
	}
	nr, ok := a.syscalls[name]
	if !ok {
		return false, fmt.Errorf("no syscall %q on %s", name, goarch)
	}
	d := seccompData{nr: int32(nr), arch: a.audit}
	copy(d.args[:], args)
	ret, err := run(f.Program, d)
	if err != nil {
		return false, err
	}
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG:
		return true, nil
	}
	return false, nil
}
