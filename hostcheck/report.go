package hostcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Status is a probe's verdict.
type Status string

const (
	OK   Status = "ok"
	Fail Status = "fail"
	// Skip: the probe could not run because one it depends on failed.
	Skip Status = "skip"
)

// Result is one probe's line of the report.
type Result struct {
	// Name is the probe's stable name, used by the hints of rbox exec.
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail says what was found, in one line.
	Detail string `json:"detail"`
	// Fix is the exact remedy of a failure; it may span lines.
	Fix string `json:"fix,omitempty"`
}

func ok(name, format string, a ...any) Result {
	return Result{Name: name, Status: OK, Detail: fmt.Sprintf(format, a...)}
}

func fail(name, fix, format string, a ...any) Result {
	return Result{Name: name, Status: Fail, Detail: fmt.Sprintf(format, a...), Fix: fix}
}

func skip(name, format string, a ...any) Result {
	return Result{Name: name, Status: Skip, Detail: fmt.Sprintf(format, a...)}
}

// Feature says whether one capability of rbox works here, and if not,
// which probes say why.
type Feature struct {
	Name   string   `json:"name"`
	Works  bool     `json:"works"`
	How    string   `json:"how,omitempty"`    // e.g. which overlay driver
	Probes []string `json:"probes,omitempty"` // the failed probes behind "no"
}

// Report is the outcome of every probe.
type Report struct {
	Probes   []Result  `json:"probes"`
	Features []Feature `json:"features"`
	// ExecWorks: rbox exec with default flags works for this user.
	ExecWorks bool `json:"execWorks"`
}

// Get returns the probe named name, or a zero Result.
func (r *Report) Get(name string) Result {
	for _, p := range r.Probes {
		if p.Name == name {
			return p
		}
	}
	return Result{}
}

func (r *Report) ok(name string) bool { return r.Get(name).Status == OK }

// summarize derives the features from the probes.
func (r *Report) summarize() {
	// failed names the probes that failed, else those skipped.
	failed := func(names ...string) []string {
		var out, skipped []string
		for _, n := range names {
			switch r.Get(n).Status {
			case OK:
			case Skip:
				skipped = append(skipped, n)
			default:
				out = append(out, n)
			}
		}
		if len(out) == 0 {
			return skipped
		}
		return out
	}
	feature := func(name, how string, probes ...string) Feature {
		f := Feature{Name: name, Probes: failed(probes...)}
		f.Works = len(f.Probes) == 0
		if f.Works {
			f.How = how
		}
		return f
	}
	ovl := Feature{Name: "overlay"}
	switch {
	case r.ok("overlay"):
		ovl.Works, ovl.How = true, "kernel overlayfs"
		if r.ok("fuse") {
			ovl.How += " (fuse-overlayfs fallback ready)"
		}
	case r.ok("fuse"):
		ovl.Works, ovl.How = true, "fuse-overlayfs (kernel overlayfs refused)"
	case !r.ok("userns"):
		// Both tries need a user namespace: that is the one to fix.
		ovl.Probes = []string{"userns"}
	default:
		ovl.Probes = []string{"overlay", "fuse"}
	}
	exec := feature("exec", "", "userns")
	if exec.Works && !ovl.Works {
		exec.Works, exec.Probes = false, ovl.Probes
	}
	// The default network is slirp: without it, only --net none or host.
	if exec.Works && !(r.ok("slirp") && r.ok("tun")) {
		exec.Works, exec.Probes = false, failed("slirp", "tun")
	}
	if exec.Works && !r.ok("idmap") {
		exec.How = "with only your own ID mapped (root inside)"
	}
	limits := feature("limits", "", "cgroup", "controllers")
	if limits.Works {
		limits.How = r.Get("controllers").Detail
	}
	// Only the try decides: a small or shared range still maps.
	full := Feature{Name: "full ID map", Works: r.ok("idmap")}
	if full.Works {
		full.How = "your subordinate IDs, through newuidmap and newgidmap"
	} else {
		full.Probes = failed("subuid", "subgid", "newuidmap", "newgidmap", "idmap")
	}
	r.Features = []Feature{
		exec,
		full,
		ovl,
		feature("slirp", "", "slirp", "tun"),
		limits,
	}
	if r.Features[3].Works {
		if p := r.Get("slirp"); p.Detail != "" {
			r.Features[3].How = p.Detail
		}
	}
	r.ExecWorks = exec.Works
}

// WriteText prints the report for people: one line per probe, each fix
// indented below its probe, then the features.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	width := 0
	for _, p := range r.Probes {
		width = max(width, len(p.Name))
	}
	for _, p := range r.Probes {
		verdict := map[Status]string{OK: "ok", Fail: "not ok", Skip: "skip"}[p.Status]
		fmt.Fprintf(&b, "%-6s  %-*s  %s\n", verdict, width, p.Name, p.Detail)
		if p.Fix != "" {
			for i, l := range strings.Split(p.Fix, "\n") {
				lead := "fix:"
				if i > 0 {
					lead = ""
				}
				fmt.Fprintf(&b, "%*s%-4s %s\n", 8+width+2, "", lead, l)
			}
		}
	}
	b.WriteString("\nfeatures:\n")
	for _, f := range r.Features {
		v := "yes"
		if f.Works && f.How != "" {
			v += ": " + f.How
		}
		if !f.Works {
			v = "no (probe " + strings.Join(f.Probes, ", ") + ")"
		}
		fmt.Fprintf(&b, "  %-12s %s\n", f.Name, v)
	}
	if r.ExecWorks {
		b.WriteString("\nrbox exec works here with default flags.\n")
	} else {
		b.WriteString("\nrbox exec cannot work here yet: fix the probes named above.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
