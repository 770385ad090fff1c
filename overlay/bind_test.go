package overlay

import (
	"strings"
	"testing"
)

const mountinfo = `22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:5 / /img/proc rw - proc proc rw
31 22 0:6 / /img/with\040space rw - tmpfs none rw
32 22 0:7 / /imgx rw - tmpfs none rw
33 22 0:8 / /img rw - tmpfs none rw
`

func TestMountsBelow(t *testing.T) {
	cases := []struct{ dir, want string }{
		{"/img", "/img/proc, /img/with space"},
		{"/img/", "/img/proc, /img/with space"},
		{"/imgx", ""},
		{"/none", ""},
		{"/", "/img/proc, /img/with space, /imgx and 1 more"},
	}
	for _, c := range cases {
		if got := mountsBelow(mountinfo, c.dir); got != c.want {
			t.Errorf("mountsBelow(%q) = %q, want %q", c.dir, got, c.want)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	cases := []struct{ in, want string }{
		{`/a`, "/a"},
		{`/a\040b`, "/a b"},
		{`/a\011b\012`, "/a\tb\n"},
		{`/a\134b`, `/a\b`},
		{`/a\04`, `/a\04`},
		{`/a\999`, `/a\999`},
		{`\`, `\`},
	}
	for _, c := range cases {
		if got := unescapeMountinfo(c.in); got != c.want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzMountsBelow: any mountinfo text (paths in it are the user's), any
// directory: no panic, and nothing named for a table without mounts.
func FuzzMountsBelow(f *testing.F) {
	f.Add(mountinfo, "/img")
	f.Add("1 2 3 4 \\", "/")
	f.Add("1 2 3 4 /a\\04", "/a")
	f.Fuzz(func(t *testing.T, info, dir string) {
		got := mountsBelow(info, dir)
		if strings.Count(info, "\n") == 0 && len(strings.Fields(info)) < 5 && got != "" {
			t.Errorf("mountsBelow(%q, %q) = %q from no mount", info, dir, got)
		}
	})
}
