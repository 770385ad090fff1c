package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// A small classic-BPF assembler: forward jumps to labels, resolved at the
// end. Conditional jumps reach at most 255 instructions; the emitter keeps
// them inside one syscall's block and crosses blocks with JA (32-bit).

type label int

// next means "the following instruction" (offset 0).
const next label = -1

type fixup struct {
	at     int
	jt, jf label // for JA: jt
}

type asm struct {
	prog   []unix.SockFilter
	labels []int // instruction index per label, -1 until bound
	fixups []fixup
}

func (a *asm) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

func (a *asm) bind(l label) { a.labels[l] = len(a.prog) }

// labelHere returns a label bound n instructions past the next one to
// be emitted.
func (a *asm) labelHere(n int) label {
	l := a.newLabel()
	a.labels[l] = len(a.prog) + 1 + n
	return l
}

func (a *asm) load(off uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off})
}

func (a *asm) and(k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: k})
}

func (a *asm) ret(k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k})
}

// jump emits "if A <op> k goto jt else goto jf"; op is BPF_JEQ, BPF_JGT,
// BPF_JGE or BPF_JSET.
func (a *asm) jump(op uint16, k uint32, jt, jf label) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), jt: jt, jf: jf})
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k})
}

func (a *asm) ja(l label) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), jt: l})
	a.prog = append(a.prog, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA})
}

func (a *asm) offset(from int, l label) (uint32, error) {
	if l == next {
		return 0, nil
	}
	to := a.labels[l]
	if to < 0 {
		return 0, fmt.Errorf("internal error: label %d never bound", l)
	}
	d := to - from - 1
	if d < 0 {
		return 0, fmt.Errorf("internal error: backward jump at instruction %d", from)
	}
	return uint32(d), nil
}

func (a *asm) finish() ([]unix.SockFilter, error) {
	for _, f := range a.fixups {
		ins := &a.prog[f.at]
		jt, err := a.offset(f.at, f.jt)
		if err != nil {
			return nil, err
		}
		if ins.Code == unix.BPF_JMP|unix.BPF_JA {
			ins.K = jt
			continue
		}
		jf, err := a.offset(f.at, f.jf)
		if err != nil {
			return nil, err
		}
		if jt > 255 || jf > 255 {
			return nil, fmt.Errorf("a syscall's argument rules are too long for one BPF jump (%d instructions); split them", max(jt, jf))
		}
		ins.Jt, ins.Jf = uint8(jt), uint8(jf)
	}
	if len(a.prog) > maxInsns {
		return nil, fmt.Errorf("the profile compiles to %d BPF instructions; the kernel accepts at most %d", len(a.prog), maxInsns)
	}
	return a.prog, nil
}

// emit lays out the whole program:
//
//	A = arch; if A != native: KILL_PROCESS
//	A = nr
//	if A > max: (amd64: x32 range → KILL_PROCESS) ENOSYS
//	per syscall: if A == nr { argument rules...; return its action }
//	return default
func emit(arch *archInfo, blocks []*block, defRet uint32) ([]unix.SockFilter, error) {
	var a asm
	killProcess := actionRet[ActKillProcess]
	enosys := actionRet[ActErrno] | errnoENOSYS

	nativeArch := a.newLabel()
	a.load(offArch)
	a.jump(unix.BPF_JEQ, arch.audit, nativeArch, next)
	a.ret(killProcess)
	a.bind(nativeArch)

	a.load(offNr)
	known := a.newLabel()
	a.jump(unix.BPF_JGT, arch.max, next, known)
	if arch.x32 {
		// [0x40000000, 0x80000000) is the x32 ABI; above is no syscall at
		// all (say, -1 from a tracer), for which ENOSYS is the kernel's answer.
		notX32 := a.newLabel()
		a.jump(unix.BPF_JGE, 0x80000000, notX32, next)
		a.jump(unix.BPF_JGE, x32SyscallBit, next, notX32)
		a.ret(killProcess)
		a.bind(notX32)
	}
	a.ret(enosys)
	a.bind(known)

	for _, b := range blocks {
		body, err := emitBlock(b, defRet)
		if err != nil {
			return nil, fmt.Errorf("syscall %q: %w", b.name, err)
		}
		skip := a.newLabel()
		if len(body) <= 255 {
			a.jump(unix.BPF_JEQ, b.nr, next, skip)
		} else {
			// JEQ reaches 255 instructions at most; JA takes 32 bits.
			a.jump(unix.BPF_JEQ, b.nr, a.labelHere(1), next)
			a.ja(skip)
		}
		// The body's jumps are relative and stay inside it.
		a.prog = append(a.prog, body...)
		a.bind(skip)
	}
	a.ret(defRet)
	return a.finish()
}

// emitBlock assembles one syscall's body: its argument rules in order,
// then its unconditional action or the default. Every path ends in a
// return.
func emitBlock(b *block, defRet uint32) ([]unix.SockFilter, error) {
	var a asm
	for _, r := range b.conds {
		fail := a.newLabel()
		for _, arg := range r.args {
			emitArg(&a, arg, fail)
		}
		a.ret(r.ret)
		a.bind(fail)
	}
	if b.uncond != nil {
		a.ret(b.uncond.ret)
	} else {
		a.ret(defRet)
	}
	return a.finish()
}

// emitArg falls through when the 64-bit comparison holds and jumps to fail
// when it does not. The high half decides unless it is equal.
func emitArg(a *asm, arg Arg, fail label) {
	lo := uint32(offArgs + 8*arg.Index)
	hi := lo + 4
	vLo, vHi := uint32(arg.Value), uint32(arg.Value>>32)
	match := a.newLabel()
	switch arg.Op {
	case OpEqualTo:
		a.load(hi)
		a.jump(unix.BPF_JEQ, vHi, next, fail)
		a.load(lo)
		a.jump(unix.BPF_JEQ, vLo, match, fail)
	case OpNotEqual:
		a.load(hi)
		a.jump(unix.BPF_JEQ, vHi, next, match)
		a.load(lo)
		a.jump(unix.BPF_JEQ, vLo, fail, match)
	case OpGreaterThan, OpGreaterEqual:
		a.load(hi)
		a.jump(unix.BPF_JGT, vHi, match, next)
		a.jump(unix.BPF_JEQ, vHi, next, fail)
		a.load(lo)
		op := uint16(unix.BPF_JGT)
		if arg.Op == OpGreaterEqual {
			op = unix.BPF_JGE
		}
		a.jump(op, vLo, match, fail)
	case OpLessThan, OpLessEqual:
		a.load(hi)
		a.jump(unix.BPF_JGT, vHi, fail, next)
		a.jump(unix.BPF_JEQ, vHi, next, match)
		a.load(lo)
		// a < v is !(a >= v); a <= v is !(a > v).
		op := uint16(unix.BPF_JGE)
		if arg.Op == OpLessEqual {
			op = unix.BPF_JGT
		}
		a.jump(op, vLo, fail, match)
	case OpMaskedEqual:
		wLo, wHi := uint32(arg.ValueTwo), uint32(arg.ValueTwo>>32)
		// A mask without high bits and a zero expected high half: the
		// high half cannot matter (the usual case: 32-bit flags, ioctl
		// request numbers). Skipping it is also what makes garbage in the
		// upper half of an int argument irrelevant.
		if vHi != 0 || wHi != 0 {
			a.load(hi)
			a.and(vHi)
			a.jump(unix.BPF_JEQ, wHi, next, fail)
		}
		a.load(lo)
		a.and(vLo)
		a.jump(unix.BPF_JEQ, wLo, match, fail)
	}
	a.bind(match)
}
