package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// withResources adds linux.cgroupsPath and linux.resources to a bundle's
// config.json.
func withResources(t *testing.T, bundle, path, resources string) {
	t.Helper()
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var res any
	if err := json.Unmarshal([]byte(resources), &res); err != nil {
		t.Fatal(err)
	}
	linux := cfg["linux"].(map[string]any)
	linux["cgroupsPath"], linux["resources"] = path, res
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Rootless on a cgroup v1 host (no cgroup can be delegated there) a
// config with cgroupsPath and limits still runs, as with crun: without a
// cgroup, one debug line saying so, and pause and update refuse in one
// line naming why. On a cgroup v2 host the user may have a delegated
// cgroup; there only the run itself is checked.
func TestRuntimeRootlessCgroup(t *testing.T) {
	subreaper(t)
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	bundle := bundleConfig(t, false, "sh", "-c", "echo ran; exec sleep 60")
	withResources(t, bundle, "/rbox-it-rootless/c1", `{"memory": {"limit": 67108864}, "pids": {"limit": 50}}`)
	out, err := os.Create(filepath.Join(tmp, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	log := filepath.Join(tmp, "log")
	// create with the global --debug and --log, stdio on files (the
	// container keeps them).
	cmd := exec.Command(runtimeBin(), "--root", root, "--debug", "--log", log, "create", "--bundle", bundle, "--pid-file", filepath.Join(tmp, "pid"), "c1")
	cmd.Env, cmd.Stdout, cmd.Stderr = []string{}, out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("create: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(filepath.Join(tmp, "pid"))
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("pid file %q", b)
	}
	ok(t, runtime(t, nil, "--root", root, "start", "c1"))
	waitFor(t, func() bool { b, _ := os.ReadFile(out.Name()); return strings.Contains(string(b), "ran\n") })
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type != unix.CGROUP2_SUPER_MAGIC {
		b, _ := os.ReadFile(log)
		if !strings.Contains(string(b), "rootless on cgroup v1: no cgroup") {
			t.Errorf("create's log does not say the container runs without a cgroup:\n%s", b)
		}
		oneError(t, runtime(t, nil, "--root", root, "pause", "c1"), `cannot pause container "c1": it runs without a cgroup`)
		res := filepath.Join(tmp, "res.json")
		os.WriteFile(res, []byte(`{"pids": {"limit": 10}}`), 0o600)
		oneError(t, runtime(t, nil, "--root", root, "update", "--resources", res, "c1"), `cannot update container "c1": it runs without a cgroup`)
		if _, err := os.Stat("/sys/fs/cgroup/memory/rbox-it-rootless"); err == nil {
			t.Error("a rootless create made a v1 cgroup")
		}
	}
	ok(t, runtime(t, nil, "--root", root, "delete", "--force", "c1"))
	reap(t, pid)
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("left in the root: %v", entries)
	}
}
