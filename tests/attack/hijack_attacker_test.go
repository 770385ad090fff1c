package attack

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The attacker of TestHijackedStateRoot: another local user (B) who
// prepares the victim's (A's) state root in a shared sticky directory
// before A's first run. scripts/integration.sh runs this test binary as
// the second test user with RBOX_ATTACKER_DIR set, before the suites.
//
// B plants the sandbox "web": ROOT/ID/meta.json naming A's process (the
// pid A's test hands over in victim.pid, with its real start time, which
// anyone can read in /proc), the lock ROOT/ID.lock held by B, a log, and a
// listening ROOT/ID/enter.sock. Everything B sees goes to attacker.log,
// which A's test reads: "accept" for a connection, "recv" for a message
// (with how many descriptors came along), "end" when B stops.

const (
	plantedID     = "0123456789ab"
	attackerReady = "attacker.ready"
	attackerLog   = "attacker.log"
	victimPidFile = "victim.pid"
	victimDone    = "victim.done"
	// The attacker never outlives the suites' own timeout.
	attackerLifetime = 25 * time.Minute
)

// attackerMain runs instead of the tests when RBOX_ATTACKER_DIR is set.
func attackerMain(shared, victimUID string) int {
	deadline := time.Now().Add(attackerLifetime)
	logf, err := os.OpenFile(filepath.Join(shared, attackerLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "attacker:", err)
		return 1
	}
	defer logf.Close()
	say := func(format string, a ...any) { fmt.Fprintf(logf, format+"\n", a...) }
	root := filepath.Join(shared, "rbox-"+victimUID)
	dir := filepath.Join(root, plantedID)
	lock, lfd, err := plant(root, dir)
	if err != nil {
		say("plant: %v", err)
		return 1
	}
	defer lock.Close()
	defer unix.Close(lfd)
	go serve(lfd, say)
	// A's pid arrives once A's test runs; the meta names it then.
	for !exists(filepath.Join(shared, victimPidFile)) {
		if time.Now().After(deadline) || exists(filepath.Join(shared, victimDone)) {
			say("end: no victim")
			return 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(shared, victimPidFile))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	start := procStart(pid)
	meta := map[string]any{
		"id": plantedID, "name": "web", "command": []string{"sleep", "600"}, "rootfs": "/", "net": "none",
		"detached": true, "supervisorPid": pid, "supervisorStart": start, "initPid": pid, "initStart": start,
		"created": time.Now(), "status": "running",
	}
	mb, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), mb, 0o644); err != nil {
		say("plant meta: %v", err)
		return 1
	}
	say("planted pid %d start %d", pid, start)
	os.WriteFile(filepath.Join(shared, attackerReady), nil, 0o644)
	for !exists(filepath.Join(shared, victimDone)) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	say("end")
	return 0
}

// plant makes the hijacked root, open to A (0777: the old rbox check even
// wrote its probes into it), the sandbox's directory and name, the lock
// (held), a log, and the enter socket.
func plant(root, dir string) (*os.File, int, error) {
	for _, d := range []string{root, dir, filepath.Join(root, "names")} {
		if err := os.Mkdir(d, 0o777); err != nil {
			return nil, -1, err
		}
		if err := os.Chmod(d, 0o777); err != nil {
			return nil, -1, err
		}
	}
	if err := os.Symlink(plantedID, filepath.Join(root, "names", "web")); err != nil {
		return nil, -1, err
	}
	if err := os.WriteFile(filepath.Join(dir, "log"), []byte("planted log\n"), 0o644); err != nil {
		return nil, -1, err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, -1, err
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		return nil, -1, err
	}
	lfd, err := listenSeqpacket(filepath.Join(dir, "enter.sock"))
	if err != nil {
		lock.Close()
		return nil, -1, err
	}
	return lock, lfd, nil
}

func listenSeqpacket(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	os.Chmod(path, 0o777)
	if err := unix.Listen(fd, 4); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// serve records every connection and message, and what a real attacker
// would do with descriptors: write into the victim's stdout.
func serve(lfd int, say func(string, ...any)) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		say("accept")
		go func() {
			defer unix.Close(fd)
			for {
				buf, oob := make([]byte, 65536), make([]byte, unix.CmsgSpace(16*4))
				n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
				if err != nil || n == 0 && oobn == 0 {
					return
				}
				var fds []int
				if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
					for _, m := range msgs {
						if r, err := unix.ParseUnixRights(&m); err == nil {
							fds = append(fds, r...)
						}
					}
				}
				say("recv bytes=%d fds=%d", n, len(fds))
				if len(fds) > 1 {
					unix.Write(fds[1], []byte("hijacked by the attacker\n"))
				}
				for _, f := range fds {
					unix.Close(f)
				}
			}
		}()
	}
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// procStart is field 22 of /proc/PID/stat, as rbox records it.
func procStart(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}
