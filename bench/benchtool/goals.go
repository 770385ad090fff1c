package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// parseFigures reads "key<TAB>number" lines, as the harness's sections
// append them. Later lines win; malformed lines are errors, since they mean
// a broken harness.
func parseFigures(r io.Reader) (map[string]float64, error) {
	fig := map[string]float64{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "\t")
		if !ok || k == "" {
			return nil, fmt.Errorf("figures line %d: want KEY<TAB>NUMBER, got %q", n, line)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("figures line %d: bad number %q", n, v)
		}
		fig[k] = f
	}
	return fig, sc.Err()
}

// goal compares num (divided by den when den is set, or less den with
// minus) with bound.
type goal struct {
	text     string
	num, den string
	atMost   bool // true: value <= bound; false: value >= bound
	bound    float64
	minus    bool // num - den rather than num / den
}

// goals are rbox's stated performance goals, in the figure keys the
// harness writes (bench/*.sh). Start latency uses medians.
var goals = []goal{
	{"start ≤ 1.2× bwrap (rbox, --idmap single)", "start.rbox-single.median_ms", "start.bwrap.median_ms", true, 1.2, false},
	{"start ≤ 1.2× bwrap (rbox, --idmap full)", "start.rbox-full.median_ms", "start.bwrap.median_ms", true, 1.2, false},
	{"start ≤ 1.5× unshare+chroot floor (rbox, --idmap single)", "start.rbox-single.median_ms", "start.floor.median_ms", true, 1.5, false},
	{"start ≤ 1.5× unshare+chroot floor (rbox, --idmap full)", "start.rbox-full.median_ms", "start.floor.median_ms", true, 1.5, false},
	{"start ≤ 0.5× crun (rbox, --idmap full; crun net of its wrapper)", "start.rbox-full.median_ms", "start.crun-net.median_ms", true, 0.5, false},
	{"net sandbox→host ≥ rootlesskit (slirp4netns)", "net.rbox-slirp.s2h.gbps", "net.rlk-slirp.s2h.gbps", false, 1, false},
	{"net host→sandbox ≥ rootlesskit (slirp4netns, builtin port driver)", "net.rbox-slirp.h2s.gbps", "net.rlk-slirp.h2s.gbps", false, 1, false},
	{"net sandbox→host ≥ pasta", "net.rbox-pasta.s2h.gbps", "net.pasta.s2h.gbps", false, 1, false},
	{"net host→sandbox ≥ pasta", "net.rbox-pasta.h2s.gbps", "net.pasta.h2s.gbps", false, 1, false},
	{"file workload ≤ 1.1× plain directory (rbox --overlay kernel)", "fs.rbox-kernel.median_ms", "fs.plain.median_ms", true, 1.1, false},
	{"file workload ≤ 1.1× plain directory (rbox --overlay fuse)", "fs.rbox-fuse.median_ms", "fs.plain.median_ms", true, 1.1, false},
	{"supervisor peak RSS < 10 MiB", "mem.rbox.supervisor.hwm_kib", "", true, 10 * 1024, false},
	{"init peak RSS < 10 MiB", "mem.rbox.init.hwm_kib", "", true, 10 * 1024, false},
	{"start independent of rootfs size (1 GB tree ÷ busybox ≤ 1.1)", "scale.rbox.big_over_small", "", true, 1.1, false},
	{"burst: every sandbox succeeds (failures)", "scale.burst.rbox.failed", "", true, 0, false},
	{"burst: nothing left behind (processes + state entries)", "scale.burst.rbox.leftover", "", true, 0, false},
	{"cold pull + unpack ≤ 0.8× podman pull (~100 MiB layer, median wall)", "image.pull.rbox.median_s", "image.pull.podman.median_s", true, 0.8, false},
	{"cold pull peak RSS ≤ 32 MiB (largest process)", "image.pull.rbox.maxrss_kib", "", true, 32 * 1024, false},
	{"warm exec --image (4 layers) ≤ 1.1× exec --rootfs (flattened)", "imgexec.rbox-image.median_ms", "imgexec.rbox-rootfs.median_ms", true, 1.1, false},
	{"second image on a shared base adds ≤ 0.1× the base (du of the store)", "image.share.added_over_base", "", true, 0.1, false},
	// Issue 18's targets.
	{"issue 18: start ≤ 2.0× bwrap (rbox, --idmap single)", "start.rbox-single.median_ms", "start.bwrap.median_ms", true, 2.0, false},
	{"issue 18: start ≤ 0.75× crun (rbox, --idmap single; crun net of its wrapper)", "start.rbox-single.median_ms", "start.crun-net.median_ms", true, 0.75, false},
	{"issue 18: start ≤ 1.6× unshare --map-auto (rbox, --idmap full)", "start.rbox-full.median_ms", "start.floor-mapauto.median_ms", true, 1.6, false},
	{"issue 18: --net slirp adds ≤ 5 ms to --net none (ms)", "start.rbox-slirp.median_ms", "start.rbox-full.median_ms", true, 5, true},
	{"issue 18: supervisor peak RSS ≤ 6 MiB", "mem.rbox.supervisor.hwm_kib", "", true, 6 * 1024, false},
	{"issue 18: init peak RSS ≤ 6 MiB", "mem.rbox.init.hwm_kib", "", true, 6 * 1024, false},
	// Issue 16's: rbox-runtime beside runc and crun, a container's whole
	// life driven directly (net of the driver), and podman run through each.
	{"issue 16: create+start+wait+delete ≤ 0.5× runc (rbox-runtime, net of the driver)", "runtime.rbox-net.median_ms", "runtime.runc-net.median_ms", true, 0.5, false},
	{"issue 16: create+start+wait+delete ≤ 1.0× crun (rbox-runtime, net of the driver; crun net of its wrapper)", "runtime.rbox-net.median_ms", "runtime.crun-net.median_ms", true, 1.0, false},
	{"issue 16: podman run --rm ≤ 0.5× with runc (runtime rbox-runtime; podman's own time included)", "runtime-podman.rbox.median_ms", "runtime-podman.runc.median_ms", true, 0.5, false},
	{"issue 16: podman run --rm ≤ 1.0× with crun (runtime rbox-runtime; podman's own time included)", "runtime-podman.rbox.median_ms", "runtime-podman.crun.median_ms", true, 1.0, false},
}

type verdict struct {
	value  float64
	have   bool
	met    bool
	detail string
}

func evaluate(g goal, fig map[string]float64) verdict {
	n, ok := fig[g.num]
	if !ok {
		return verdict{detail: "not measured (" + g.num + ")"}
	}
	v := n
	if g.den != "" {
		d, ok := fig[g.den]
		if !ok {
			return verdict{detail: "not measured (" + g.den + ")"}
		}
		switch {
		case g.minus:
			v = n - d
		case d <= 0:
			return verdict{detail: "reference is zero (" + g.den + ")"}
		default:
			v = n / d
		}
	}
	met := v >= g.bound
	if g.atMost {
		met = v <= g.bound
	}
	return verdict{value: v, have: true, met: met}
}

func goalsTable(w io.Writer, fig map[string]float64) {
	fmt.Fprint(w, "### goals\n\n| goal | measured | verdict |\n|---|--:|---|\n")
	for _, g := range goals {
		v := evaluate(g, fig)
		if !v.have {
			fmt.Fprintf(w, "| %s | – | %s |\n", g.text, v.detail)
			continue
		}
		verdict := "not met"
		if v.met {
			verdict = "met"
		}
		val := strconv.FormatFloat(v.value, 'f', 2, 64)
		if g.den == "" && v.value == math.Trunc(v.value) {
			val = strconv.FormatFloat(v.value, 'f', 0, 64)
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", g.text, val, verdict)
	}
	fmt.Fprintln(w)
}

func cmdGoals(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want one figures file, got %d arguments", len(args))
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	fig, err := parseFigures(f)
	if err != nil {
		return fmt.Errorf("%q: %w", args[0], err)
	}
	goalsTable(os.Stdout, fig)
	return nil
}
