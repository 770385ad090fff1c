package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rbox-sandbox/rbox/sandbox"
)

func TestParseVolume(t *testing.T) {
	cases := []struct {
		in      string
		want    sandbox.Volume
		wantErr string
	}{
		{"/src:/dst", sandbox.Volume{Source: "/src", Target: "/dst"}, ""},
		{"/src:/dst/../x:ro", sandbox.Volume{Source: "/src", Target: "/x", ReadOnly: true}, ""},
		{"/src:/dst:rw", sandbox.Volume{Source: "/src", Target: "/dst"}, ""},
		{"nocolon", sandbox.Volume{}, "use SRC:DST"},
		{":/dst", sandbox.Volume{}, "empty host path"},
		{"/a:rel", sandbox.Volume{}, "must be absolute"},
		{"/a:/b:rx", sandbox.Volume{}, `unknown option "rx"`},
		{"/a:/b:ro:x", sandbox.Volume{}, "use SRC:DST"},
	}
	for _, c := range cases {
		got, err := parseVolume(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), c.in) {
				t.Errorf("%q: want error with %q naming the value, got %v", c.in, c.wantErr, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	wd, _ := os.Getwd()
	if v, _ := parseVolume("rel/dir:/x"); v.Source != filepath.Join(wd, "rel/dir") {
		t.Errorf("a relative source is taken from the current directory, got %q", v.Source)
	}
}

func TestParseTmpfs(t *testing.T) {
	cases := []struct {
		in      string
		want    sandbox.Tmpfs
		wantErr bool
	}{
		{"/tmp", sandbox.Tmpfs{Target: "/tmp"}, false},
		{"/tmp:size=64m,mode=1777", sandbox.Tmpfs{Target: "/tmp", Size: "64m", Mode: "1777"}, false},
		{"/tmp:size=50%", sandbox.Tmpfs{Target: "/tmp", Size: "50%"}, false},
		{"tmp", sandbox.Tmpfs{}, true},
		{"/tmp:size=big", sandbox.Tmpfs{}, true},
		{"/tmp:mode=999", sandbox.Tmpfs{}, true},
		{"/tmp:uid=0", sandbox.Tmpfs{}, true},
	}
	for _, c := range cases {
		got, err := parseTmpfs(c.in)
		if (err != nil) != c.wantErr || (!c.wantErr && got != c.want) {
			t.Errorf("%q: got %+v, %v", c.in, got, err)
		}
	}
}

func TestParseEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "HOSTVAR" {
			return "hv", true
		}
		return "", false
	}
	cases := []struct {
		in      string
		want    string
		set     bool
		wantErr bool
	}{
		{"A=1", "A=1", true, false},
		{"A=", "A=", true, false},
		{"A=b=c", "A=b=c", true, false},
		{"HOSTVAR", "HOSTVAR=hv", true, false},
		{"UNSET", "", false, false},
		{"=x", "", false, true},
		{"", "", false, true},
		{" A=1", "", false, true},
	}
	for _, c := range cases {
		got, set, err := parseEnv(c.in, lookup)
		if (err != nil) != c.wantErr || got != c.want || set != c.set {
			t.Errorf("%q: got %q %v %v", c.in, got, set, err)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	in := "# comment\n\n  A=1\nB=two words\nC=\"quoted\"\nHOSTVAR\nUNSET\n"
	got, err := parseEnvFile(strings.NewReader(in), "env", func(k string) (string, bool) {
		return "hv", k == "HOSTVAR"
	})
	want := []string{"A=1", "B=two words", `C="quoted"`, "HOSTVAR=hv"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	_, err = parseEnvFile(strings.NewReader("A=1\n=bad\n"), "env", nil)
	if err == nil || !strings.Contains(err.Error(), "env:2:") {
		t.Errorf("want an error naming env:2, got %v", err)
	}
}

func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{"/a:/b", "/a:/b:ro", "a:b:c:d", ":", "/a:/../..:rw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseVolume(s)
		if err != nil {
			return
		}
		if !filepath.IsAbs(v.Source) || !strings.HasPrefix(v.Target, "/") || strings.Contains(v.Target, "..") {
			t.Fatalf("accepted %q as %+v", s, v)
		}
	})
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add("A=1\n# c\n\nB\n")
	f.Add("=\n")
	f.Add("\x00=1")
	f.Fuzz(func(t *testing.T, s string) {
		env, err := parseEnvFile(strings.NewReader(s), "f", func(string) (string, bool) { return "v", true })
		if err != nil {
			return
		}
		for _, kv := range env {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" || strings.ContainsRune(kv, 0) {
				t.Fatalf("accepted %q", kv)
			}
		}
	})
}

func FuzzParseTmpfs(f *testing.F) {
	f.Add("/tmp:size=1m,mode=1777")
	f.Add("/x:")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTmpfs(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(tm.Size+tm.Mode, ",=") || !strings.HasPrefix(tm.Target, "/") {
			t.Fatalf("accepted %q as %+v", s, tm)
		}
	})
}
