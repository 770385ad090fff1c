package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestQuantile(t *testing.T) {
	tests := []struct {
		x    []float64
		q    float64
		want float64
	}{
		{[]float64{1}, 0.5, 1},
		{[]float64{1, 2}, 0.5, 1.5},
		{[]float64{1, 2, 3}, 0.5, 2},
		{[]float64{1, 2, 3, 4, 5}, 0.25, 2},
		{[]float64{1, 2, 3, 4}, 0, 1},
		{[]float64{1, 2, 3, 4}, 1, 4},
	}
	for _, tt := range tests {
		if got := quantile(tt.x, tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("quantile(%v, %v) = %v, want %v", tt.x, tt.q, got, tt.want)
		}
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing should be NaN")
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name   string
		rounds [][]float64
		median float64
		min    float64
		noisy  bool
	}{
		{"one round", [][]float64{{0.010, 0.0101, 0.0102}}, 10.1, 10, false},
		{"wide spread", [][]float64{{0.001, 0.002, 0.003}}, 2, 1, true},
		{"steady rounds", [][]float64{{0.010, 0.010}, {0.0101, 0.0101}}, 10.05, 10, false},
		{"rounds disagree", [][]float64{{0.010, 0.010}, {0.020, 0.020}}, 15, 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := summarize(&series{name: "x", rounds: tt.rounds})
			if math.Abs(st.median-tt.median) > 1e-9 || math.Abs(st.min-tt.min) > 1e-9 || st.noisy != tt.noisy {
				t.Errorf("got median %v min %v noisy %v, want %v %v %v", st.median, st.min, st.noisy, tt.median, tt.min, tt.noisy)
			}
		})
	}
}

func TestParseExport(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  bool
		n        int
	}{
		{"ok", `{"results":[{"command":"a","times":[0.1,0.2]},{"command":"b","times":[0.3]}]}`, false, 2},
		{"no name", `{"results":[{"command":"","times":[0.1]}]}`, true, 0},
		{"negative", `{"results":[{"command":"a","times":[-1]}]}`, true, 0},
		{"not json", `results`, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := parseExport(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr || len(res) != tt.n {
				t.Errorf("got %d results, err %v; want %d, error %v", len(res), err, tt.n, tt.wantErr)
			}
		})
	}
}

func TestTableRowsAndDerived(t *testing.T) {
	r1, _ := parseExport(strings.NewReader(`{"results":[{"command":"bwrap","times":[0.003,0.003]},{"command":"wrapped","times":[0.009]},{"command":"wrapper","times":[0.003]}]}`))
	r2, _ := parseExport(strings.NewReader(`{"results":[{"command":"wrapper","times":[0.003]},{"command":"bwrap","times":[0.003]},{"command":"wrapped","times":[0.009]}]}`))
	listed, err := parseRows(strings.NewReader("bwrap\tbwrap label\t\nnet\tnet of wrapper\t\nrbox\trbox label\tnot available: not built\n"))
	if err != nil {
		t.Fatal(err)
	}
	order, by := merge([][]hfResult{r1, r2})
	rows := buildRows(listed, order, by, map[string]string{"net": "wrapped,wrapper"})
	var b bytes.Buffer
	table(&b, "t", rows, []string{"bwrap"})
	out := b.String()
	for _, want := range []string{
		"| bwrap label | 3.00 | 3.00 | 3.00 ± 0.00 | 3 | 1.00 / 1.00 |",
		"| net of wrapper | 6.00 | 6.00 | – | 2 | 2.00 / 2.00 | derived: wrapped − wrapper |",
		"| rbox label | – | – | – | – | – | not available: not built |",
		"| wrapped | 9.00 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func FuzzParseExport(f *testing.F) {
	f.Add(`{"results":[{"command":"a","times":[0.1,0.2]}]}`)
	f.Add(`{"results":[]}`)
	f.Fuzz(func(t *testing.T, in string) {
		res, err := parseExport(strings.NewReader(in))
		if err != nil {
			return
		}
		_, by := merge([][]hfResult{res})
		for _, s := range by {
			st := summarize(s)
			if st.n > 0 && (st.min > st.median || math.IsNaN(st.median)) {
				t.Fatalf("min %v > median %v", st.min, st.median)
			}
		}
	})
}
