package oci

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Real-time signals as the kernel numbers them (glibc reserves 32 and 33
// for itself and calls 34 SIGRTMIN; the kernel's range is 32-64, and
// `kill -l` numbers RTMIN+n from 34 as glibc does).
const (
	sigRTMin = 34
	sigRTMax = 64
)

// ParseSignal reads kill's signal argument as the engines pass it: a
// number (podman and containerd send "15", "9"), or a name with or
// without SIG in any case ("KILL", "SIGUSR1", "term"), or RTMIN+N /
// RTMAX-N.
func ParseSignal(s string) (unix.Signal, error) {
	if s == "" {
		return 0, fmt.Errorf("empty signal: give a number or a name such as TERM")
	}
	if n, err := strconv.Atoi(s); err == nil {
		// 0 signals nothing and tells whether the process is there, as
		// kill(2) does; runc takes it too.
		if n < 0 || n > sigRTMax {
			return 0, fmt.Errorf("signal %d is out of range 0-%d", n, sigRTMax)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	name = strings.TrimPrefix(name, "SIG")
	for _, rt := range []struct {
		prefix string
		base   int
		dir    int
	}{{"RTMIN", sigRTMin, 1}, {"RTMAX", sigRTMax, -1}} {
		rest, ok := strings.CutPrefix(name, rt.prefix)
		if !ok {
			continue
		}
		off := 0
		if rest != "" {
			sign := "+"
			if rt.dir < 0 {
				sign = "-"
			}
			digits, ok := strings.CutPrefix(rest, sign)
			n, err := strconv.Atoi(digits)
			if !ok || err != nil || n < 0 || digits != strconv.Itoa(n) {
				return 0, fmt.Errorf("unknown signal %q", s)
			}
			off = n
		}
		sig := rt.base + rt.dir*off
		if sig < sigRTMin || sig > sigRTMax {
			return 0, fmt.Errorf("signal %q is out of the real-time range", s)
		}
		return unix.Signal(sig), nil
	}
	if sig := unix.SignalNum("SIG" + name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q (give a number or a name such as TERM, KILL, USR1)", s)
}
