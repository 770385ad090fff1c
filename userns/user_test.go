package userns

import (
	"reflect"
	"strings"
	"testing"
)

const passwd = `root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
broken line
bad:x:notanumber:1:x:/x:/bin/sh
nohome:x:1001:1001:x::/bin/sh
`

const group = `root:x:0:
wheel:x:10:user,other
users:x:100:user
user:x:1000:
`

func TestResolveUser(t *testing.T) {
	pw, gr := parsePasswd(strings.NewReader(passwd)), parseGroup(strings.NewReader(group))
	cases := []struct {
		spec    string
		want    execUser
		wantErr string
	}{
		{"", execUser{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root"}, ""},
		{"user", execUser{UID: 1000, GID: 1000, Groups: []uint32{1000, 10, 100}, Home: "/home/user"}, ""},
		{"1000", execUser{UID: 1000, GID: 1000, Groups: []uint32{1000, 10, 100}, Home: "/home/user"}, ""},
		{"user:users", execUser{UID: 1000, GID: 100, Groups: []uint32{100}, Home: "/home/user"}, ""},
		{"1000:5", execUser{UID: 1000, GID: 5, Groups: []uint32{5}, Home: "/home/user"}, ""},
		{"4242", execUser{UID: 4242, GID: 0, Home: "/"}, ""},
		{"nohome", execUser{UID: 1001, GID: 1001, Groups: []uint32{1001}, Home: "/"}, ""},
		{"ghost", execUser{}, `user "ghost" not found`},
		{"user:ghosts", execUser{}, `group "ghosts" not found`},
		{"bad", execUser{}, `user "bad" not found`},
	}
	for _, c := range cases {
		got, err := resolveUser(c.spec, pw, gr)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: want %q, got %v", c.spec, c.wantErr, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v, %v; want %+v", c.spec, got, err, c.want)
		}
	}
}

func FuzzResolveUser(f *testing.F) {
	f.Add(passwd, group, "user:users")
	f.Add("a:b:c", "::::", "1:2")
	f.Fuzz(func(t *testing.T, pwText, grText, spec string) {
		pw, gr := parsePasswd(strings.NewReader(pwText)), parseGroup(strings.NewReader(grText))
		u, err := resolveUser(spec, pw, gr)
		if err == nil && u.Home == "" {
			t.Fatalf("empty home for %q", spec)
		}
	})
}
