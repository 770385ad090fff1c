package hostcheck

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rbox-sandbox/rbox/cgroupv2"
)

// Host names everything the probes read. Default fills it for this
// process; tests point the paths at fixtures.
type Host struct {
	User     string // login name, matched in /etc/subuid with the uid
	UID, GID uint32

	SubUIDFile, SubGIDFile string
	// ProcSys is /proc/sys.
	ProcSys string
	// Path is the PATH in which newuidmap, fuse-overlayfs, slirp4netns
	// and pasta are looked up, as rbox exec looks them up.
	Path            string
	DevFuse, DevTun string
	// AppArmorLabel is the content of /proc/self/attr/current ("" when
	// AppArmor is off).
	AppArmorLabel string
	// Status and MountInfo are /proc/self/status and mountinfo: what an
	// outer container did (a seccomp filter, masks) shows there.
	Status, MountInfo string

	// Exe is the rbox binary that the real tries re-execute in helper
	// mode; "" skips the tries (unit tests).
	Exe string
	// Executable is rbox's installed path, for the AppArmor profile.
	Executable string
	// TempDir holds the throwaway layers of the overlay tries.
	TempDir string
	// DataDir is rbox's directory in $XDG_DATA_HOME: the image store
	// (images/) and the sandboxes' writable layers (sandboxes/); ""
	// skips probe store.
	DataDir string

	// Cgroup is how to reach the user's systemd; NoCgroup skips the
	// cgroup probes that read the real host (unit tests).
	Cgroup   cgroupv2.Env
	NoCgroup bool
	// Timeout bounds each real try.
	Timeout time.Duration
}

// Default describes this process's host; the caller passes what it read
// from its environment (PATH, TMPDIR, the bus variables).
func Default(path, tempDir string, env cgroupv2.Env) *Host {
	h := &Host{
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		SubUIDFile: "/etc/subuid", SubGIDFile: "/etc/subgid",
		ProcSys: "/proc/sys", Path: path,
		DevFuse: "/dev/fuse", DevTun: "/dev/net/tun",
		Exe: "/proc/self/exe", TempDir: tempDir,
		Cgroup: env, Timeout: 20 * time.Second,
	}
	h.User = strconv.Itoa(int(h.UID))
	if u, err := user.LookupId(h.User); err == nil {
		h.User = u.Username
	}
	if exe, err := os.Executable(); err == nil {
		h.Executable = exe
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		h.Status = string(b)
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		h.MountInfo = string(b)
	}
	if b, err := os.ReadFile("/proc/self/attr/current"); err == nil {
		h.AppArmorLabel = strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
	}
	return h
}

// Run runs every probe and derives the features.
func Run(ctx context.Context, h *Host) *Report {
	r := &Report{}
	add := func(res ...Result) { r.Probes = append(r.Probes, res...) }
	add(probeUserns(ctx, h))
	subuid, uidRanges := probeSubID(h, "subuid", h.SubUIDFile)
	subgid, gidRanges := probeSubID(h, "subgid", h.SubGIDFile)
	add(subuid, subgid)
	newuidmap, uhelper := probeHelper(h, "newuidmap")
	newgidmap, ghelper := probeHelper(h, "newgidmap")
	add(newuidmap, newgidmap)
	add(probeIDMap(ctx, h, r, uidRanges, gidRanges, uhelper, ghelper))
	add(probeOverlay(ctx, h, r))
	add(probeFuse(ctx, h, r))
	add(probeStore(ctx, h, r))
	add(probeSlirp(h), probeTun(h))
	add(probeCgroup(ctx, h)...)
	add(probePorts(h))
	add(probeSeccomp(ctx, h, r), probeProc(h), probeSys(h))
	r.summarize()
	return r
}

// lookPath finds an executable regular file named name in the PATH list.
func lookPath(name, path string) (string, bool) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// sysctl reads one value under ProcSys, e.g. "user/max_user_namespaces";
// ok is false when the file does not exist on this kernel.
func (h *Host) sysctl(name string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(h.ProcSys, name))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}
