package oci

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestJoinPlan(t *testing.T) {
	ns := func(typ specs.LinuxNamespaceType, path string) Namespace { return Namespace{Type: typ, Path: path} }
	for _, c := range []struct {
		name  string
		in    []Namespace
		joins string // type@index, in join order
		flags uintptr
	}{
		{"nothing joined", []Namespace{ns("pid", ""), ns("mount", ""), ns("user", "")}, "",
			unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUSER},
		{"the user namespace first, mount late", []Namespace{ns("mount", "/m"), ns("network", "/n"), ns("pid", "/p"), ns("user", "/u"), ns("ipc", "/i")},
			"user@3 ipc@4 network@1 pid@2 mount@0", 0},
		{"CRI: the sandbox's pid, ipc, uts and network", []Namespace{ns("pid", "/p"), ns("ipc", "/i"), ns("uts", "/u"), ns("mount", ""), ns("network", "/n")},
			"ipc@1 uts@2 network@4 pid@0", unix.CLONE_NEWNS},
		{"cgroup and time by path, after the mount", []Namespace{ns("time", "/t"), ns("cgroup", "/c"), ns("mount", "/m")},
			"mount@2 cgroup@1 time@0", 0},
		{"a new time namespace is the init's to unshare", []Namespace{ns("time", ""), ns("mount", ""), ns("uts", "/u")},
			"uts@2", unix.CLONE_NEWNS},
	} {
		t.Run(c.name, func(t *testing.T) {
			joins, flags := joinPlan(&Bundle{Namespaces: c.in})
			var got []string
			for _, j := range joins {
				got = append(got, fmt.Sprintf("%s@%d", j.ns.Type, j.index))
			}
			if strings.Join(got, " ") != c.joins || flags != c.flags {
				t.Fatalf("joins %q flags %#x, want %q %#x", got, flags, c.joins, c.flags)
			}
		})
	}
}

// spawn joins a holder's uts and ipc namespaces and runs a shell there,
// its output on descriptor 3; a path of the wrong type is one error
// naming the entry.
func TestSpawnJoins(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setns of a uts namespace needs root of the user namespace")
	}
	holder := exec.Command("unshare", "--uts", "--ipc", "sh", "-c", "hostname spawn-test && exec sleep 30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	p := func(n string) string { return fmt.Sprintf("/proc/%d/ns/%s", holder.Process.Pid, n) }
	self, _ := os.Readlink("/proc/self/ns/uts")
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, _ := os.Readlink(p("uts"))
		out, _ := exec.Command("nsenter", "--uts="+p("uts"), "hostname").Output()
		if l != self && strings.TrimSpace(string(out)) == "spawn-test" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the holder did not set its hostname")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sh, err := unix.Open("/bin/sh", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sh)
	run := func(joins []nsJoin) (string, error) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		pid, err := spawn(spawnSpec{joins: joins, exe: sh, argv: []string{"sh", "-c", "hostname >&3; readlink /proc/self/ns/ipc >&3"},
			env: []string{"PATH=/usr/bin:/bin"}, files: []*os.File{w}})
		w.Close()
		if err != nil {
			return "", err
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
			t.Fatalf("the spawned shell: %v %v", err, ws)
		}
		b := make([]byte, 256)
		n, _ := r.Read(b)
		return string(b[:n]), nil
	}
	ipc, _ := os.Readlink(p("ipc"))
	got, err := run([]nsJoin{{0, Namespace{Type: specs.UTSNamespace, Path: p("uts")}}, {1, Namespace{Type: specs.IPCNamespace, Path: p("ipc")}}})
	if err != nil || got != "spawn-test\n"+ipc+"\n" {
		t.Fatalf("spawned: %q, %v; want the holder's hostname and %s", got, err, ipc)
	}
	_, err = run([]nsJoin{{4, Namespace{Type: specs.IPCNamespace, Path: p("uts")}}})
	want := fmt.Sprintf("linux.namespaces[4]: ipc namespace %q: join it: invalid argument", p("uts"))
	if err == nil || err.Error() != want {
		t.Fatalf("a uts namespace joined as ipc: %v, want %s", err, want)
	}
}
