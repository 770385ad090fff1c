package attack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the hostile workload: copied into the image
// as /probe (it is static), it runs inside the sandbox, tries the attacks
// named on its command line with raw syscalls, and prints one line per
// attempt, "what: RESULT", RESULT being "ok" or the errno's name.
func init() {
	if !isProbe() || len(os.Args) < 2 {
		return
	}
	os.Exit(probe(os.Args[1], os.Args[2:]))
}

// isProbe: this binary runs as /probe, or as a copy named *probe
// (/sprobe, setuid; /fprobe, with file capabilities).
func isProbe() bool { return strings.HasSuffix(filepath.Base(os.Args[0]), "probe") }

func probe(what string, args []string) int {
	say := func(name string, err error) { fmt.Printf("%s: %s\n", name, errnoOf(err)) }
	switch what {
	case "sys": // sys NAME...: each forbidden syscall, with harmless arguments
		for _, name := range args {
			call, ok := syscalls[name]
			if !ok {
				fmt.Fprintln(os.Stderr, "unknown syscall probe", name)
				return 2
			}
			say(name, call())
		}
	case "read": // read FILE...: how many bytes can be read
		for _, p := range args {
			b, err := readSome(p)
			if err != nil {
				say(p, err)
				continue
			}
			fmt.Printf("%s: %d bytes\n", p, len(b))
		}
	case "ls": // ls DIR...: how many entries
		for _, p := range args {
			e, err := os.ReadDir(p)
			if err != nil {
				say(p, err)
				continue
			}
			fmt.Printf("%s: %d entries\n", p, len(e))
		}
	case "write": // write FILE...: open for writing and write a byte
		for _, p := range args {
			say(p, writeByte(p))
		}
	case "mount": // mount FSTYPE TARGET
		os.MkdirAll(args[1], 0o755)
		say("mount "+args[0], unix.Mount(args[0], args[1], args[0], 0, ""))
	case "umount": // umount TARGET...
		for _, p := range args {
			say("umount "+p, unix.Unmount(p, unix.MNT_DETACH))
		}
	case "remount-rw": // remount-rw TARGET: make a read-only mount writable
		say("remount "+args[0], unix.Mount("", args[0], "", unix.MS_REMOUNT|unix.MS_BIND, ""))
	case "caps": // the capability sets of this process
		st, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "CapPrm") || strings.HasPrefix(l, "CapEff") || strings.HasPrefix(l, "CapBnd") || strings.HasPrefix(l, "NoNewPrivs") || strings.HasPrefix(l, "Seccomp:") {
				fmt.Println(strings.Join(strings.Fields(l), " "))
			}
		}
	case "raise": // raise CAP: take back a capability the sandbox dropped
		n, _ := strconv.Atoi(args[0])
		capErr, ambErr := raise(n)
		say("capset", capErr)
		say("ambient", ambErr)
	case "chown": // chown FILE UID
		uid, _ := strconv.Atoi(args[1])
		say("chown "+args[1], unix.Chown(args[0], uid, uid))
	case "setuid": // setuid UID: become an unmapped uid
		uid, _ := strconv.Atoi(args[0])
		// On a locked thread that dies afterwards: the raw call changes
		// this thread only.
		done := make(chan error)
		go func() {
			runtime.LockOSThread()
			_, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid))
			done <- errOf(e)
		}()
		say("setuid "+args[0], <-done)
	case "mknod": // mknod PATH MAJOR MINOR: a character device
		maj, _ := strconv.Atoi(args[1])
		minor, _ := strconv.Atoi(args[2])
		say("mknod "+args[0], unix.Mknod(args[0], unix.S_IFCHR|0o666, int(unix.Mkdev(uint32(maj), uint32(minor)))))
	case "sethostname":
		say("sethostname", unix.Sethostname([]byte(args[0])))
	case "chroot-escape": // chroot-escape MARKER: the classic chroot breakout
		return chrootEscape(args[0])
	case "find-host": // find-host MARKER: every path toward the host's root
		findHost(args[0])
	case "fds": // the open descriptors and the working directory
		entries, _ := os.ReadDir("/proc/self/fd")
		var fds []string
		for _, e := range entries {
			fds = append(fds, e.Name())
		}
		cwd, _ := os.Getwd()
		fmt.Println(strings.Join(fds, " "), cwd)
	case "ptrace-init":
		say("ptrace 1", ptraceSeize(1))
	case "exe": // write the binaries behind /proc/self/exe and /proc/1/exe
		for _, p := range []string{"/proc/self/exe", "/proc/1/exe"} {
			say("write "+p, writeByte(p))
			fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				say("reopen "+p, err)
				continue
			}
			say("reopen "+p, writeByte("/proc/self/fd/"+strconv.Itoa(fd)))
			unix.Close(fd)
		}
		say("exec /proc/1/exe", unix.Exec("/proc/1/exe", []string{"rbox", "version"}, nil))
	case "kill": // kill PID...: SIGKILL, -1 for every process we may signal
		for _, a := range args {
			pid, _ := strconv.Atoi(a)
			say("kill "+a, unix.Kill(pid, unix.SIGKILL))
		}
	case "procs": // procs PID: how many processes we see, and whether PID is one
		entries, _ := os.ReadDir("/proc")
		n := 0
		for _, e := range entries {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				n++
			}
		}
		_, err := os.Stat("/proc/" + args[0] + "/cmdline")
		fmt.Printf("procs: %d\n", n)
		say("host pid "+args[0], err)
	case "abstract": // abstract NAME: connect to an abstract unix socket
		c, err := net.Dial("unix", "@"+args[0])
		if err == nil {
			io.WriteString(c, "escaped\n")
			c.Close()
		}
		say("connect", err)
	case "tcp": // tcp HOST:PORT: connect to a TCP service
		c, err := net.DialTimeout("tcp", args[0], 3*time.Second)
		if err == nil {
			io.WriteString(c, "escaped\n")
			c.Close()
		}
		say("connect", err)
	case "tty": // terminal injection on stdin: TIOCSTI, TIOCLINUX
		c := byte('x')
		_, _, e := unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
		say("TIOCSTI", errOf(e))
		sub := byte(2) // TIOCL_SELLOAD... any subcode: the ioctl itself is refused
		_, _, e = unix.Syscall(unix.SYS_IOCTL, 0, unix.TIOCLINUX, uintptr(unsafe.Pointer(&sub)))
		say("TIOCLINUX", errOf(e))
	case "nested": // nested: the same probes from a user namespace of our own
		return nested(args)
	case "x32":
		return x32()
	case "fill": // fill FILE MB
		mb, _ := strconv.Atoi(args[1])
		f, err := os.Create(args[0])
		if err != nil {
			say("create", err)
			return 0
		}
		buf := make([]byte, 1<<20)
		var werr error
		for i := 0; i < mb && werr == nil; i++ {
			_, werr = f.Write(buf)
		}
		f.Close()
		say("fill "+args[0], werr)
	case "chmod": // chmod FILE...
		for _, p := range args {
			say("chmod "+p, unix.Chmod(p, 0o777))
			say("chown "+p, unix.Chown(p, 0, 0))
		}
	case "setfcap": // setfcap FILE CAP perm|inh: give FILE a file capability
		n, _ := strconv.Atoi(args[1])
		// struct vfs_cap_data, revision 2: magic, then the permitted and
		// inheritable words of capabilities 0-31, then of 32-63.
		var d [20]byte
		binary.LittleEndian.PutUint32(d[0:], 0x02000000) // VFS_CAP_REVISION_2
		off := 4 + 8*(n/32)
		if args[2] == "inh" {
			off += 4
		}
		binary.LittleEndian.PutUint32(d[off:], 1<<(n%32))
		say("setfcap", unix.Setxattr(args[0], "security.capability", d[:], 0))
	case "ids":
		fmt.Printf("uid=%d euid=%d\n", unix.Getuid(), unix.Geteuid())
	case "hello":
		fmt.Println("hello")
	default:
		fmt.Fprintln(os.Stderr, "unknown probe", what)
		return 2
	}
	return 0
}

func errOf(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func errnoOf(err error) string {
	if err == nil {
		return "ok"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

func readSome(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

func writeByte(p string) error {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte("1"))
	return err
}

func sys(nr uintptr, a ...uintptr) error {
	var v [6]uintptr
	copy(v[:], a)
	r, _, e := unix.Syscall6(nr, v[0], v[1], v[2], v[3], v[4], v[5])
	if e == 0 && int(r) > 2 && nr != unix.SYS_KEYCTL && nr != unix.SYS_ADD_KEY {
		unix.Close(int(r)) // a descriptor the call returned
	}
	return errOf(e)
}

var cwdFD = unix.AT_FDCWD

func str(s string) uintptr { p, _ := unix.BytePtrFromString(s); return uintptr(unsafe.Pointer(p)) }

// syscalls are the calls the default seccomp profile refuses, each with
// arguments that would succeed (or fail for another reason) without it.
var syscalls = map[string]func() error{
	// The process keyring: created on demand, gone with the process, so
	// the opt-out run leaves nothing in the user's keyrings.
	"keyctl": func() error { // KEYCTL_GET_KEYRING_ID, creating it
		return sys(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffe), 1)
	},
	"add_key": func() error {
		return sys(unix.SYS_ADD_KEY, str("user"), str("rbox-probe"), str("x"), 1, uintptr(0xfffffffe))
	},
	"request_key": func() error {
		return sys(unix.SYS_REQUEST_KEY, str("user"), str("rbox-probe-none"), 0, 0)
	},
	"bpf": func() error { // BPF_MAP_CREATE of a one-element array
		attr := [12]uint32{2, 4, 4, 1}
		return sys(unix.SYS_BPF, 0, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	},
	"perf_event_open": func() error { // a software clock on ourselves, user space only
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Bits: unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
		attr.Size = uint32(unsafe.Sizeof(attr))
		return sys(unix.SYS_PERF_EVENT_OPEN, uintptr(unsafe.Pointer(&attr)), 0, ^uintptr(0), ^uintptr(0), 0)
	},
	"userfaultfd": func() error { // user-mode-only faults: allowed unprivileged since 5.11
		return sys(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|1 /* UFFD_USER_MODE_ONLY */)
	},
	"open_by_handle_at": func() error {
		h := make([]byte, 8+128)
		*(*uint32)(unsafe.Pointer(&h[0])) = 128
		var mnt int32
		// A tmpfs file: overlayfs hands out no handles without nfs_export.
		os.WriteFile("/dev/shm/probe", nil, 0o644)
		if err := sys(unix.SYS_NAME_TO_HANDLE_AT, uintptr(cwdFD), str("/dev/shm/probe"), uintptr(unsafe.Pointer(&h[0])), uintptr(unsafe.Pointer(&mnt)), 0); err != nil {
			return fmt.Errorf("name_to_handle_at: %w", err)
		}
		root, _ := unix.Open("/dev/shm", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		return sys(unix.SYS_OPEN_BY_HANDLE_AT, uintptr(root), uintptr(unsafe.Pointer(&h[0])), unix.O_RDONLY)
	},
	"kexec_load": func() error { return sys(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0) },
	"kexec_file_load": func() error {
		return sys(unix.SYS_KEXEC_FILE_LOAD, ^uintptr(0), ^uintptr(0), 1, str(""), 0x2 /* unload */)
	},
	"init_module":   func() error { return sys(unix.SYS_INIT_MODULE, 0, 0, str("")) },
	"finit_module":  func() error { return sys(unix.SYS_FINIT_MODULE, 0, str(""), 0) },
	"delete_module": func() error { return sys(unix.SYS_DELETE_MODULE, str("rbox_probe"), unix.O_NONBLOCK) },
	"reboot": func() error { // CAD_OFF: harmless; a pid namespace's init answers EINVAL
		return sys(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2, unix.LINUX_REBOOT_CMD_CAD_OFF)
	},
	"swapon":  func() error { return sys(unix.SYS_SWAPON, str("/tmp/probe-swap"), 0) },
	"swapoff": func() error { return sys(unix.SYS_SWAPOFF, str("/tmp/probe-swap")) },
	"acct":    func() error { return sys(unix.SYS_ACCT, str("/tmp/probe-acct")) },
	"io_uring_setup": func() error {
		var params [120]byte
		return sys(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params)))
	},
	"syslog": func() error { // SYSLOG_ACTION_SIZE_BUFFER
		return sys(unix.SYS_SYSLOG, 10, 0, 0)
	},
	"personality": func() error { // READ_IMPLIES_EXEC: executable data
		err := sys(unix.SYS_PERSONALITY, 0x0400000)
		sys(unix.SYS_PERSONALITY, 0)
		return err
	},
	"mount_tmpfs": func() error {
		os.MkdirAll("/tmp/probe-mnt", 0o755)
		err := unix.Mount("tmpfs", "/tmp/probe-mnt", "tmpfs", 0, "size=1m")
		unix.Unmount("/tmp/probe-mnt", unix.MNT_DETACH)
		return err
	},
}

// raise adds capability n to the permitted, effective and inheritable
// sets, then to the ambient set (which needs it in the first and the
// third), on a locked thread that dies afterwards: both are per thread.
func raise(n int) (capErr, ambErr error) {
	done := make(chan [2]error)
	go func() {
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- [2]error{err, err}
			return
		}
		bit := uint32(1) << (n % 32)
		data[n/32].Permitted |= bit
		data[n/32].Effective |= bit
		data[n/32].Inheritable |= bit
		c := unix.Capset(&hdr, &data[0])
		a := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0)
		done <- [2]error{c, a}
	}()
	r := <-done
	return r[0], r[1]
}

func ptraceSeize(pid int) error {
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // the tracer is a thread; it dies with this goroutine
		_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, 0, 0, 0)
		if e == 0 {
			unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(pid), 0, 0, 0, 0)
		}
		done <- errOf(e)
	}()
	return <-done
}

func chrootEscape(marker string) int {
	os.MkdirAll("/tmp/jail", 0o755)
	if err := unix.Chroot("/tmp/jail"); err != nil {
		fmt.Println("chroot:", errnoOf(err))
		return 0
	}
	// The cwd stayed outside the new root: climb from it, then chroot there.
	for i := 0; i < 64; i++ {
		unix.Chdir("..")
	}
	if err := unix.Chroot("."); err != nil {
		fmt.Println("chroot .:", errnoOf(err))
		return 0
	}
	_, err := os.Stat(marker)
	fmt.Println("escaped to the host:", err == nil)
	return 0
}

func findHost(marker string) {
	var routes []string
	for _, p := range []string{"/proc/1/root", "/proc/self/root", "/proc/1/cwd", "/proc/self/cwd", "/"} {
		routes = append(routes, p+marker, p+"/../../../.."+marker)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		routes = append(routes, p+"/root"+marker, p+"/cwd/../../../.."+marker)
		fds, _ := filepath.Glob(p + "/fd/*")
		for _, fd := range fds {
			routes = append(routes, fd+"/../../../.."+marker)
		}
	}
	for fd := 3; fd < 256; fd++ {
		routes = append(routes, fmt.Sprintf("/proc/self/fd/%d/../../../..%s", fd, marker))
	}
	found := 0
	for _, r := range routes {
		if _, err := os.Stat(r); err == nil {
			fmt.Println("found:", r)
			found++
		}
	}
	fmt.Printf("routes tried: %d, found: %d\n", len(routes), found)
}

// nested re-executes the probe in a user namespace of its own, with new
// mount and network namespaces, as root there, and runs the probe named
// in args from inside.
func nested(args []string) int {
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Args[0] = "probe"
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Not a new pid namespace: the sandbox's init stays in sight.
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	if err := cmd.Run(); err != nil {
		if cmd.ProcessState == nil {
			fmt.Println("nested user namespace:", errnoOf(err))
			return 0
		}
		fmt.Println("nested:", err)
	}
	return 0
}
