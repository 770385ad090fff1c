package idmap

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSubID(t *testing.T) {
	const file = "alice:100000:65536\n# comment\n\nbob:165536:65536\n1000:300000:10\nalice:400000:5\n"
	cases := []struct {
		name string
		user string
		id   uint32
		want []Range
	}{
		{"by-name-several-lines", "alice", 1001, []Range{{100000, 65536}, {400000, 5}}},
		{"by-uid", "carol", 1000, []Range{{300000, 10}}},
		{"name-and-uid", "alice", 1000, []Range{{100000, 65536}, {300000, 10}, {400000, 5}}},
		{"none", "dave", 2000, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseSubID(strings.NewReader(file), "/etc/subuid", c.user, c.id)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseSubIDMalformed(t *testing.T) {
	cases := []struct{ text, line string }{
		{"alice:1:2\nbroken\n", ":2:"},
		{"alice:x:2\n", ":1:"},
		{"alice:1:0\n", ":1:"},
		{"alice:1:2:3\n", ":1:"},
		{"alice:4294967295:2\n", ":1:"},
		{":1:2\n", ":1:"},
	}
	for _, c := range cases {
		_, err := ParseSubID(strings.NewReader(c.text), "/etc/subuid", "alice", 1)
		if err == nil || !strings.Contains(err.Error(), "/etc/subuid"+c.line) {
			t.Errorf("%q: want an error naming the line (%s), got %v", c.text, c.line, err)
		}
	}
}

func TestFullPlan(t *testing.T) {
	cases := []struct {
		name   string
		uid    uint32
		ranges []Range
		want   []Mapping
	}{
		{"one-range", 1000, []Range{{100000, 65536}},
			[]Mapping{{0, 1000, 1}, {1, 100000, 65536}}},
		{"two-ranges-packed", 1000, []Range{{100000, 10}, {200000, 5}},
			[]Mapping{{0, 1000, 1}, {1, 100000, 10}, {11, 200000, 5}}},
		{"own-id-inside-range", 100005, []Range{{100000, 10}},
			[]Mapping{{0, 100005, 1}, {1, 100000, 5}, {6, 100006, 4}}},
		{"overlapping-ranges", 1000, []Range{{100000, 10}, {100005, 10}},
			[]Mapping{{0, 1000, 1}, {1, 100000, 10}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Full(c.uid, c.uid, c.ranges, c.ranges)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.UID, c.want) || !p.Full {
				t.Errorf("got %v, want %v", p.UID, c.want)
			}
		})
	}
	if _, err := Full(1, 1, nil, []Range{{1, 1}}); err == nil {
		t.Error("a full plan without a subuid range must fail")
	}
}

func TestHelperArgs(t *testing.T) {
	got := helperArgs(42, []Mapping{{0, 1000, 1}, {1, 100000, 65536}})
	want := []string{"42", "0", "1000", "1", "1", "100000", "65536"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestMapsHost(t *testing.T) {
	ms := []Mapping{{0, 1000, 1}, {1, 100000, 65536}}
	for id, want := range map[uint32]bool{0: false, 999: false, 1000: true, 1001: false, 99999: false, 100000: true, 165535: true, 165536: false} {
		if MapsHost(ms, id) != want {
			t.Errorf("MapsHost(%d) = %v", id, !want)
		}
	}
}

func TestContains(t *testing.T) {
	ms := []Mapping{{0, 1000, 1}, {1, 100000, 65536}}
	for id, want := range map[uint32]bool{0: true, 1: true, 65536: true, 65537: false} {
		if Contains(ms, id) != want {
			t.Errorf("Contains(%d) = %v", id, !want)
		}
	}
}

func FuzzParseSubID(f *testing.F) {
	f.Add("alice:100000:65536\n", "alice", uint32(1000))
	f.Add("1000:1:4294967294\nbob:0:1\n", "bob", uint32(1000))
	f.Add("#x\n\n a:b:c \n", "a", uint32(0))
	f.Fuzz(func(t *testing.T, text, user string, id uint32) {
		ranges, err := ParseSubID(strings.NewReader(text), "f", user, id)
		if err != nil {
			return
		}
		for _, r := range ranges {
			if r.Count == 0 || uint64(r.Start)+uint64(r.Count) > 1<<32-1 {
				t.Fatalf("accepted a bad range %v", r)
			}
		}
		if len(ranges) == 0 {
			return
		}
		p, err := Full(id, id, ranges, ranges)
		if err != nil {
			t.Fatal(err)
		}
		// The map must be valid for the kernel: no overlap inside or
		// outside, at most 340 lines.
		if len(p.UID) > 340 {
			t.Fatalf("%d lines", len(p.UID))
		}
		for i, a := range p.UID {
			for _, b := range p.UID[i+1:] {
				if overlap(a.Inside, a.Count, b.Inside, b.Count) || overlap(a.Outside, a.Count, b.Outside, b.Count) {
					t.Fatalf("overlapping lines %v %v", a, b)
				}
			}
		}
	})
}

func overlap(a, an, b, bn uint32) bool {
	return uint64(a) < uint64(b)+uint64(bn) && uint64(b) < uint64(a)+uint64(an)
}
