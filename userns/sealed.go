package userns

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// sealedCopy returns a memfd holding a copy of the binary at path, sealed
// against every change (runc's fix for CVE-2019-5736). An init executed
// from it has /proc/1/exe pointing at the memfd: a workload that reaches
// that link (it needs CAP_SYS_PTRACE, the init being non-dumpable) finds
// a file no one can write, and the binary on disk is out of its sight.
//
// Host side, in the supervisor. The copy costs a read of the binary
// (about 4.5 MiB): see SECURITY.md for when rbox pays it.
func sealedCopy(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer src.Close()
	const mfdExec = 0x10 // MFD_EXEC, Linux 6.3: executable even under vm.memfd_noexec=1
	fd, err := unix.MemfdCreate("rbox", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|mfdExec)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("rbox", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "rbox-sealed")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy %s into a memfd: %w", path, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	const fSealExec = 0x20 // F_SEAL_EXEC, Linux 6.3: the mode cannot change either
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals|fSealExec); err != nil {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
			f.Close()
			return nil, fmt.Errorf("seal the memfd copy of %s: %w", path, err)
		}
	}
	return f, nil
}
