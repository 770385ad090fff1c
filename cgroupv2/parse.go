package cgroupv2

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Unlimited is the value of a memory or pids limit that the user set to -1
// or "max": explicitly no limit.
const Unlimited int64 = -1

// CPUPeriod is the cpu.max period rbox uses, in microseconds: the kernel's
// and systemd's default, so that --cpus 0.5 reads "50000 100000" as it does
// under docker and podman.
const CPUPeriod int64 = 100000

// minCPUQuota is the kernel's smallest cpu.max quota (1 ms), so --cpus 0.01
// is the smallest accepted value.
const minCPUQuota int64 = 1000

// maxPids is PID_MAX_LIMIT: pids.max refuses anything larger.
const maxPids int64 = 4 << 20

// ParseError is a value the user typed that rbox cannot use. Its message is
// one line naming the flag, the value and the expected form.
type ParseError struct {
	Flag  string // "--memory"
	Value string // as typed
	Want  string // what would be accepted
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Flag, e.Value, e.Want)
}

const memoryWant = "use a number with an optional unit b, k, m or g (for example 64m), or -1 for no limit"

// ParseMemory parses a --memory value the way docker users type it: a
// decimal number (fractions allowed: 1.5g) with an optional binary unit
// b, k, m, g or t, each also accepted with a trailing "b" or "ib" and in any
// case (64m, 64M, 64MB, 64MiB); a bare number is bytes. "-1" and "max" mean
// no limit (Unlimited); 0 means no limit as well, as in docker. Fractions of
// a byte are dropped.
func ParseMemory(s string) (int64, error) {
	return parseBytes("--memory", s)
}

// ParseMemorySwap parses --memory-swap, which has docker's meaning: memory
// plus swap together, in the same forms as ParseMemory; -1 means unlimited
// swap. See Limits for how it becomes memory.swap.max.
func ParseMemorySwap(s string) (int64, error) {
	return parseBytes("--memory-swap", s)
}

// unitShift maps the accepted memory units to their power of two. All are
// binary, as in docker: "m", "mb" and "mib" all mean 2^20.
var unitShift = map[string]uint{
	"": 0, "b": 0,
	"k": 10, "kb": 10, "kib": 10,
	"m": 20, "mb": 20, "mib": 20,
	"g": 30, "gb": 30, "gib": 30,
	"t": 40, "tb": 40, "tib": 40,
}

func parseBytes(flag, s string) (int64, error) {
	bad := &ParseError{Flag: flag, Value: s, Want: memoryWant}
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "-1" || t == "max" {
		return Unlimited, nil
	}
	num, unit := splitNumber(t)
	if num == "" {
		return 0, bad
	}
	shift, ok := unitShift[unit]
	if !ok {
		return 0, bad
	}
	v, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, bad
	}
	v.Mul(v, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), shift)))
	n := new(big.Int).Quo(v.Num(), v.Denom()) // floor: v is never negative
	if !n.IsInt64() {
		return 0, &ParseError{Flag: flag, Value: s, Want: "the value is too large"}
	}
	return n.Int64(), nil
}

// splitNumber splits "1.5gb" into "1.5" and "gb". The number is digits with
// at most one dot and a digit on at least one side of it; anything else
// (signs, exponents, spaces, a second dot) makes num empty.
func splitNumber(t string) (num, unit string) {
	i, digits, dots := 0, 0, 0
	for ; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			goto done
		}
	}
done:
	if digits == 0 || dots > 1 {
		return "", ""
	}
	return t[:i], t[i:]
}

// CPUMax is a cpu.max setting: Quota microseconds of CPU time per Period
// microseconds. The zero value means no CPU limit.
type CPUMax struct {
	Quota  int64
	Period int64
}

// IsZero reports whether no CPU limit is set.
func (c CPUMax) IsZero() bool { return c.Quota == 0 }

// String is the cpu.max file content, "50000 100000".
func (c CPUMax) String() string {
	if c.IsZero() {
		return "max " + strconv.FormatInt(CPUPeriod, 10)
	}
	return strconv.FormatInt(c.Quota, 10) + " " + strconv.FormatInt(c.Period, 10)
}

// CPUs is the limit as a number of CPUs, 0.5 for "50000 100000".
func (c CPUMax) CPUs() float64 {
	if c.Period == 0 {
		return 0
	}
	return float64(c.Quota) / float64(c.Period)
}

const cpusWant = "use a positive number of CPUs, at least 0.01 (for example 0.5 or 2)"

// ParseCPUs parses --cpus, a positive decimal number of CPUs (0.5, 1, 2.25),
// into a cpu.max quota over a CPUPeriod period, rounded to the microsecond.
// It rejects 0 and negative values (docker reads 0 as "no limit", which hides
// typos; leave the flag out instead) and values under 0.01. Whether the host
// has that many CPUs is checked by Limits.Validate, not here.
func ParseCPUs(s string) (CPUMax, error) {
	bad := &ParseError{Flag: "--cpus", Value: s, Want: cpusWant}
	num, unit := splitNumber(strings.TrimSpace(s))
	if num == "" || unit != "" {
		return CPUMax{}, bad
	}
	v, ok := new(big.Rat).SetString(num)
	if !ok {
		return CPUMax{}, bad
	}
	// Refuse absurd values before they overflow the quota.
	if v.Cmp(big.NewRat(1<<20, 1)) > 0 {
		return CPUMax{}, &ParseError{Flag: "--cpus", Value: s, Want: "the value is too large"}
	}
	v.Mul(v, big.NewRat(CPUPeriod, 1))
	// Round half up: 0.000015 CPUs is 1.5 µs, which rounds to 2 µs.
	v.Add(v, big.NewRat(1, 2))
	q := new(big.Int).Quo(v.Num(), v.Denom()).Int64()
	if q < minCPUQuota {
		return CPUMax{}, bad
	}
	return CPUMax{Quota: q, Period: CPUPeriod}, nil
}

const pidsWant = "use a positive number of processes and threads (for example 100), or -1 for no limit"

// ParsePids parses --pids-limit: a positive integer, or -1 / "max" for no
// limit (Unlimited). 0 is refused: docker reads it as "no limit", which is
// more surprising than helpful in a sandbox. The limit counts threads too.
func ParsePids(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "-1" || t == "max" {
		return Unlimited, nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || strings.HasPrefix(t, "+") {
		return 0, &ParseError{Flag: "--pids-limit", Value: s, Want: pidsWant}
	}
	if n > maxPids {
		return 0, &ParseError{Flag: "--pids-limit", Value: s, Want: fmt.Sprintf("the kernel's maximum is %d", maxPids)}
	}
	return n, nil
}

// formatBytes writes a byte count the way users type it, for messages:
// 6291456 → "6m".
func formatBytes(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "t"}, {30, "g"}, {20, "m"}, {10, "k"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.name
		}
	}
	if n == math.MaxInt64 || n < 0 {
		return "max"
	}
	return strconv.FormatInt(n, 10)
}

// HumanBytes writes a byte count for people, in binary units as the
// kernel counts them: 67108864 → "64 MiB", 1610612736 → "1.5 GiB".
func HumanBytes(n int64) string {
	if n < 0 {
		return "unlimited"
	}
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	v := float64(n)
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[i]
}
