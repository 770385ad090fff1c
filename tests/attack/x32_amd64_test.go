package attack

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// x32 makes getpid through the x32 ABI (bit 30 of the number), which a
// filter written for the native ABI alone would let through.
func x32() int {
	r, _, e := unix.RawSyscall(0x40000000|unix.SYS_GETPID, 0, 0, 0)
	fmt.Printf("x32 getpid: %d %s\n", r, errnoOf(errOf(e)))
	return 0
}
