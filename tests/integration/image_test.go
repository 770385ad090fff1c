package integration

import (
	"archive/tar"
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// subStart is the first subordinate uid of this user: where tar uid 1
// lands (uid 0 is the user).
func subStart(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/etc/subuid")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	name := os.Getenv("USER")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ":")
		if len(p) == 3 && (p[0] == name || p[0] == strconv.Itoa(os.Getuid())) {
			n, _ := strconv.Atoi(p[1])
			return n
		}
	}
	t.Fatalf("no /etc/subuid entry for %q", name)
	return 0
}

func lstat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %q: %v", p, err)
	}
	return &st
}

// layoutImage writes the three-layer test image into an OCI layout.
func layoutImage(t *testing.T) (dir string, ids []string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "layout")
	img := testImage(t, rootfsTar(t), specialTar(t), whiteoutTar(t))
	writeLayout(t, dir, "v1", img)
	return dir, diffIDs(t, img)
}

// checkTree asserts what the unpacker made of the test image's layers.
func checkTree(t *testing.T, s *store, ids []string) {
	t.Helper()
	base, special, wh := s.layer(ids[0]), s.layer(ids[1]), s.layer(ids[2])
	if _, err := os.Stat(filepath.Join(base, "bin/busybox")); err != nil {
		t.Errorf("base layer: %v", err)
	}
	suid := lstat(t, filepath.Join(special, "special/suid"))
	owned := lstat(t, filepath.Join(special, "special/owned"))
	hard := lstat(t, filepath.Join(special, "special/hard"))
	dir := lstat(t, filepath.Join(special, "special"))
	fifo := lstat(t, filepath.Join(special, "special/fifo"))
	if hasFullMap() {
		if want := uint32(subStart(t) + 999); owned.Uid != want || owned.Gid < 100000 {
			t.Errorf("tar uid 1000 is host uid %d:%d, want %d (where -u 1000 runs)", owned.Uid, owned.Gid, want)
		}
		if suid.Mode&syscall.S_ISUID == 0 || suid.Uid != uint32(os.Getuid()) {
			t.Errorf("setuid file: mode %o uid %d, want setuid and owned by you (image root)", suid.Mode, suid.Uid)
		}
	} else {
		if owned.Uid != uint32(os.Getuid()) {
			t.Errorf("flattened: uid %d, want yours", owned.Uid)
		}
		if suid.Mode&(syscall.S_ISUID|syscall.S_ISGID) != 0 {
			t.Errorf("flattened layer keeps setuid: mode %o", suid.Mode)
		}
	}
	if hard.Ino != owned.Ino {
		t.Errorf("hard link not kept: inodes %d and %d", hard.Ino, owned.Ino)
	}
	if dir.Mode&0o7777 != 0o555 {
		t.Errorf("0555 directory has mode %o", dir.Mode&0o7777)
	}
	if fifo.Mode&syscall.S_IFMT != syscall.S_IFIFO || fifo.Mode&0o777 != 0o640 {
		t.Errorf("fifo: mode %o", fifo.Mode)
	}
	if _, err := os.Lstat(filepath.Join(special, "special/null")); !os.IsNotExist(err) {
		t.Errorf("device node made: %v", err)
	}
	gone := lstat(t, filepath.Join(wh, "etc/gone"))
	if gone.Mode&syscall.S_IFMT != syscall.S_IFCHR || gone.Rdev != 0 {
		t.Errorf("whiteout: mode %o rdev %d, want a 0/0 character device", gone.Mode, gone.Rdev)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(wh, "olddir"), "user.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque dir: user.overlay.opaque = %q, %v", buf[:n], err)
	}
}

func TestImagePullLayout(t *testing.T) {
	dir, ids := layoutImage(t)
	s := newStore(t)
	r := s.rbox(t, "pull", "oci:"+dir+":v1")
	ok(t, r)
	if n := strings.Count(r.stderr, " unpacked: "); n != 3 {
		t.Errorf("want one line per layer unpacked, got:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "1 device nodes skipped") {
		t.Errorf("the skipped device is not counted:\n%s", r.stderr)
	}
	checkTree(t, s, ids)
	out := ok(t, s.rbox(t, "images"))
	if !strings.Contains(out, "oci:"+dir+":v1") || !strings.Contains(out, strings.TrimPrefix(strings.TrimSpace(r.stdout), "sha256:")[:12]) || !strings.Contains(out, "2026-01-02") {
		t.Errorf("rbox images:\n%s", out)
	}
	if st, err := os.Stat(s.root()); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("store %q: %v, %v", s.root(), st.Mode(), err)
	}
	// Pulled again: nothing unpacked.
	r = ok2(t, s.rbox(t, "pull", "oci:"+dir+":v1"))
	if strings.Count(r.stderr, "already stored") != 3 {
		t.Errorf("second pull:\n%s", r.stderr)
	}
	ok(t, s.rbox(t, "rmi", "oci:"+dir+":v1"))
	if l := s.entries(t, "layers"); len(l) != 0 {
		t.Errorf("layers left after rmi: %v", l)
	}
	if out := ok(t, s.rbox(t, "images")); strings.Contains(out, dir) {
		t.Errorf("image listed after rmi:\n%s", out)
	}
}

func ok2(t *testing.T, r result) result {
	t.Helper()
	ok(t, r)
	return r
}

// TestNoSubIDImage runs as the user without subordinate IDs: ownership
// flattened, setuid dropped, layers stored apart.
func TestNoSubIDImage(t *testing.T) {
	if hasFullMap() {
		t.Skip("for the user without subordinate IDs")
	}
	dir, ids := layoutImage(t)
	s := newStore(t)
	r := ok2(t, s.rbox(t, "pull", "oci:"+dir+":v1"))
	if !strings.Contains(r.stderr, "flattened") {
		t.Errorf("no note about flattened ownership:\n%s", r.stderr)
	}
	checkTree(t, s, ids)
	if l := s.entries(t, "layers"); len(l) != 0 {
		t.Errorf("flattened layers stored with mapped ones: %v", l)
	}
}

func TestImageForms(t *testing.T) {
	reg := startRegistry(t, "")
	dir, ids := layoutImage(t)
	tmp := t.TempDir()
	skopeo(t, "oci:"+dir+":v1", "oci-archive:"+tmp+"/img.tar:v1")
	skopeo(t, "oci:"+dir+":v1", "docker-archive:"+tmp+"/save.tar:test/img:v1")
	skopeo(t, "--dest-tls-verify=false", "oci:"+dir+":v1", "docker://"+reg.addr+"/test/img:v1")
	skopeo(t, "--dest-tls-verify=false", "--dest-compress-format", "zstd", "oci:"+dir+":v1", "docker://"+reg.addr+"/test/img:zstd")
	for _, ref := range []string{
		"oci-archive:" + tmp + "/img.tar:v1",
		"docker-archive:" + tmp + "/save.tar:test/img:v1",
		"docker://" + reg.addr + "/test/img:v1",
		reg.addr + "/test/img:zstd",
	} {
		t.Run(strings.SplitN(ref, ":", 2)[0], func(t *testing.T) {
			s := newStore(t)
			args := []string{"pull", ref}
			if strings.Contains(ref, reg.addr) {
				args = []string{"pull", "--tls-verify=false", ref}
			}
			r := ok2(t, s.rbox(t, args...))
			if n := strings.Count(r.stderr, " unpacked: "); n != 3 {
				t.Errorf("want 3 layers unpacked:\n%s", r.stderr)
			}
			checkTree(t, s, ids)
		})
	}
	// Plain HTTP is never chosen on its own, loopback or not.
	s := newStore(t)
	r := s.rbox(t, "pull", reg.addr+"/test/img:v1")
	if r.code != 125 || !strings.Contains(r.stderr, "--tls-verify=false") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("pull over plain HTTP without --tls-verify=false:\n%s", r)
	}
	r = s.rbox(t, "pull", "--tls-verify=false", reg.addr+"/test/nope:v1")
	if r.code != 125 || !strings.Contains(r.stderr, "answered 404") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("missing image:\n%s", r)
	}
}

func TestImageRegistryAuth(t *testing.T) {
	// bcrypt of "pw", as htpasswd -B writes it.
	hash, err := exec.Command("python3", "-c", `import crypt; print(crypt.crypt("pw", crypt.mksalt(crypt.METHOD_BLOWFISH)))`).Output()
	need(t, err == nil, "python3 with crypt for the htpasswd file")
	reg := startRegistry(t, "tester:"+strings.TrimSpace(string(hash))+"\n")
	dir, _ := layoutImage(t)
	skopeo(t, "--dest-tls-verify=false", "--dest-creds", "tester:pw", "oci:"+dir+":v1", "docker://"+reg.addr+"/test/img:v1")
	s := newStore(t)
	r := s.rbox(t, "pull", "--tls-verify=false", reg.addr+"/test/img:v1")
	if r.code != 125 || !strings.Contains(r.stderr, "answered 401") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("anonymous pull from a registry that wants a login:\n%s", r)
	}
	auth := filepath.Join(t.TempDir(), "auth.json")
	os.WriteFile(auth, []byte(`{"auths":{"`+reg.addr+`":{"auth":"dGVzdGVyOnB3"}}}`), 0o600)
	r = rboxWith(t, opts{env: []string{"XDG_DATA_HOME=" + s.data, "REGISTRY_AUTH_FILE=" + auth}}, "pull", "--tls-verify=false", reg.addr+"/test/img:v1")
	ok(t, r)
}

// TestImageConcurrentPulls: two pulls of one image unpack each layer once.
func TestImageConcurrentPulls(t *testing.T) {
	dir, _ := layoutImage(t)
	s := newStore(t)
	var wg sync.WaitGroup
	res := make([]result, 3)
	for i := range res {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = s.rbox(t, "pull", "oci:"+dir+":v1") }()
	}
	wg.Wait()
	all := ""
	for _, r := range res {
		all += ok2(t, r).stderr
	}
	if n := strings.Count(all, " unpacked: "); n != 3 {
		t.Errorf("want each of 3 layers unpacked once across the pulls, got %d:\n%s", n, all)
	}
}

// TestImageKilledPull: a pull killed while a layer unpacks leaves nothing
// that passes for that layer; the next pull completes and sweeps it.
func TestImageKilledPull(t *testing.T) {
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i*7919 + i>>11)
	}
	bigTar := mkTar(t, []tarEntry{{name: "big", typ: tar.TypeReg, mode: 0o644, body: string(big)}, {name: "big2", typ: tar.TypeReg, mode: 0o644, body: string(big)}})
	img := testImage(t, specialTar(t), bigTar)
	dir := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, dir, "v1", img)
	ids := diffIDs(t, img)
	s := newStore(t)
	// The killed pull orphans its unpacker, which dies a moment later
	// (parent-death signal), and a newuidmap or newgidmap if the kill
	// lands while it maps the unpacker. The pull runs under the test
	// binary as a reaper probe that adopts and reaps them all: an orphan
	// left to this host's PID 1 stays a zombie in the test's session for
	// a while, and strict mode counts that as a leftover.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "reap", rboxBin, "pull", "oci:"+dir+":v1")
	cmd.Args[0] = "probe"
	cmd.Env = baseEnv("XDG_DATA_HOME=" + s.data)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), " unpacked: ") {
			break
		}
	}
	// The first layer is stored; the big one is being written.
	deadline := time.Now().Add(10 * time.Second)
	for len(s.entries(t, "tmp")) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(unix.SIGTERM) // the probe SIGKILLs the pull
	reaped := make(chan error, 1)
	go func() {
		io.Copy(io.Discard, stderr) // to EOF: the probe and all it adopted are gone
		reaped <- cmd.Wait()
	}()
	select {
	case err := <-reaped:
		if err != nil {
			t.Fatalf("the reaper probe: %v", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the unpacker outlived the killed pull by 60 s")
	}
	if _, err := os.Stat(filepath.Dir(s.layer(ids[1]))); !os.IsNotExist(err) {
		t.Fatalf("the killed layer is in the store: %v", err)
	}
	if out := ok(t, s.rbox(t, "images")); strings.Contains(out, dir) {
		t.Errorf("a killed pull left a record:\n%s", out)
	}
	r := ok2(t, s.rbox(t, "pull", "oci:"+dir+":v1"))
	if !strings.Contains(r.stderr, "already stored") || strings.Count(r.stderr, " unpacked: ") != 1 {
		t.Errorf("the next pull:\n%s", r.stderr)
	}
	if tmp := s.entries(t, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ not swept: %v", tmp)
	}
	if st, err := os.Stat(filepath.Join(s.layer(ids[1]), "big2")); err != nil || st.Size() != 64<<20 {
		t.Errorf("the layer after the second pull: %v", err)
	}
}

// TestImageCorruptAndPrune: a layer whose content does not match its
// diff_id fails in one line and stores nothing of it; prune then removes
// exactly the layers no image uses.
func TestImageCorruptAndPrune(t *testing.T) {
	s := newStore(t)
	good, goodIDs := layoutImage(t)
	ok(t, s.rbox(t, "pull", "oci:"+good+":v1"))

	lone := mkTar(t, []tarEntry{{name: "lone", typ: tar.TypeReg, mode: 0o644, body: "only here\n"}})
	last := mkTar(t, []tarEntry{{name: "last", typ: tar.TypeReg, mode: 0o644, body: "never stored\n"}})
	img := testImage(t, rootfsTar(t), lone, last)
	dir := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, dir, "v1", img)
	ids := diffIDs(t, img)
	// Swap the last layer's blob for another valid one: the digest the
	// config names no longer matches.
	ls, _ := img.Layers()
	d, _ := ls[2].Digest()
	other, _ := layerOf(t, whiteoutTar(t)).Compressed()
	blob := filepath.Join(dir, "blobs", "sha256", d.Hex)
	f, err := os.Create(blob)
	if err != nil {
		t.Fatal(err)
	}
	f.ReadFrom(other)
	f.Close()
	r := s.rbox(t, "pull", "oci:"+dir+":v1")
	if r.code != 125 || !strings.Contains(r.stderr, "digest mismatch") || strings.Count(strings.TrimSpace(r.stderr), "rbox:") != 1 {
		t.Errorf("corrupt layer:\n%s", r)
	}
	if _, err := os.Stat(filepath.Dir(s.layer(ids[2]))); !os.IsNotExist(err) {
		t.Errorf("the corrupt layer is stored: %v", err)
	}
	if tmp := s.entries(t, "tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ after a failed pull: %v", tmp)
	}
	// The lone layer was stored before the failure; no image uses it.
	r = ok2(t, s.rbox(t, "image", "prune"))
	if strings.TrimSpace(r.stdout) != "removed layer "+ids[1] {
		t.Errorf("prune removed:\n%s\nwant only %s", r.stdout, ids[1])
	}
	checkTree(t, s, goodIDs)
}

// TestImageHostileLayers: paths and links that leave the layer are refused
// and nothing of the layer is stored; a symlink to a host path is resolved
// inside the layer.
func TestImageHostileLayers(t *testing.T) {
	host := t.TempDir()
	for _, tt := range []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"dotdot", []tarEntry{{name: "../../evil", typ: tar.TypeReg, mode: 0o644, body: "x"}}, "leaves the layer"},
		{"hardlink", []tarEntry{{name: "h", typ: tar.TypeLink, link: "../../../etc/passwd"}}, "leaves the layer"},
		{"hardlink-host", []tarEntry{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, "not in this layer"},
		{"outside-map", []tarEntry{{name: "far", typ: tar.TypeReg, mode: 0o644, uid: 4000000000, body: "x"}}, "owned by uid 4000000000, outside your subordinate ID range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "outside-map" && !hasFullMap() {
				t.Skip("flattened layers take any uid")
			}
			img := testImage(t, mkTar(t, tt.entries))
			dir := filepath.Join(t.TempDir(), "layout")
			writeLayout(t, dir, "v1", img)
			s := newStore(t)
			r := s.rbox(t, "pull", "oci:"+dir+":v1")
			if r.code != 125 || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("want one line with %q:\n%s", tt.want, r)
			}
			if l := append(s.entries(t, "layers"), s.entries(t, "tmp")...); len(l) != 0 {
				t.Errorf("left in the store: %v", l)
			}
		})
	}
	// Through an absolute or a climbing symlink, a file lands in the layer,
	// not on the host: the layer holds a directory of the host path's name.
	var ents []tarEntry
	for p := host; p != "/"; p = filepath.Dir(p) {
		ents = append([]tarEntry{{name: p + "/", typ: tar.TypeDir, mode: 0o755}}, ents...)
	}
	img := testImage(t, mkTar(t, append(ents, []tarEntry{
		{name: "up", typ: tar.TypeSymlink, link: host},
		{name: "up/pwned", typ: tar.TypeReg, mode: 0o644, body: "x"},
		{name: "a/climb", typ: tar.TypeSymlink, link: "../../../../../../../.." + host},
		{name: "a/climb/pwned2", typ: tar.TypeReg, mode: 0o644, body: "x"},
	}...)))
	dir := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, dir, "v1", img)
	s := newStore(t)
	ok(t, s.rbox(t, "pull", "oci:"+dir+":v1"))
	for _, f := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(host, f)); !os.IsNotExist(err) {
			t.Errorf("a layer wrote %s to the host through a symlink: %v", f, err)
		}
		if _, err := os.Stat(filepath.Join(s.layer(diffIDs(t, img)[0]), host, f)); err != nil {
			t.Errorf("%s is not inside the layer: %v", f, err)
		}
	}
}

// TestImageExec runs the test image: its config applied, its layers as
// overlay lower directories, under kernel overlay and fuse-overlayfs.
func TestImageExec(t *testing.T) {
	dir, _ := layoutImage(t)
	ref := "oci:" + dir + ":v1"
	s := newStore(t)
	r := s.rbox(t, "exec", "--net", "none", "--pull=never", "--image", ref)
	if r.code != 125 || !strings.Contains(r.stderr, "--pull=never") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("--pull=never of a missing image:\n%s", r)
	}
	// Pulled as it is missing; Entrypoint and Cmd as docker joins them.
	r = ok2(t, s.rbox(t, "exec", "--net", "none", "--image", ref))
	if r.stdout != "from cmd\n" || !strings.Contains(r.stderr, "unpacked") {
		t.Errorf("exec --image with the image's command:\n%s", r)
	}
	if out := ok(t, s.rbox(t, "exec", "--net", "none", "--image", ref, "--", "args", "given")); out != "args given\n" {
		t.Errorf("arguments replace Cmd: %q", out)
	}
	if !hasFullMap() {
		return
	}
	script := `id -u; id -g; pwd; echo "$IMG $E2"; stat -c '%a %u:%g %h' /special/suid /special/owned; ` +
		`stat -c %F /special/fifo; stat -c %a /special; ls /olddir; ls /etc/gone 2>&1 || true; echo hi > /tmp/w && cat /tmp/w`
	want := "1000\n1000\n/special\n2 e2\n4755 0:0 1\n644 1000:1000 2\nfifo\n555\nnew\nls: /etc/gone: No such file or directory\nhi\n"
	for _, driver := range []string{"kernel", "fuse"} {
		t.Run(driver, func(t *testing.T) {
			if driver == "fuse" {
				_, err := exec.LookPath("fuse-overlayfs")
				need(t, err == nil, "fuse-overlayfs is not installed")
			}
			r := s.rbox(t, "exec", "--net", "none", "--overlay", driver, "-e", "IMG=2", "-e", "E2=e2", "--entrypoint", "/bin/sh", "--image", ref, "--", "-c", script)
			if out := ok(t, r); out != want {
				t.Errorf("inside the image:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}
