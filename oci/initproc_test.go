package oci

import (
	"os"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rbox-sandbox/rbox/caps"
)

// A capability outside the bounding set cannot be granted: create
// refuses it, naming the set and the capability.
func TestCheckGrantable(t *testing.T) {
	noResource := caps.All &^ (1 << 24) // CAP_SYS_RESOURCE
	for _, c := range []struct {
		name     string
		c        *specs.LinuxCapabilities
		bounding caps.Set
		want     string // "" for no error
	}{
		{"none asked", nil, noResource, ""},
		{"all there", &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}, Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"}}, noResource, ""},
		{"all of all", &specs.LinuxCapabilities{Permitted: caps.All.Names()}, caps.All, ""},
		{"permitted missing", &specs.LinuxCapabilities{Permitted: []string{"CAP_KILL", "CAP_SYS_RESOURCE"}}, noResource, "process.capabilities.permitted: CAP_SYS_RESOURCE cannot be granted: not in the runtime's bounding set (it lacks CAP_SYS_RESOURCE)"},
		{"bounding missing", &specs.LinuxCapabilities{Bounding: []string{"CAP_SYS_RESOURCE"}}, noResource, "process.capabilities.bounding: CAP_SYS_RESOURCE"},
		{"ambient missing", &specs.LinuxCapabilities{Ambient: []string{"CAP_SYS_RESOURCE"}}, noResource, "process.capabilities.ambient: CAP_SYS_RESOURCE"},
		{"empty bounding", &specs.LinuxCapabilities{Effective: []string{"CAP_CHOWN"}}, 0, "process.capabilities.effective: CAP_CHOWN cannot be granted"},
	} {
		cs, err := parseCaps(c.c)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = checkGrantable(cs, c.bounding)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// The init's bounding set is the kernel's view of this process's:
// CapBnd of /proc/self/status.
func TestBoundingSet(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var want uint64
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:\t"); ok {
			if want, err = strconv.ParseUint(v, 16, 64); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := boundingSet(); uint64(got) != want&uint64(caps.All) {
		t.Fatalf("boundingSet %x, CapBnd %x", uint64(got), want)
	}
}
