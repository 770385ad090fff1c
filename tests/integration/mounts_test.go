package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestVolumes(t *testing.T) {
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "in.txt"), []byte("from host\n"), 0o644)
	file := filepath.Join(t.TempDir(), "single")
	os.WriteFile(file, []byte("one file\n"), 0o644)

	out := ok(t, sh(t, "cat /data/in.txt; echo back > /data/out.txt; cat /etc/single; ls -d /new/mount/point",
		"-v", host+":/data", "-v", file+":/etc/single:ro", "-v", host+":/new/mount/point"))
	if out != "from host\none file\n/new/mount/point\n" {
		t.Errorf("volumes: got %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "out.txt")); string(b) != "back\n" {
		t.Errorf("a write through a rw volume must reach the host, got %q", b)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "data")); err == nil {
		t.Error("the volume's mount point was created in the image")
	}
	r := sh(t, "echo x > /data/ro-write", "-v", host+":/data:ro")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only") {
		t.Errorf("write to a :ro volume: want a failure, got\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(host, "ro-write")); err == nil {
		t.Error("the :ro volume was written")
	}
	r = sh(t, "chmod 777 /data/in.txt; chown 0:0 /data/in.txt", "-v", host+":/data:ro")
	if r.code == 0 {
		t.Errorf("chmod in a :ro volume succeeded:\n%s", r)
	}
}

// A :ro volume and the --read-only root cannot be remounted read-write by
// the default workload. With SYS_ADMIN they can (the mounts are the
// workload's own user namespace's, see SECURITY.md), and exec says so once.
func TestReadOnlyRemount(t *testing.T) {
	host := t.TempDir()
	file := filepath.Join(host, "in.txt")
	os.WriteFile(file, []byte("from host\n"), 0o644)
	const script = `mount -o remount,bind,rw /data && echo volume-rw; echo over > /data/in.txt
mount -o remount,bind,rw / && echo root-rw; touch /x && echo root-written; true`
	const warning = "rbox: warning: SYS_ADMIN (--cap-add) lets the workload remount the :ro volumes and the --read-only root read-write (see SECURITY.md)\n"
	flags := []string{"-v", host + ":/data:ro", "--read-only"}

	r := sh(t, script, flags...)
	if out := ok(t, r); out != "" {
		t.Errorf("without SYS_ADMIN: want every remount and write refused, got %q\n%s", out, r)
	}
	if !strings.Contains(r.stderr, "Read-only file system") || strings.Contains(r.stderr, "warning") {
		t.Errorf("without SYS_ADMIN: want the writes refused as read-only and no warning:\n%s", r)
	}
	if b, _ := os.ReadFile(file); string(b) != "from host\n" {
		t.Fatalf("without SYS_ADMIN the host file behind the :ro volume changed: %q", b)
	}

	// What SECURITY.md documents: SYS_ADMIN gives the read-only mounts up.
	r = sh(t, script, append(flags, "--cap-add", "SYS_ADMIN")...)
	if out := ok(t, r); out != "volume-rw\nroot-rw\nroot-written\n" {
		t.Errorf("with SYS_ADMIN: want both remounts to work (as documented), got %q\n%s", out, r)
	}
	if strings.Count(r.stderr, "rbox: ") != 1 || !strings.Contains(r.stderr, warning) {
		t.Errorf("with SYS_ADMIN: want exactly the warning line %q, got\n%s", warning, r)
	}
	if b, _ := os.ReadFile(file); string(b) != "over\n" {
		t.Errorf("with SYS_ADMIN the remount worked but the host file reads %q", b)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "x")); err == nil {
		t.Error("a write to the remounted root reached the image")
	}
}

// A hostile image whose directories are symlinks out of the root: every
// mount target and file rbox writes is resolved inside the image.
func TestSymlinkedTargetsStayInside(t *testing.T) {
	img := filepath.Join(t.TempDir(), "img")
	if out, err := exec.Command("cp", "-a", rootfs, img).CombinedOutput(); err != nil {
		t.Fatalf("copy rootfs: %v %s", err, out)
	}
	victim := t.TempDir() // a host directory the image tries to reach
	os.Symlink("../../../../../../../.."+victim, filepath.Join(img, "escape"))
	os.Symlink(victim, filepath.Join(img, "abs-escape"))
	os.RemoveAll(filepath.Join(img, "etc", "hosts"))
	os.Symlink(victim+"/hosts", filepath.Join(img, "etc", "hosts"))
	os.Symlink(victim+"/hostname", filepath.Join(img, "etc", "hostname"))
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)

	// The /etc files are replaced inside the image, never followed.
	if out := ok(t, rbox(t, "exec", "--rootfs", img, "--hostname", "inside", "--", "cat", "/etc/hostname")); out != "inside\n" {
		t.Errorf("/etc/hostname: got %q", out)
	}
	// A mount through a symlink that leads out of the image either lands
	// inside it or is refused; it never touches the host.
	for _, flags := range [][]string{
		{"-v", src + ":/escape/vol"}, {"-v", src + ":/abs-escape/vol2"},
		{"--tmpfs", "/escape/tmp"}, {"-w", "/abs-escape/work"}, {"-v", src + "/f:/abs-escape/file"},
	} {
		args := append(append([]string{"exec", "--rootfs", img}, flags...), "--", "true")
		if r := rbox(t, args...); r.code != 0 && r.code != 125 {
			t.Errorf("%v: want success or a clean refusal, got\n%s", flags, r)
		}
	}
	entries, _ := os.ReadDir(victim)
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("rbox created %v in the host directory the image's symlinks point to", names)
	}
}

func TestTmpfs(t *testing.T) {
	out := ok(t, sh(t, "grep ' /scratch ' /proc/mounts; head -c 2000000 /dev/zero > /scratch/big || echo full", "--tmpfs", "/scratch:size=1m,mode=1777"))
	if !strings.Contains(out, "tmpfs") || !strings.Contains(out, "size=1024k") || !strings.Contains(out, "full") {
		t.Errorf("--tmpfs with size=1m: got %q", out)
	}
}

func TestNetworkModes(t *testing.T) {
	out := ok(t, sh(t, "ls /sys/class/net; cat /sys/class/net/lo/operstate; grep -c : /proc/net/dev", "--net", "none"))
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "lo" || f[1] != "unknown" || f[2] != "1" {
		t.Errorf("--net none: want only lo, up; got %q", out)
	}
	hostIfs, _ := os.ReadDir("/sys/class/net")
	out = ok(t, sh(t, "grep -c : /proc/net/dev", "--net", "host"))
	if strings.TrimSpace(out) != itoa(len(hostIfs)) {
		t.Errorf("--net host: want the host's %d interfaces, got %q", len(hostIfs), out)
	}
}

func TestParallel(t *testing.T) {
	before := manifest(t, rootfs)
	const n = 10
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			r := sh(t, "echo "+itoa(i)+" > /mine; sleep 0.2; cat /mine")
			if r.code != 0 || r.stdout != itoa(i)+"\n" {
				errs <- r.String()
				return
			}
			errs <- ""
		}(i)
	}
	for i := 0; i < n; i++ {
		if e := <-errs; e != "" {
			t.Errorf("a concurrent run failed:\n%s", e)
		}
	}
	assertUnchanged(t, before)
	if entries := stateEntries(); len(entries) != 0 {
		t.Errorf("state left after concurrent runs: %v", entries)
	}
}

// -v A:/mnt/a -v B:/mnt/a/b must not leave an empty b/ in host directory
// A: refused while A has no b, used as it is once it does.
func TestNestedVolumes(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, flags := range [][]string{
		{"-v", a + ":/mnt/a", "-v", b + ":/mnt/a/b"},
		{"-v", b + ":/mnt/a/b", "-v", a + ":/mnt/a"},
		{"-v", a + ":/mnt/a:ro", "-v", b + ":/mnt/a/b"},
		{"-v", a + ":/mnt/a", "--tmpfs", "/mnt/a/t"},
	} {
		oneLine(t, sh(t, "echo RAN", flags...), a, "create")
		if entries, _ := os.ReadDir(a); len(entries) != 0 {
			t.Errorf("%v: host directory A got %v", flags, entries)
		}
	}
	os.Mkdir(filepath.Join(a, "b"), 0o755)
	ok(t, sh(t, "echo x > /mnt/a/b/f", "-v", a+":/mnt/a", "-v", b+":/mnt/a/b"))
	if _, err := os.Stat(filepath.Join(b, "f")); err != nil {
		t.Errorf("the nested volume was not B: %v", err)
	}
}
