package overlay

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func seq(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

func TestPlanLowers(t *testing.T) {
	cases := []struct {
		name     string
		lowers   []int
		plus     bool
		opts     []string // key=value
		relative bool
		legacy   string // prefix; "" for none
		err      string
	}{
		{name: "one layer", lowers: []int{7}, opts: []string{"lowerdir=/proc/self/fd/7", "upperdir=/proc/self/fd/8", "workdir=/proc/self/fd/9"}},
		{name: "one layer, plus", lowers: []int{7}, plus: true, opts: []string{"lowerdir+=/proc/self/fd/7", "upperdir=/proc/self/fd/8", "workdir=/proc/self/fd/9"}},
		{name: "lowerdir+ each", lowers: []int{10, 11, 12}, plus: true,
			opts: []string{"lowerdir+=/proc/self/fd/10", "lowerdir+=/proc/self/fd/11", "lowerdir+=/proc/self/fd/12", "upperdir=/proc/self/fd/8", "workdir=/proc/self/fd/9"}},
		{name: "rootfs under the generated layer", lowers: []int{10, 11},
			opts: []string{"lowerdir=/proc/self/fd/10:/proc/self/fd/11", "upperdir=/proc/self/fd/8", "workdir=/proc/self/fd/9"}},
		// 15 names of /proc/self/fd/NN are 254 bytes; 16 are 271.
		{name: "absolute names' last fit", lowers: seq(10, 15),
			opts: []string{"lowerdir=" + strings.ReplaceAll("/proc/self/fd/"+join(seq(10, 15)), ":", ":/proc/self/fd/"), "upperdir=/proc/self/fd/8", "workdir=/proc/self/fd/9"}},
		{name: "short names, uppermost first", lowers: seq(10, 16), relative: true,
			opts: []string{"lowerdir=" + join(seq(10, 16)), "upperdir=/proc/self/fd/8", "workdir=/proc/self/fd/9"}},
		// 2-digit names: 85 of them are 254 bytes; 86 are 257.
		{name: "fsconfig's last fit", lowers: seq(10, 85), relative: true, opts: []string{"lowerdir=" + join(seq(10, 85)), "upperdir=/proc/self/fd/8", "workdir=/proc/self/fd/9"}},
		{name: "past 255 bytes: mount data", lowers: seq(10, 86), relative: true, legacy: "lowerdir=10:11:"},
		{name: "500 layers in mount data", lowers: seq(10, 500), relative: true, legacy: "lowerdir=10:11:"},
		{name: "501 layers", lowers: seq(10, 501), err: "more than overlayfs stacks (500)"},
		{name: "501 layers, plus", lowers: seq(10, 501), plus: true, err: "more than overlayfs stacks (500)"},
		{name: "mount data full", lowers: seq(10000000, 500), err: "do not fit one lowerdir option"},
		{name: "none", err: "no lower layer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := planLowers(c.lowers, 8, 9, c.plus)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range p.opts {
				got = append(got, o[0]+"="+o[1])
				if o[0] != "lowerdir+" && len(o[1]) > maxFsconfigString {
					t.Errorf("%s is %d bytes, more than fsconfig takes", o[0], len(o[1]))
				}
			}
			if strings.Join(got, ",") != strings.Join(c.opts, ",") {
				t.Errorf("options\n%q\nwant\n%q", got, c.opts)
			}
			if p.relative != c.relative {
				t.Errorf("relative %v", p.relative)
			}
			if c.legacy == "" && p.legacy != "" || !strings.HasPrefix(p.legacy, c.legacy) {
				t.Errorf("legacy data %q, want prefix %q", p.legacy, c.legacy)
			}
			if p.legacy != "" && (len(p.legacy) > maxMountData || !strings.HasSuffix(p.legacy, ",upperdir=/proc/self/fd/8,workdir=/proc/self/fd/9,userxattr")) {
				t.Errorf("legacy data of %d bytes: ...%q", len(p.legacy), p.legacy[len(p.legacy)-60:])
			}
		})
	}
}

func join(fds []int) string {
	s := make([]string, len(fds))
	for i, fd := range fds {
		s[i] = strconv.Itoa(fd)
	}
	return strings.Join(s, ":")
}

// TestMountPlans mounts each way of naming the layers for real (as root,
// in a mount namespace of this test's thread alone): the uppermost layer
// wins, every layer shows, writes go to the upper directory.
func TestMountPlans(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounts overlayfs: run as root (make unit)")
	}
	for _, c := range []struct {
		name   string
		layers int
		plus   bool
	}{{"lowerdir+", 3, true}, {"absolute names", 3, false}, {"short names", 40, false}, {"mount data", 120, false}} {
		t.Run(c.name, func(t *testing.T) {
			// The thread dies with its namespace. The descriptors are
			// opened inside it: overlayfs refuses layers of mounts of
			// another namespace ("failed to clone upperpath").
			runtime.LockOSThread()
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				t.Fatal(err)
			}
			unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
			dir := t.TempDir()
			var lowers []int
			for i := 0; i < c.layers; i++ {
				l := filepath.Join(dir, fmt.Sprint("l", i))
				os.Mkdir(l, 0o755)
				os.WriteFile(filepath.Join(l, fmt.Sprint("f", i)), nil, 0o644)
				os.WriteFile(filepath.Join(l, "top"), []byte(fmt.Sprint(i)), 0o644)
				fd, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fd)
				lowers = append(lowers, fd)
			}
			var dirs [3]int
			for i, n := range []string{"upper", "work", "merged"} {
				os.Mkdir(filepath.Join(dir, n), 0o755)
				fd, _ := unix.Open(filepath.Join(dir, n), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				defer unix.Close(fd)
				dirs[i] = fd
			}
			p, err := planLowers(lowers, dirs[0], dirs[1], c.plus)
			if err != nil {
				t.Fatal(err)
			}
			if c.layers > 100 && p.legacy == "" || c.layers == 40 && (!p.relative || p.legacy != "") {
				t.Fatalf("%d layers: plan %+v", c.layers, p)
			}
			merged := filepath.Join(dir, "merged")
			if err := mountPlan(p, Config{Lower: "l0", Upper: "upper", Lowers: make([]string, c.layers)}, merged); err != nil {
				t.Fatal(err)
			}
			defer unix.Unmount(merged, unix.MNT_DETACH)
			if b, err := os.ReadFile(filepath.Join(merged, "top")); err != nil || string(b) != "0" {
				t.Errorf("top: %q, %v; want the uppermost layer's", b, err)
			}
			for i := 0; i < c.layers; i++ {
				if _, err := os.Stat(filepath.Join(merged, fmt.Sprint("f", i))); err != nil {
					t.Errorf("layer %d: %v", i, err)
				}
			}
			os.WriteFile(filepath.Join(merged, "new"), nil, 0o644)
			if _, err := os.Stat(filepath.Join(dir, "upper", "new")); err != nil {
				t.Errorf("write through: %v", err)
			}
			if wd, _ := os.Getwd(); strings.HasPrefix(wd, "/proc") {
				t.Errorf("working directory left at %s", wd)
			}
		})
	}
}
