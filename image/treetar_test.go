package image

import (
	"strings"
	"testing"

	"github.com/rbox-sandbox/rbox/idmap"
)

func TestTreeIDs(t *testing.T) {
	full := idmap.Plan{
		UID:  []idmap.Mapping{{Inside: 0, Outside: 1000, Count: 1}, {Inside: 1, Outside: 100000, Count: 65536}},
		GID:  []idmap.Mapping{{Inside: 0, Outside: 1000, Count: 1}, {Inside: 1, Outside: 100000, Count: 65536}},
		Full: true,
	}
	cases := []struct {
		name string
		ids  TreeIDs
		host uint32
		gid  bool
		want uint32
		err  string // in the error; "" for none
	}{
		{"root's tree: root is root", TreeIDs{Plan: full}, 0, false, 0, ""},
		{"root's tree: a system uid stays", TreeIDs{Plan: full}, 100, false, 100, ""},
		{"root's tree: the last ID of the map", TreeIDs{Plan: full}, 65536, true, 65536, ""},
		{"root's tree: beyond the map", TreeIDs{Plan: full, User: "u"}, 65537, false, 0, "uid 65537, beyond your map of 65537 uids (0-65536): chown it below 65537, or give u a larger range"},
		{"root's tree: gid beyond", TreeIDs{Plan: full}, 70000, true, 0, "gid 70000"},
		{"own tree: the user is root", TreeIDs{Own: true, Plan: full}, 1000, false, 0, ""},
		{"own tree: a subordinate ID is its image ID", TreeIDs{Own: true, Plan: full}, 100999, false, 1000, ""},
		{"own tree: host root means nothing", TreeIDs{Own: true, Plan: full}, 0, false, 0, "neither you nor one of your subordinate IDs"},
		{"own tree: past the range", TreeIDs{Own: true, Plan: full}, 165536, true, 0, "gid 165536"},
		{"flat: anything", TreeIDs{Flat: true, Plan: idmap.Single(1000, 1000)}, 4000000, false, 4000000, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.ids.ID(c.host, c.gid)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one with %q", err, c.err)
			case c.err == "" && got != c.want:
				t.Fatalf("got %d, want %d", got, c.want)
			}
		})
	}
}
