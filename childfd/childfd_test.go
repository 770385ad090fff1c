package childfd

import (
	"maps"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]int
		err  string
	}{
		{"", map[string]int{}, ""},
		{"sync:3", map[string]int{"sync": 3}, ""},
		{"exe:4,sync:3", map[string]int{"sync": 3, "exe": 4}, ""},
		{"sync", nil, `entry "sync": want NAME:NUMBER`},
		{"Sync:3", nil, `entry "Sync:3": want NAME:NUMBER`},
		{":3", nil, `want NAME:NUMBER`},
		{"sync:2", nil, `"2" is not a descriptor from 3`},
		{"sync:x", nil, `"x" is not a descriptor`},
		{"sync:99999999999999999999", nil, `is not a descriptor`},
		{"sync:3,sync:4", nil, `names "sync" twice`},
		{"sync:3,", nil, `entry "": want NAME:NUMBER`},
	} {
		got, err := Parse(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Parse(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// The table gives each file the number Add returned, in the variable the
// child reads, whatever else the environment holds.
func TestTableAttach(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var tab Table
	if n := tab.Add("read", r); n != 3 {
		t.Errorf("first file gets %d, want 3", n)
	}
	if n := tab.Add("write", w); n != 4 {
		t.Errorf("second file gets %d, want 4", n)
	}
	cmd := &exec.Cmd{Env: []string{Env + "=stale:9"}}
	tab.Attach(cmd)
	if len(cmd.ExtraFiles) != 2 || cmd.ExtraFiles[0] != r || cmd.ExtraFiles[1] != w {
		t.Errorf("ExtraFiles %v", cmd.ExtraFiles)
	}
	last := cmd.Env[len(cmd.Env)-1]
	if last != Env+"=read:3,write:4" {
		t.Errorf("variable %q", last)
	}
	t.Setenv(Env, strings.TrimPrefix(last, Env+"="))
	if fd, err := Lookup("write"); err != nil || fd != 4 {
		t.Errorf("Lookup(write) = %d, %v", fd, err)
	}
	if _, err := Lookup("sync"); err == nil || !strings.Contains(err.Error(), `no descriptor "sync"`) {
		t.Errorf("Lookup(sync) error %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("sync:3,exe:4")
	f.Add("a:3,a:3")
	f.Add("x:-1")
	f.Fuzz(func(t *testing.T, s string) {
		fds, err := Parse(s)
		if err != nil {
			return
		}
		// What parses formats back to a table that parses the same.
		again, err := Parse(strings.TrimPrefix(Var(fds), Env+"="))
		if err != nil || !maps.Equal(fds, again) {
			t.Fatalf("%q: %v then %v, %v", s, fds, again, err)
		}
	})
}
