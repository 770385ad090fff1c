package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// hfResult is the part of one hyperfine --export-json result we use. With
// -n NAME, hyperfine stores the name in "command".
type hfResult struct {
	Command string    `json:"command"`
	Times   []float64 `json:"times"`
}

// parseExport reads one hyperfine JSON export.
func parseExport(r io.Reader) ([]hfResult, error) {
	var doc struct {
		Results []hfResult `json:"results"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode hyperfine export: %w", err)
	}
	for _, res := range doc.Results {
		if res.Command == "" {
			return nil, errors.New("decode hyperfine export: result without a command name")
		}
		for _, t := range res.Times {
			if math.IsNaN(t) || math.IsInf(t, 0) || t < 0 {
				return nil, fmt.Errorf("decode hyperfine export: %q: bad time %v", res.Command, t)
			}
		}
	}
	return doc.Results, nil
}

// series holds one command's times (seconds), one slice per round.
type series struct {
	name   string
	rounds [][]float64
}

// merge groups the results of several rounds by command name, keeping the
// order in which names first appear.
func merge(rounds [][]hfResult) ([]string, map[string]*series) {
	var order []string
	by := map[string]*series{}
	for _, round := range rounds {
		for _, res := range round {
			s, ok := by[res.Command]
			if !ok {
				s = &series{name: res.Command}
				by[res.Command] = s
				order = append(order, res.Command)
			}
			if len(res.Times) > 0 {
				s.rounds = append(s.rounds, res.Times)
			}
		}
	}
	return order, by
}

// stats are in milliseconds.
type stats struct {
	n                     int
	median, min, mean, sd float64
	iqrRel, roundSpread   float64
	noisy                 bool
}

// Thresholds for calling a figure noisy: the rounds' medians disagree by
// more than roundNoise of the overall median, or the interquartile range is
// wider than iqrNoise of it.
const (
	roundNoise = 0.15
	iqrNoise   = 0.30
)

func summarize(s *series) stats {
	var all []float64
	var roundMedians []float64
	for _, r := range s.rounds {
		all = append(all, r...)
		roundMedians = append(roundMedians, quantile(sorted(r), 0.5))
	}
	if len(all) == 0 {
		return stats{}
	}
	x := sorted(all)
	st := stats{n: len(x), median: quantile(x, 0.5) * 1e3, min: x[0] * 1e3}
	var sum float64
	for _, v := range x {
		sum += v
	}
	mean := sum / float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	st.mean = mean * 1e3
	if len(x) > 1 {
		st.sd = math.Sqrt(ss/float64(len(x)-1)) * 1e3
	}
	med := quantile(x, 0.5)
	if med > 0 {
		st.iqrRel = (quantile(x, 0.75) - quantile(x, 0.25)) / med
		if len(roundMedians) > 1 {
			rm := sorted(roundMedians)
			st.roundSpread = (rm[len(rm)-1] - rm[0]) / med
		}
	}
	st.noisy = st.roundSpread > roundNoise || st.iqrRel > iqrNoise
	return st
}

func sorted(v []float64) []float64 {
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	return c
}

// quantile interpolates linearly in a sorted slice.
func quantile(x []float64, q float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(x)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return x[lo] + (x[hi]-x[lo])*(pos-float64(lo))
}

// row is one line of the table: measured, derived, or unavailable.
type row struct {
	name, label, reason string
	st                  stats
	derived             string // "A-B" when the row is a difference
	have                bool
}

// parseRows reads "name<TAB>label<TAB>reason" lines; an empty reason means
// the row ran.
func parseRows(r io.Reader) ([]row, error) {
	var rows []row
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		if f[0] == "" {
			return nil, fmt.Errorf("rows: empty name in %q", line)
		}
		rw := row{name: f[0], label: f[0]}
		if len(f) > 1 && f[1] != "" {
			rw.label = f[1]
		}
		if len(f) > 2 {
			rw.reason = f[2]
		}
		rows = append(rows, rw)
	}
	return rows, sc.Err()
}

// buildRows fills the rows of the rows file with measurements, appends
// measured commands the file does not list, and computes derived rows
// (subs maps a row name to "A,B", meaning A minus B).
func buildRows(listed []row, order []string, by map[string]*series, subs map[string]string) []row {
	seen := map[string]bool{}
	var out []row
	add := func(rw row) {
		if s, ok := by[rw.name]; ok && rw.reason == "" {
			rw.st, rw.have = summarize(s), true
		}
		seen[rw.name] = true
		out = append(out, rw)
	}
	for _, rw := range listed {
		add(rw)
	}
	for _, name := range order {
		if !seen[name] {
			add(row{name: name, label: name})
		}
	}
	subNames := make([]string, 0, len(subs))
	for name := range subs {
		subNames = append(subNames, name)
	}
	sort.Strings(subNames)
	for _, name := range subNames {
		if !seen[name] {
			out = append(out, row{name: name, label: name})
		}
	}
	idx := map[string]int{}
	for i, rw := range out {
		idx[rw.name] = i
	}
	for _, name := range subNames {
		expr := subs[name]
		a, b, ok := strings.Cut(expr, ",")
		ia, oka := idx[a]
		ib, okb := idx[b]
		i := idx[name]
		if !ok || !oka || !okb || !out[ia].have || !out[ib].have || out[i].reason != "" {
			if out[i].reason == "" {
				out[i].reason = "not available: needs " + strings.ReplaceAll(expr, ",", " and ")
			}
			continue
		}
		sa, sb := out[ia].st, out[ib].st
		out[i].st = stats{n: min(sa.n, sb.n), median: sa.median - sb.median, min: sa.min - sb.min,
			noisy: sa.noisy || sb.noisy}
		out[i].derived, out[i].have = expr, true
	}
	return out
}

// table prints the markdown table with one ratio column per reference row.
func table(w io.Writer, title string, rows []row, refs []string) {
	ref := map[string]stats{}
	for _, rw := range rows {
		if rw.have {
			ref[rw.name] = rw.st
		}
	}
	fmt.Fprintf(w, "### %s\n\n| row | median ms | min ms | mean ± sd ms | runs |", title)
	for _, r := range refs {
		fmt.Fprintf(w, " ÷ %s (med / min) |", r)
	}
	fmt.Fprint(w, " note |\n|---|--:|--:|--:|--:|")
	for range refs {
		fmt.Fprint(w, "--:|")
	}
	fmt.Fprint(w, "---|\n")
	for _, rw := range rows {
		if !rw.have {
			reason := rw.reason
			if reason == "" {
				reason = "no data"
			}
			fmt.Fprintf(w, "| %s | – | – | – | – |%s %s |\n", rw.label, strings.Repeat(" – |", len(refs)), reason)
			continue
		}
		st := rw.st
		meansd := fmt.Sprintf("%.2f ± %.2f", st.mean, st.sd)
		if rw.derived != "" {
			meansd = "–"
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %s | %d |", rw.label, st.median, st.min, meansd, st.n)
		for _, r := range refs {
			rs, ok := ref[r]
			if !ok || rs.median <= 0 || rs.min <= 0 {
				fmt.Fprint(w, " – |")
				continue
			}
			fmt.Fprintf(w, " %.2f / %.2f |", st.median/rs.median, st.min/rs.min)
		}
		fmt.Fprintf(w, " %s |\n", note(rw))
	}
	fmt.Fprintln(w)
}

func note(rw row) string {
	var parts []string
	if rw.derived != "" {
		a, b, _ := strings.Cut(rw.derived, ",")
		parts = append(parts, fmt.Sprintf("derived: %s − %s", a, b))
	}
	switch {
	case rw.st.noisy && rw.derived != "":
		parts = append(parts, "noisy (an input is)")
	case rw.st.noisy:
		parts = append(parts, fmt.Sprintf("noisy (round medians span %.0f%%, IQR %.0f%%)", rw.st.roundSpread*100, rw.st.iqrRel*100))
	}
	return strings.Join(parts, "; ")
}

func cmdHyperfine(args []string) error {
	fs := flag.NewFlagSet("hyperfine", flag.ContinueOnError)
	title := fs.String("title", "start latency", "table title")
	rowsFile := fs.String("rows", "", "rows file: name<TAB>label<TAB>reason per line")
	figures := fs.String("figures", "", "append name.median_ms and name.min_ms figures to this file")
	prefix := fs.String("prefix", "start", "figure key prefix")
	var refs, subs listFlag
	fs.Var(&refs, "ref", "reference row for a ratio column (repeatable)")
	fs.Var(&subs, "sub", "derived row NAME=A,B: median of A minus median of B (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var rounds [][]hfResult
	for _, p := range fs.Args() {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		res, err := parseExport(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%q: %w", p, err)
		}
		rounds = append(rounds, res)
	}
	var listed []row
	if *rowsFile != "" {
		f, err := os.Open(*rowsFile)
		if err != nil {
			return err
		}
		listed, err = parseRows(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%q: %w", *rowsFile, err)
		}
	}
	subMap := map[string]string{}
	for _, s := range subs {
		name, expr, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("-sub %q: want NAME=A,B", s)
		}
		subMap[name] = expr
	}
	order, by := merge(rounds)
	rows := buildRows(listed, order, by, subMap)
	table(os.Stdout, *title, rows, refs)
	if *figures != "" {
		f, err := os.OpenFile(*figures, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		for _, rw := range rows {
			if rw.have {
				fmt.Fprintf(f, "%s.%s.median_ms\t%.4f\n%s.%s.min_ms\t%.4f\n", *prefix, rw.name, rw.st.median, *prefix, rw.name, rw.st.min)
			}
		}
	}
	return nil
}
