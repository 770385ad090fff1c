package idmap

import (
	"strings"
	"testing"
)

func TestCheckMapped(t *testing.T) {
	full := Plan{UID: []Mapping{{0, 1000, 1}, {1, 100000, 65536}}, GID: []Mapping{{0, 1000, 1}, {1, 100000, 65536}}, Full: true}
	single := Single(1000, 1000)
	cases := []struct {
		p    Plan
		kind string
		id   uint32
		want string
	}{
		{full, "uid", 0, ""},
		{full, "gid", 65536, ""},
		{full, "gid", 99999999, "gid 99999999 is not mapped in the sandbox, which maps gids 0-65536: use a gid below 65537"},
		{full, "uid", 65537, "uid 65537 is not mapped"},
		{single, "uid", 0, ""},
		{single, "gid", 5, "only gid 0 is (single ID map)"},
	}
	for _, c := range cases {
		err := CheckMapped(c.p, c.kind, c.id)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s %d: got %v, want %q", c.kind, c.id, err, c.want)
		}
		if c.kind == "gid" && err != nil && strings.Contains(err.Error(), "uids") {
			t.Errorf("a gid's message speaks of uids: %v", err)
		}
	}
}
