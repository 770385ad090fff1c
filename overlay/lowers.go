package overlay

import (
	"fmt"
	"strconv"
	"strings"
)

// The kernel's limits on naming lower layers (fs/fsopen.c, fs/overlayfs):
const (
	// fsconfig copies a string value with strndup_user(value, 256): 255
	// bytes and the NUL.
	maxFsconfigString = 255
	// mount(2) copies its data as one page: 4095 bytes and the NUL.
	maxMountData = 4095
	// OVL_MAX_STACK.
	maxLayers = 500
)

// lowerPlan is how the lower layers reach overlayfs: fsconfig options, or
// the data of a legacy mount(2) when even short names do not fit one
// fsconfig string.
type lowerPlan struct {
	opts [][2]string // fsconfig key, value; in order
	// relative: the values name descriptors relative to /proc/self/fd,
	// which must be the working directory while they are resolved.
	relative bool
	legacy   string
}

// planLowers names the layers (descriptors, uppermost first) and the
// upper and work directories for overlayfs. With plus (Linux 6.8+) each
// layer is its own lowerdir+, up to 500 of them. Without, a single
// lowerdir string takes them all: /proc/self/fd/N names while they fit
// fsconfig's 255 bytes (some 14 layers; a store path is ~90 bytes), then
// the descriptor numbers alone, relative to /proc/self/fd ("12:13:14", 3
// or 4 bytes a layer: some 60 layers), and beyond that mount(2)'s page
// takes them (all 500).
func planLowers(lowers []int, upper, work int, plus bool) (lowerPlan, error) {
	var p lowerPlan
	if len(lowers) == 0 {
		return p, fmt.Errorf("kernel overlay: no lower layer")
	}
	if len(lowers) > maxLayers {
		return p, fmt.Errorf("kernel overlay: %d layers, more than overlayfs stacks (%d)", len(lowers), maxLayers)
	}
	abs := func(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
	tail := [][2]string{{"upperdir", abs(upper)}, {"workdir", abs(work)}}
	if len(lowers) == 1 || plus {
		key := "lowerdir"
		if plus {
			key = "lowerdir+"
		}
		for _, fd := range lowers {
			p.opts = append(p.opts, [2]string{key, abs(fd)})
		}
		p.opts = append(p.opts, tail...)
		return p, nil
	}
	names := make([]string, len(lowers))
	for i, fd := range lowers {
		names[i] = abs(fd)
	}
	// A rootfs under the generated layer: two absolute names fit.
	if joined := strings.Join(names, ":"); len(joined) <= maxFsconfigString {
		p.opts = append([][2]string{{"lowerdir", joined}}, tail...)
		return p, nil
	}
	for i, fd := range lowers {
		names[i] = strconv.Itoa(fd)
	}
	joined := strings.Join(names, ":")
	p.relative = true
	if len(joined) <= maxFsconfigString {
		p.opts = append([][2]string{{"lowerdir", joined}}, tail...)
		return p, nil
	}
	p.legacy = "lowerdir=" + joined + ",upperdir=" + abs(upper) + ",workdir=" + abs(work) + ",userxattr"
	if len(p.legacy) > maxMountData {
		return lowerPlan{}, fmt.Errorf("kernel overlay: %d layers do not fit one lowerdir option (%d bytes, at most %d) on a kernel without lowerdir+ (Linux 6.8)", len(lowers), len(p.legacy), maxMountData)
	}
	return p, nil
}
