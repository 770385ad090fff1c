package main

import (
	"math"
	"strings"
	"testing"
)

func TestIperfGbps(t *testing.T) {
	tests := []struct {
		name, in string
		want     float64
		wantErr  bool
	}{
		{"ok", `{"end":{"sum_received":{"bits_per_second":7.5e9}}}`, 7.5, false},
		{"error", `{"error":"unable to connect"}`, 0, true},
		{"no sum", `{"end":{}}`, 0, true},
		{"garbage", `iperf3: error`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := iperfGbps(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr || math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzIperfGbps(f *testing.F) {
	f.Add(`{"end":{"sum_received":{"bits_per_second":1e9}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		g, err := iperfGbps(strings.NewReader(in))
		if err == nil && (g < 0 || math.IsNaN(g)) {
			t.Fatalf("rate %v", g)
		}
	})
}
