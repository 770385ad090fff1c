package cgroupv2

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFlatKeyed(t *testing.T) {
	f, err := os.Open("testdata/memory.events")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := parseFlatKeyed(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"low": 0, "high": 0, "max": 12, "oom": 1, "oom_kill": 1, "oom_group_kill": 0}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("memory.events = %v, want %v", m, want)
	}
	for _, bad := range []string{"oom_kill\n", "oom_kill 1 2\n", "oom_kill -1\n", "oom_kill x\n", " 1\n", "a 99999999999999999999\n"} {
		if m, err := parseFlatKeyed(strings.NewReader(bad)); err == nil {
			t.Errorf("parseFlatKeyed(%q) = %v, want an error", bad, m)
		}
	}
	if _, err := parseFlatKeyed(strings.NewReader(strings.Repeat("a 1\n", maxLines+1))); err == nil {
		t.Error("parseFlatKeyed of an endless file: want an error")
	}
}

func TestParseSingleValue(t *testing.T) {
	tests := []struct {
		in  string
		v   uint64
		max bool
		ok  bool
	}{
		{"67108864\n", 67108864, false, true},
		{"0\n", 0, false, true},
		{"max\n", 0, true, true},
		{"12", 12, false, true},
		{"", 0, false, false},
		{"12 13\n", 0, false, false},
		{"-1\n", 0, false, false},
	}
	for _, tt := range tests {
		v, max, err := parseSingleValue(strings.NewReader(tt.in))
		if (err == nil) != tt.ok || v != tt.v || max != tt.max {
			t.Errorf("parseSingleValue(%q) = %d, %v, %v", tt.in, v, max, err)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"proc-cgroup-unified", "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope"},
		{"proc-cgroup-hybrid", "/user.slice/user-1000.slice/session-2.scope"},
		{"proc-cgroup-v1", ""},
	}
	for _, tt := range tests {
		got, err := readFile(filepath.Join("testdata", tt.file), parseProcCgroup)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s: got %q, want an error", tt.file, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.file, got, err, tt.want)
		}
	}
	for _, bad := range []string{"0::relative\n", "0::/gone (deleted)\n"} {
		if got, err := parseProcCgroup(strings.NewReader(bad)); err == nil {
			t.Errorf("parseProcCgroup(%q) = %q, want an error", bad, got)
		}
	}
	// Inside a cgroup namespace the root is "/".
	if got, err := parseProcCgroup(strings.NewReader("0::/\n")); err != nil || got != "/" {
		t.Errorf("parseProcCgroup(0::/) = %q, %v", got, err)
	}
}

func TestParseControllers(t *testing.T) {
	got, err := parseControllers(strings.NewReader("cpuset cpu io memory hugetlb pids rdma misc\n"))
	want := []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseControllers = %v, %v", got, err)
	}
	if got, err := parseControllers(strings.NewReader("\n")); err != nil || len(got) != 0 {
		t.Errorf("parseControllers(empty) = %v, %v", got, err)
	}
	if _, err := parseControllers(strings.NewReader("+memory\n")); err == nil {
		t.Error("parseControllers(+memory): want an error")
	}
}

// TestReadStats reads a fake cgroup directory made of fixtures: the parsing
// and the optional files, not the kernel.
func TestReadStats(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(from, to string) {
		b, err := os.ReadFile(filepath.Join("testdata", from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("memory.events", "memory.events")
	copyFile("cpu.stat", "cpu.stat")
	if err := os.WriteFile(filepath.Join(dir, "memory.peak"), []byte("67104768\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.events"), []byte("max 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// No pids.peak: a kernel before 6.1.
	cg := &Cgroup{path: dir, statsPath: dir}
	s, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		MemoryPeak: 67104768,
		CPUUsage:   1532871 * time.Microsecond,
		CPUUser:    1200 * time.Millisecond,
		CPUSystem:  332871 * time.Microsecond,
		OOMKills:   1,
		PidsDenied: 3,
	}
	if s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
	if oom, err := cg.OOMKilled(); err != nil || !oom {
		t.Errorf("OOMKilled = %v, %v; want true", oom, err)
	}
	// The pids counters are the workload leaf's, without the init's
	// threads, once there is one.
	os.WriteFile(filepath.Join(dir, "pids.peak"), []byte("31\n"), 0o644)
	leaf := filepath.Join(dir, WorkloadLeaf)
	os.Mkdir(leaf, 0o755)
	os.WriteFile(filepath.Join(leaf, "pids.peak"), []byte("20\n"), 0o644)
	os.WriteFile(filepath.Join(leaf, "pids.events"), []byte("max 5\n"), 0o644)
	cg.workload = leaf
	cg.WorkloadEnded()
	os.RemoveAll(leaf) // systemd removed the scope with the leaf
	if s, err := cg.Stats(); err != nil || s.PidsPeak != 20 || s.PidsDenied != 5 || s.MemoryPeak != want.MemoryPeak {
		t.Errorf("Stats with a workload leaf = %+v, %v; want peak pids 20, 5 refused", s, err)
	}
	cg.pids = nil
	if s, err := cg.Stats(); err != nil || s.PidsPeak != 31 {
		t.Errorf("Stats without the leaf = %+v, %v; want the sandbox's peak pids 31", s, err)
	}
	os.Remove(filepath.Join(dir, "pids.peak"))
	empty := &Cgroup{path: t.TempDir()}
	empty.statsPath = empty.path
	if oom, err := empty.OOMKilled(); err != nil || oom {
		t.Errorf("OOMKilled without memory.events = %v, %v; want false", oom, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.peak"), []byte("lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cg.Stats(); err == nil || !strings.Contains(err.Error(), "memory.peak") {
		t.Errorf("Stats with a bad memory.peak: %v, want an error naming the file", err)
	}
}

func FuzzParseFlatKeyed(f *testing.F) {
	for _, name := range []string{"memory.events", "cpu.stat"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("max 1\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseFlatKeyed(strings.NewReader(s))
		if err == nil && len(m) > maxLines {
			t.Fatalf("%d keys from %d bytes", len(m), len(s))
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	for _, name := range []string{"proc-cgroup-hybrid", "proc-cgroup-unified", "proc-cgroup-v1"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseProcCgroup(strings.NewReader(s))
		if err == nil && (!strings.HasPrefix(p, "/") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..")) {
			t.Fatalf("parseProcCgroup(%q) = %q", s, p)
		}
	})
}

func FuzzParseSingleValue(f *testing.F) {
	for _, s := range []string{"67108864\n", "max\n", "0", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, max, err := parseSingleValue(strings.NewReader(s))
		if err == nil && max && v != 0 {
			t.Fatalf("parseSingleValue(%q) = %d, max", s, v)
		}
	})
}

func FuzzParseControllers(f *testing.F) {
	f.Add("cpu io memory pids\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := parseControllers(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, c := range cs {
			if c == "" || strings.ContainsAny(c, " +-/\n") {
				t.Fatalf("parseControllers(%q) gave %q", s, c)
			}
		}
	})
}
