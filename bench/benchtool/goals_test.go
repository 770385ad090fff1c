package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseFigures(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  bool
		want     map[string]float64
	}{
		{"ok", "a\t1.5\n# note\n\nb\t2\na\t3\n", false, map[string]float64{"a": 3, "b": 2}},
		{"no tab", "a 1\n", true, nil},
		{"nan", "a\tNaN\n", true, nil},
		{"not a number", "a\tfast\n", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFigures(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	fig := map[string]float64{"a": 12, "b": 10, "z": 0}
	tests := []struct {
		name string
		g    goal
		have bool
		met  bool
	}{
		{"ratio within", goal{num: "a", den: "b", atMost: true, bound: 1.2}, true, true},
		{"ratio over", goal{num: "a", den: "b", atMost: true, bound: 1.1}, true, false},
		{"at least", goal{num: "a", den: "b", bound: 1}, true, true},
		{"absolute", goal{num: "a", atMost: true, bound: 10}, true, false},
		{"missing", goal{num: "x", den: "b", atMost: true, bound: 1}, false, false},
		{"zero reference", goal{num: "a", den: "z", atMost: true, bound: 1}, false, false},
		{"difference within", goal{num: "a", den: "b", atMost: true, bound: 2, minus: true}, true, true},
		{"difference over", goal{num: "a", den: "b", atMost: true, bound: 1.5, minus: true}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := evaluate(tt.g, fig)
			if v.have != tt.have || v.met != tt.met {
				t.Errorf("got have %v met %v, want %v %v", v.have, v.met, tt.have, tt.met)
			}
		})
	}
	var b bytes.Buffer
	goalsTable(&b, map[string]float64{})
	if strings.Count(b.String(), "not measured") != len(goals) {
		t.Errorf("with no figures every goal should be unmeasured:\n%s", b.String())
	}
}

func FuzzParseFigures(f *testing.F) {
	f.Add("a\t1\nb\t2.5\n")
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = parseFigures(strings.NewReader(in))
	})
}
