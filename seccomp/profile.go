package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// Profile is the part of the OCI runtime-spec seccomp profile
// (config.json's linux.seccomp, or a docker/podman seccomp.json) that rbox
// supports. Semantics follow libseccomp's as runc applies them; where rbox
// differs, Compile says so.
type Profile struct {
	DefaultAction   Action  `json:"defaultAction"`
	DefaultErrnoRet *uint32 `json:"defaultErrnoRet,omitempty"`
	// DefaultErrno is containers/common's name for DefaultErrnoRet
	// ("ENOSYS"), as podman's seccomp.json carries both.
	DefaultErrno  string   `json:"defaultErrno,omitempty"`
	Architectures []string `json:"architectures,omitempty"`
	// ArchMap is docker's spelling of Architectures, grouped by native
	// architecture.
	ArchMap []ArchMap `json:"archMap,omitempty"`
	// Flags may hold SECCOMP_FILTER_FLAG_LOG and
	// SECCOMP_FILTER_FLAG_SPEC_ALLOW. TSYNC is refused: rbox filters one
	// thread on purpose.
	Flags []string `json:"flags,omitempty"`
	// ListenerPath must stay empty: rbox has no seccomp agent.
	ListenerPath     string    `json:"listenerPath,omitempty"`
	ListenerMetadata string    `json:"listenerMetadata,omitempty"`
	Syscalls         []Syscall `json:"syscalls,omitempty"`
}

// ArchMap is one entry of docker's archMap.
type ArchMap struct {
	Arch    string   `json:"architecture"`
	SubArch []string `json:"subArchitectures,omitempty"`
}

// Syscall is one rule: when the syscall is one of Names and every Args
// condition holds, Action is taken.
type Syscall struct {
	Names    []string `json:"names"`
	Action   Action   `json:"action"`
	ErrnoRet *uint32  `json:"errnoRet,omitempty"`
	// Errno is containers/common's name for ErrnoRet ("EPERM").
	Errno   string `json:"errno,omitempty"`
	Args    []Arg  `json:"args,omitempty"`
	Comment string `json:"comment,omitempty"`
	// Includes and Excludes are docker's conditions on a rule: it applies
	// only on the listed architectures, with the listed capabilities, or
	// from a minimum kernel version on.
	Includes *Condition `json:"includes,omitempty"`
	Excludes *Condition `json:"excludes,omitempty"`
}

// Arg compares one syscall argument (all 64 bits, as libseccomp does).
// For SCMP_CMP_MASKED_EQ, Value is the mask and ValueTwo the expected
// result.
type Arg struct {
	Index    uint     `json:"index"`
	Value    uint64   `json:"value"`
	ValueTwo uint64   `json:"valueTwo,omitempty"`
	Op       Operator `json:"op"`
}

// Condition is docker's includes/excludes object.
type Condition struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// Action is a runtime-spec action name such as SCMP_ACT_ERRNO.
type Action string

// Operator is a runtime-spec comparison name such as SCMP_CMP_EQ.
type Operator string

// The actions and operators a profile may use.
const (
	ActKill        Action = "SCMP_ACT_KILL" // kills the thread, as libseccomp
	ActKillThread  Action = "SCMP_ACT_KILL_THREAD"
	ActKillProcess Action = "SCMP_ACT_KILL_PROCESS"
	ActTrap        Action = "SCMP_ACT_TRAP"
	ActErrno       Action = "SCMP_ACT_ERRNO"
	ActTrace       Action = "SCMP_ACT_TRACE"
	ActLog         Action = "SCMP_ACT_LOG"
	ActAllow       Action = "SCMP_ACT_ALLOW"

	OpNotEqual     Operator = "SCMP_CMP_NE"
	OpLessThan     Operator = "SCMP_CMP_LT"
	OpLessEqual    Operator = "SCMP_CMP_LE"
	OpEqualTo      Operator = "SCMP_CMP_EQ"
	OpGreaterEqual Operator = "SCMP_CMP_GE"
	OpGreaterThan  Operator = "SCMP_CMP_GT"
	OpMaskedEqual  Operator = "SCMP_CMP_MASKED_EQ"
)

// seccomp return values (include/uapi/linux/seccomp.h).
var actionRet = map[Action]uint32{
	ActKill:        0x00000000,
	ActKillThread:  0x00000000,
	ActKillProcess: 0x80000000,
	ActTrap:        0x00030000,
	ActErrno:       0x00050000,
	ActTrace:       0x7ff00000,
	ActLog:         0x7ffc0000,
	ActAllow:       0x7fff0000,
}

var operators = map[Operator]bool{
	OpNotEqual: true, OpLessThan: true, OpLessEqual: true, OpEqualTo: true,
	OpGreaterEqual: true, OpGreaterThan: true, OpMaskedEqual: true,
}

var filterFlags = map[string]uintptr{
	"SECCOMP_FILTER_FLAG_LOG":        1 << 1,
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
}

const (
	maxProfileSize = 4 << 20
	maxErrno       = 4095
)

// LoadOCI reads a runtime-spec seccomp profile. Its errors say where in
// the profile the problem is: `syscalls[3].action: unknown action "X"`.
func LoadOCI(r io.Reader) (*Profile, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read seccomp profile: %w", err)
	}
	if len(data) > maxProfileSize {
		return nil, fmt.Errorf("seccomp profile is larger than %d MiB", maxProfileSize>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", jsonError(data, err))
	}
	if dec.More() {
		return nil, errors.New("seccomp profile: unexpected data after the JSON object")
	}
	if err := p.resolveErrnoNames(); err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	return &p, nil
}

// jsonError adds the line and column to a JSON error that has an offset.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var off int64
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
		if typ.Field != "" {
			return fmt.Errorf("%s: cannot be a JSON %s (line %s)", typ.Field, typ.Value, lineCol(data, off))
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("line %s: the JSON ends before the profile does", lineCol(data, int64(len(data))))
	default:
		return err
	}
	return fmt.Errorf("line %s: %w", lineCol(data, off), err)
}

func lineCol(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%d:%d", line, col)
}

// Validate checks what can be checked without choosing an architecture.
func (p *Profile) Validate() error {
	if p.DefaultAction == "" {
		return at("defaultAction", "missing")
	}
	if err := checkAction(p.DefaultAction, p.DefaultErrnoRet); err != nil {
		return prefix("defaultAction", err)
	}
	for i, a := range p.Architectures {
		if !ociArches[a] {
			return at(fmt.Sprintf("architectures[%d]", i), "unknown architecture %q", a)
		}
	}
	for i, m := range p.ArchMap {
		if !ociArches[m.Arch] {
			return at(fmt.Sprintf("archMap[%d].architecture", i), "unknown architecture %q", m.Arch)
		}
		for j, a := range m.SubArch {
			if !ociArches[a] {
				return at(fmt.Sprintf("archMap[%d].subArchitectures[%d]", i, j), "unknown architecture %q", a)
			}
		}
	}
	for i, f := range p.Flags {
		switch {
		case f == "SECCOMP_FILTER_FLAG_TSYNC":
			return at(fmt.Sprintf("flags[%d]", i), "%s is not supported: rbox filters only the thread that starts the workload", f)
		case filterFlags[f] == 0:
			return at(fmt.Sprintf("flags[%d]", i), "unsupported flag %q (rbox supports SECCOMP_FILTER_FLAG_LOG and SECCOMP_FILTER_FLAG_SPEC_ALLOW)", f)
		}
	}
	if p.ListenerPath != "" || p.ListenerMetadata != "" {
		return at("listenerPath", "seccomp user notification is not supported")
	}
	for i := range p.Syscalls {
		if err := p.Syscalls[i].validate(); err != nil {
			return prefix(fmt.Sprintf("syscalls[%d]", i), err)
		}
	}
	return nil
}

func (s *Syscall) validate() error {
	if len(s.Names) == 0 {
		return at("names", "empty")
	}
	for i, n := range s.Names {
		if !knownSyscalls[n] {
			return at(fmt.Sprintf("names[%d]", i), "unknown syscall %q", n)
		}
	}
	if s.Action == "" {
		return at("action", "missing")
	}
	if err := checkAction(s.Action, s.ErrnoRet); err != nil {
		return prefix("action", err)
	}
	if len(s.Args) > 6 {
		return at("args", "%d conditions; a syscall has 6 arguments", len(s.Args))
	}
	for i, a := range s.Args {
		if a.Index > 5 {
			return at(fmt.Sprintf("args[%d].index", i), "%d is out of range 0-5", a.Index)
		}
		if !operators[a.Op] {
			return at(fmt.Sprintf("args[%d].op", i), "unknown operator %q", a.Op)
		}
	}
	for _, c := range []struct {
		name string
		cond *Condition
	}{{"includes", s.Includes}, {"excludes", s.Excludes}} {
		if c.cond == nil {
			continue
		}
		for i, a := range c.cond.Arches {
			if archByDockerName(a) == "" {
				return at(fmt.Sprintf("%s.arches[%d]", c.name, i), "unknown architecture %q", a)
			}
		}
		if c.cond.MinKernel != "" {
			if _, err := parseKernel(c.cond.MinKernel); err != nil {
				return prefix(c.name+".minKernel", err)
			}
		}
	}
	return nil
}

func checkAction(a Action, errnoRet *uint32) error {
	if a == "SCMP_ACT_NOTIFY" {
		return errors.New("SCMP_ACT_NOTIFY is not supported: rbox has no seccomp agent")
	}
	if _, ok := actionRet[a]; !ok {
		return fmt.Errorf("unknown action %q", a)
	}
	if errnoRet != nil {
		if a != ActErrno && a != ActTrace {
			return fmt.Errorf("errnoRet %d is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s", *errnoRet, a)
		}
		if *errnoRet > maxErrno {
			return fmt.Errorf("errnoRet %d is out of range 0-%d", *errnoRet, maxErrno)
		}
	}
	return nil
}

// archByDockerName maps the short names of docker's includes.arches
// ("amd64", "x86_64", "arm64", "s390x", ...) to a normalized name.
func archByDockerName(a string) string {
	switch strings.ToLower(a) {
	case "amd64", "x86_64":
		return "amd64"
	case "arm64", "aarch64":
		return "arm64"
	case "x86", "386", "i386", "x32", "arm", "mips", "mipsel", "mips64", "mips64n32",
		"mipsel64", "mipsel64n32", "ppc", "ppc64", "ppc64le", "s390", "s390x",
		"parisc", "parisc64", "riscv64", "loong64", "loongarch64", "m68k", "sh", "sheb":
		return strings.ToLower(a)
	}
	return ""
}

// pathError places an error in the profile: `syscalls[3].action: ...`.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func at(path, format string, args ...any) error {
	return &pathError{path: path, err: fmt.Errorf(format, args...)}
}

// prefix puts where in front of err's path.
func prefix(where string, err error) error {
	var pe *pathError
	if errors.As(err, &pe) && pe == err {
		return &pathError{path: where + "." + pe.path, err: pe.err}
	}
	return &pathError{path: where, err: err}
}

// resolveErrnoNames fills errnoRet from containers/common's errno names
// where only the name is given, and refuses a name that contradicts the
// number.
func (p *Profile) resolveErrnoNames() error {
	resolve := func(where, name string, ret **uint32) error {
		if name == "" {
			return nil
		}
		v := errnoByName(name)
		if v == 0 {
			return at(where, "unknown errno name %q", name)
		}
		if *ret == nil {
			*ret = &v
		} else if **ret != v {
			return at(where, "%q is %d, but errnoRet says %d", name, v, **ret)
		}
		return nil
	}
	if err := resolve("defaultErrno", p.DefaultErrno, &p.DefaultErrnoRet); err != nil {
		return err
	}
	for i := range p.Syscalls {
		if err := resolve(fmt.Sprintf("syscalls[%d].errno", i), p.Syscalls[i].Errno, &p.Syscalls[i].ErrnoRet); err != nil {
			return err
		}
	}
	return nil
}

// errnoByName is the number of an errno name ("EPERM"), 0 if unknown.
func errnoByName(name string) uint32 {
	for e := unix.Errno(1); e <= maxErrno; e++ {
		if unix.ErrnoName(e) == name {
			return uint32(e)
		}
	}
	return 0
}
