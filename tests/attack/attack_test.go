package attack

import (
	"runtime"
	"strings"
	"testing"
)

// defaultCaps is podman's set as /proc/PID/status shows it.
const defaultCaps = "00000000800405fb"

// notOK is any refusal: the errno depends on which layer stops the attack
// first (seccomp, capabilities, a read-only mount, a mask, the kernel's
// own checks), and on the kernel: some lack /proc/kcore or sysrq.
const notOK = `(E[A-Z0-9]+)`

// attack is one probe under the default settings and, where an opt-out
// exists, again with it.
type attack struct {
	name  string
	flags []string // rbox flags of the default run (beyond the defaults)
	probe []string // /probe arguments
	want  string   // regexp for the whole stdout
	code  int      // exit status of the default run
	// optOut, when non-nil, reruns the probe with these flags, which must
	// change the outcome to optWant: proof that the probe really tries.
	optOut  []string
	optWant string
	arch    string // only on this GOARCH
}

var attacks = []attack{
	// seccomp: calls a sandbox never needs answer EPERM before the kernel
	// looks at them.
	{name: "keyctl", probe: []string{"sys", "keyctl", "add_key", "request_key"},
		want:   "keyctl: EPERM\nadd_key: EPERM\nrequest_key: EPERM\n",
		optOut: []string{"--seccomp", "unconfined"}, optWant: "keyctl: ok\nadd_key: ok\nrequest_key: ENOKEY\n"},
	{name: "bpf", probe: []string{"sys", "bpf"}, want: "bpf: EPERM\n"},
	{name: "perf_event_open", probe: []string{"sys", "perf_event_open"}, want: "perf_event_open: EPERM\n",
		optOut: []string{"--seccomp", "unconfined"}, optWant: "perf_event_open: ok\n"},
	{name: "userfaultfd", probe: []string{"sys", "userfaultfd"}, want: "userfaultfd: EPERM\n",
		optOut: []string{"--seccomp", "unconfined"}, optWant: "userfaultfd: ok\n"},
	{name: "io_uring", probe: []string{"sys", "io_uring_setup"}, want: "io_uring_setup: EPERM\n",
		optOut: []string{"--seccomp", "unconfined"}, optWant: "io_uring_setup: ok\n"},
	{name: "open_by_handle_at", probe: []string{"sys", "open_by_handle_at"}, want: "open_by_handle_at: EPERM\n"},
	{name: "kexec", probe: []string{"sys", "kexec_load", "kexec_file_load"}, want: "kexec_load: EPERM\nkexec_file_load: EPERM\n"},
	{name: "modules", probe: []string{"sys", "init_module", "finit_module", "delete_module"},
		want: "init_module: EPERM\nfinit_module: EPERM\ndelete_module: EPERM\n"},
	// In a pid namespace, reboot with CAP_SYS_BOOT ends the sandbox; the
	// harmless CAD_OFF then answers EINVAL from the kernel itself.
	{name: "reboot", probe: []string{"sys", "reboot"}, want: "reboot: EPERM\n",
		optOut: []string{"--seccomp", "unconfined", "--cap-add", "SYS_BOOT"}, optWant: "reboot: EINVAL\n"},
	{name: "swap", probe: []string{"sys", "swapon", "swapoff"}, want: "swapon: EPERM\nswapoff: EPERM\n"},
	{name: "acct", probe: []string{"sys", "acct"}, want: "acct: EPERM\n"},
	{name: "syslog", probe: []string{"sys", "syslog"}, want: "syslog: EPERM\n"},
	{name: "personality", probe: []string{"sys", "personality"}, want: "personality: EPERM\n",
		optOut: []string{"--seccomp", "unconfined"}, optWant: "personality: ok\n"},
	// The filter kills a process that enters through another ABI: rules
	// written for x86-64 numbers must not be bypassed with x32's.
	{name: "x32-abi", arch: "amd64", probe: []string{"x32"}, want: "", code: 128 + 31,
		optOut: []string{"--seccomp", "unconfined"}, optWant: "x32 getpid: [0-9]+ (ok|ENOSYS)\n"},
	// With a terminal of its own the workload still cannot push input.
	{name: "tty-injection", flags: []string{"-t"}, probe: []string{"tty"}, want: "TIOCSTI: EPERM\r\nTIOCLINUX: EPERM\r\n",
		optOut: []string{"-t", "--seccomp", "unconfined"}, optWant: "xTIOCSTI: ok\r\nTIOCLINUX: ENOTTY\r\n"},

	// /proc and /sys: masked, read-only, and no fresh instance.
	{name: "read-masked", probe: []string{"read", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/interrupts"},
		want: "/proc/kcore: (0 bytes|ENOENT)\n/proc/keys: (0 bytes|ENOENT)\n/proc/timer_list: (0 bytes|ENOENT)\n/proc/sched_debug: (0 bytes|ENOENT)\n/proc/interrupts: 0 bytes\n"},
	{name: "list-masked", probe: []string{"ls", "/sys/firmware", "/proc/acpi", "/proc/scsi"},
		want: "/sys/firmware: 0 entries\n/proc/acpi: (0 entries|ENOENT)\n/proc/scsi: (0 entries|ENOENT)\n"},
	{name: "write-kernel-knobs", flags: []string{"--cap-add", "ALL"},
		probe: []string{"write", "/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sys/kernel/hostname", "/sys/kernel/uevent_helper"},
		want:  "/proc/sysrq-trigger: " + notOK + "\n/proc/sys/kernel/core_pattern: " + notOK + "\n/proc/sys/vm/drop_caches: " + notOK + "\n/proc/sys/kernel/hostname: " + notOK + "\n/sys/kernel/uevent_helper: " + notOK + "\n"},
	// A fresh procfs or sysfs would show what the masks cover. Without
	// CAP_SYS_ADMIN no mount at all; given it (an opt-out that also lets
	// the workload unmount the masks, see SECURITY.md) the mount works.
	{name: "fresh-procfs", probe: []string{"mount", "proc", "/tmp/p"}, want: "mount proc: EPERM\n",
		optOut: []string{"--cap-add", "SYS_ADMIN"}, optWant: "mount proc: ok\n"},
	{name: "fresh-sysfs", probe: []string{"mount", "sysfs", "/tmp/s"}, want: "mount sysfs: EPERM\n",
		optOut: []string{"--cap-add", "SYS_ADMIN"}, optWant: "mount sysfs: ok\n"},
	{name: "unmount-masks", probe: []string{"umount", "/proc/sys", "/sys/firmware", "/proc/timer_list"},
		want:   "umount /proc/sys: EPERM\numount /sys/firmware: EPERM\numount /proc/timer_list: EPERM\n",
		optOut: []string{"--cap-add", "SYS_ADMIN"}, optWant: "umount /proc/sys: ok\numount /sys/firmware: ok\numount /proc/timer_list: ok\n"},
	{name: "remount-proc-sys-rw", probe: []string{"remount-rw", "/proc/sys"}, want: "remount /proc/sys: EPERM\n"},
	{name: "mount-tmpfs", probe: []string{"sys", "mount_tmpfs"}, want: "mount_tmpfs: EPERM\n",
		optOut: []string{"--cap-add", "SYS_ADMIN"}, optWant: "mount_tmpfs: ok\n"},

	// A nested user namespace gives its root every capability over what
	// it owns, and nothing over the sandbox's: even with CAP_SYS_ADMIN in
	// the sandbox, the masks are locked for it, so no fresh procfs or
	// sysfs; the init stays out of reach; devices stay impossible.
	{name: "nested-userns-procfs", flags: []string{"--cap-add", "SYS_ADMIN"}, probe: []string{"nested", "mount", "proc", "/tmp/p"}, want: "mount proc: EPERM\n"},
	{name: "nested-userns-sysfs", flags: []string{"--cap-add", "SYS_ADMIN"}, probe: []string{"nested", "mount", "sysfs", "/tmp/s"}, want: "mount sysfs: EPERM\n"},
	{name: "nested-userns-ptrace-init", probe: []string{"nested", "ptrace-init"}, want: "ptrace 1: EPERM\n"},
	{name: "nested-userns-mknod", probe: []string{"nested", "mknod", "/tmp/null", "1", "3"}, want: "mknod /tmp/null: EPERM\n"},
	{name: "nested-userns-keyctl", probe: []string{"nested", "sys", "keyctl"}, want: "keyctl: EPERM\n"},
	{name: "nested-userns-unmapped", probe: []string{"nested", "setuid", "1"}, want: "setuid 1: EINVAL\n"},

	// Capabilities: podman's set for root, none for other users, and no
	// way back.
	{name: "caps-root", probe: []string{"caps"},
		want:    "CapPrm: " + defaultCaps + "\nCapEff: " + defaultCaps + "\nCapBnd: " + defaultCaps + "\nNoNewPrivs: 1\nSeccomp: 2\n",
		optOut:  []string{"--cap-drop", "ALL", "--cap-add", "NET_RAW", "--seccomp", "unconfined", "--allow-new-privs"},
		optWant: "CapPrm: 0000000000002000\nCapEff: 0000000000002000\nCapBnd: 0000000000002000\nNoNewPrivs: 0\nSeccomp: 0\n"},
	{name: "caps-user", flags: []string{"-u", "1000"}, probe: []string{"caps"},
		want: "CapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: " + defaultCaps + "\nNoNewPrivs: 1\nSeccomp: 2\n"},
	{name: "raise-caps", probe: []string{"raise", "21"}, want: "capset: EPERM\nambient: EPERM\n",
		optOut: []string{"--cap-add", "SYS_ADMIN"}, optWant: "capset: ok\nambient: ok\n"},
	{name: "unmapped-ids", probe: []string{"chown", "/etc/passwd", "70000"}, want: "chown 70000: EINVAL\n"},
	{name: "setuid-unmapped", probe: []string{"setuid", "70000"}, want: "setuid 70000: EINVAL\n"},
	// Device nodes: no CAP_MKNOD, and a user namespace refuses them anyway.
	{name: "mknod", probe: []string{"mknod", "/dev/sda-probe", "8", "0"}, want: "mknod /dev/sda-probe: EPERM\n"},
	{name: "mknod-with-cap", flags: []string{"--cap-add", "MKNOD"}, probe: []string{"mknod", "/tmp/mem", "1", "1"}, want: "mknod /tmp/mem: EPERM\n"},
	{name: "hostname", probe: []string{"sethostname", "pwned"}, want: "sethostname: EPERM\n",
		optOut: []string{"--cap-add", "SYS_ADMIN"}, optWant: "sethostname: ok\n"},

	// Out of the root: chroot, /proc links, descriptors.
	{name: "chroot-escape", flags: []string{"--cap-add", "ALL"}, probe: []string{"chroot-escape", "@marker"}, want: "escaped to the host: false\n"},
	{name: "host-paths", probe: []string{"find-host", "@marker"}, want: "routes tried: [0-9]+, found: 0\n"},
	{name: "host-paths-all-caps", flags: []string{"--cap-add", "ALL", "--seccomp", "unconfined"}, probe: []string{"find-host", "@marker"}, want: "routes tried: [0-9]+, found: 0\n"},
	{name: "ptrace-init", probe: []string{"ptrace-init"}, want: "ptrace 1: EPERM\n",
		optOut: []string{"--cap-add", "SYS_PTRACE"}, optWant: "ptrace 1: ok\n"},
	{name: "exec-init-binary", probe: []string{"exe"},
		want: "write /proc/self/exe: ETXTBSY\nreopen /proc/self/exe: ETXTBSY\nwrite /proc/1/exe: EACCES\nreopen /proc/1/exe: EACCES\nexec /proc/1/exe: EACCES\n"},
	{name: "setuid-binary", flags: []string{"-u", "1000"}, probe: []string{"/sprobe", "ids"}, want: "uid=1000 euid=1000\n",
		optOut: []string{"-u", "1000", "--allow-new-privs"}, optWant: "uid=1000 euid=0\n"},
	// With --allow-new-privs a setuid-root binary is root again, but
	// with no more than the bounding set.
	{name: "setuid-binary-caps", flags: []string{"-u", "1000", "--allow-new-privs"}, probe: []string{"/sprobe", "caps"},
		want: "CapPrm: " + defaultCaps + "\nCapEff: " + defaultCaps + "\nCapBnd: " + defaultCaps + "\nNoNewPrivs: 0\nSeccomp: 2\n"},

	// Resources: tmpfs sizes hold.
	{name: "fill-dev-shm", probe: []string{"fill", "/dev/shm/f", "80"}, want: "fill /dev/shm/f: ENOSPC\n"},
	{name: "fill-tmpfs", flags: []string{"--tmpfs", "/t:size=2m"}, probe: []string{"fill", "/t/f", "3"}, want: "fill /t/f: ENOSPC\n"},
}

func TestAttacks(t *testing.T) {
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			if a.arch != "" && a.arch != runtime.GOARCH {
				t.Skipf("only on %s", a.arch)
			}
			cmd := a.probe
			if !strings.HasPrefix(cmd[0], "/") {
				cmd = append([]string{"/probe"}, cmd...)
			}
			for i, s := range cmd {
				if s == "@marker" {
					cmd[i] = marker
				}
			}
			expect(t, box(t, a.flags, cmd...), a.code, a.want)
			assertHostUnchanged(t)
			if a.optOut != nil {
				expect(t, box(t, a.optOut, cmd...), 0, a.optWant)
				assertHostUnchanged(t)
			}
		})
	}
}

func runtimeArch() string { return runtime.GOARCH }
