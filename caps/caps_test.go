package caps

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, names ...string) Set {
	t.Helper()
	s, err := Parse(names...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
		ok   bool
	}{
		{"CAP_CHOWN", 0, true},
		{"chown", 0, true},
		{"cap_sys_admin", 21, true},
		{"Sys_Admin", 21, true},
		{" NET_RAW ", 13, true},
		{"CAP_CHECKPOINT_RESTORE", 40, true},
		{"checkpoint_restore", 40, true},
		{"CAP_FOO", 0, false},
		{"", 0, false},
		{"CAP_", 0, false},
		{"ALL", 0, false},
	} {
		got, ok := Lookup(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	for n := 0; n <= Last; n++ {
		name, _ := Name(n)
		if got, ok := Lookup(name); !ok || got != n {
			t.Errorf("Lookup(Name(%d)=%q) = %d, %v", n, name, got, ok)
		}
	}
	if Last != 40 {
		t.Errorf("Last = %d, want 40 (CAP_CHECKPOINT_RESTORE)", Last)
	}
}

func TestDefault(t *testing.T) {
	want := "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_SETGID,CAP_SETUID," +
		"CAP_SETPCAP,CAP_NET_BIND_SERVICE,CAP_SYS_CHROOT,CAP_SETFCAP"
	if got := Default().String(); got != want {
		t.Errorf("Default() = %s\nwant        %s", got, want)
	}
}

func TestResolve(t *testing.T) {
	def := Default()
	for _, tc := range []struct {
		name       string
		add, drop  []string
		want       Set
		wantErr    string
		wantErrNot string
	}{
		{name: "defaults", want: def},
		{name: "add one", add: []string{"NET_RAW"}, want: def | mustParse(t, "NET_RAW")},
		{name: "add with prefix, lower case", add: []string{"cap_net_admin"}, want: def | mustParse(t, "NET_ADMIN")},
		{name: "add already there", add: []string{"CHOWN"}, want: def},
		{name: "drop one", drop: []string{"CAP_KILL"}, want: def &^ mustParse(t, "KILL")},
		{name: "drop one not there", drop: []string{"SYS_ADMIN"}, want: def},
		{name: "drop all", drop: []string{"ALL"}, want: 0},
		{name: "drop all lower case", drop: []string{"all"}, want: 0},
		{name: "drop all then add", drop: []string{"ALL"}, add: []string{"NET_BIND_SERVICE", "chown"}, want: mustParse(t, "NET_BIND_SERVICE", "CHOWN")},
		{name: "drop all and others", drop: []string{"KILL", "ALL"}, add: []string{"KILL"}, want: mustParse(t, "KILL")},
		{name: "add all", add: []string{"ALL"}, want: All},
		{name: "add all minus some", add: []string{"ALL"}, drop: []string{"SYS_ADMIN", "cap_bpf"}, want: All &^ mustParse(t, "SYS_ADMIN", "BPF")},
		{name: "add all and drop all", add: []string{"ALL"}, drop: []string{"ALL"}, wantErr: "--cap-add ALL and --cap-drop ALL contradict"},
		{name: "both lists", add: []string{"NET_RAW"}, drop: []string{"CAP_NET_RAW"}, wantErr: "CAP_NET_RAW is both in --cap-add and --cap-drop"},
		{name: "unknown add", add: []string{"CAP_FOO"}, wantErr: `unknown capability "CAP_FOO" in --cap-add (see capabilities(7))`},
		{name: "unknown drop", drop: []string{"bar"}, wantErr: `unknown capability "bar" in --cap-drop (see capabilities(7))`},
		{name: "empty name", add: []string{""}, wantErr: `unknown capability "" in --cap-add`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.add, tc.drop)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve(%q, %q) error = %v, want it to contain %q", tc.add, tc.drop, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q, %q): %v", tc.add, tc.drop, err)
			}
			if got != tc.want {
				t.Errorf("Resolve(%q, %q) = [%s]\nwant                [%s]", tc.add, tc.drop, got, tc.want)
			}
		})
	}
}

func TestParseAllAndUnknown(t *testing.T) {
	if got := mustParse(t, "all"); got != All || len(got.Names()) != Last+1 {
		t.Errorf("Parse(all) = %x", got)
	}
	if _, err := Parse("CAP_NOPE"); err == nil {
		t.Error("Parse(CAP_NOPE): no error")
	}
}

func FuzzResolve(f *testing.F) {
	f.Add("NET_RAW", "ALL")
	f.Add("ALL", "cap_kill")
	f.Add("chown", "")
	f.Fuzz(func(t *testing.T, add, drop string) {
		s, err := Resolve(strings.Split(add, ","), strings.Split(drop, ","))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		if s&^All != 0 {
			t.Errorf("set %x has bits beyond CAP_LAST", s)
		}
	})
}
