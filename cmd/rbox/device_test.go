package main

import (
	"strings"
	"testing"
)

func TestParseLayerSize(t *testing.T) {
	for _, ok := range []string{"512m", "2g", "25%", "1048576", "64k"} {
		if _, err := parseLayerSize(ok); err != nil {
			t.Errorf("parseLayerSize(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0", "0g", "1.5g", "-1", "2gb", "m", "1g,nr_inodes=1"} {
		_, err := parseLayerSize(bad)
		if err == nil || !strings.Contains(err.Error(), "--layer-size") || strings.Contains(err.Error(), "\n") {
			t.Errorf("parseLayerSize(%q) = %v, want one line naming --layer-size", bad, err)
		}
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in, src, dst string
		bad          string // a word of the error
	}{
		{in: "/dev/null", src: "/dev/null", dst: "/dev/null"},
		{in: "/dev/null:/dev/mynull", src: "/dev/null", dst: "/dev/mynull"},
		{in: "/dev/null:/etc/x", bad: "under /dev"},
		{in: "/dev/null:/dev", bad: "under /dev"},
		{in: "dev/null", bad: "absolute"},
		{in: "/dev/shm", bad: "not a character device"},
		{in: "/dev/nonexistent-rbox", bad: "no such file"},
	}
	for _, tt := range tests {
		v, err := parseDevice(tt.in)
		if tt.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tt.bad) || !strings.Contains(err.Error(), "--device") {
				t.Errorf("parseDevice(%q) = %v, want an error naming --device and %q", tt.in, err, tt.bad)
			}
			continue
		}
		if err != nil || v.Source != tt.src || v.Target != tt.dst {
			t.Errorf("parseDevice(%q) = %+v, %v; want %s:%s", tt.in, v, err, tt.src, tt.dst)
		}
	}
}
