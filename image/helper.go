package image

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
)

// HelperArg is argv[1] of rbox re-executed as the unpacker; cmd/rbox
// dispatches it to HelperMain before the CLI parses anything.
const HelperArg = "__image"

// HelperMain runs in a new user namespace as mapped root. It waits for
// the host to write the ID map (EOF on fd 3), then:
//
//	unpack DIR flat|mapped USER   the tar stream on stdin into DIR/root; LayerInfo JSON on stdout
//	rm PATH...                    remove trees of subordinate-owned files
func HelperMain(args []string) int {
	// Gaining capabilities at execve cleared the parent-death signal.
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	go3 := os.NewFile(3, "go")
	if go3 != nil {
		io.Copy(io.Discard, go3)
		go3.Close()
	}
	var err error
	switch {
	case len(args) == 4 && args[0] == "unpack":
		err = helperUnpack(args[1], args[2] == "flat", args[3])
	case len(args) >= 2 && args[0] == "rm":
		for _, p := range args[1:] {
			if e := removePath(p); e != nil {
				err = errors.Join(err, fmt.Errorf("remove %q: %w", p, e))
			}
		}
	default:
		err = fmt.Errorf("usage: %s unpack DIR flat|mapped USER, or %s rm PATH [PATH]", HelperArg, HelperArg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func helperUnpack(dir string, flat bool, name string) error {
	p := filepath.Join(dir, "root")
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	root, err := os.OpenFile(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	u := &unpacker{root: root, flat: flat}
	if !flat {
		if u.uids, err = readMap("/proc/self/uid_map"); err != nil {
			return err
		}
		if u.gids, err = readMap("/proc/self/gid_map"); err != nil {
			return err
		}
		u.fixRange = fmt.Sprintf("your map has %d uids and %d gids; give %s a larger range in /etc/subuid and /etc/subgid (usermod --add-subuids/--add-subgids)", idmap.Size(u.uids), idmap.Size(u.gids), name)
	}
	if err := u.unpack(os.Stdin); err != nil {
		return err
	}
	// The tar reader stops at the end-of-archive blocks; the host hashes
	// the whole stream, padding included.
	io.Copy(io.Discard, os.Stdin)
	return json.NewEncoder(os.Stdout).Encode(u.info)
}

func readMap(file string) ([]idmap.Mapping, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var ms []idmap.Mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		in, _ := strconv.ParseUint(f[0], 10, 32)
		out, _ := strconv.ParseUint(f[1], 10, 32)
		n, _ := strconv.ParseUint(f[2], 10, 32)
		ms = append(ms, idmap.Mapping{Inside: uint32(in), Outside: uint32(out), Count: uint32(n)})
	}
	return ms, nil
}

func removePath(p string) error {
	parent, err := unix.Open(filepath.Dir(p), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	return removeAt(parent, filepath.Base(p))
}

// helper starts HelperMain in a user namespace with the user's full
// subordinate map, or with the user alone mapped (flat) without one.
type helper struct {
	exe     string
	plan    idmap.Plan
	tools   idmap.Helpers
	flat    bool
	user    string
	flatWhy string // why there is no full map
}

func newHelper(exe string) (*helper, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the rbox binary: %w", err)
		}
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	h := &helper{exe: exe, user: strconv.Itoa(int(uid))}
	if u, err := user.LookupId(h.user); err == nil {
		h.user = u.Username
	}
	subuid, err := idmap.ReadSubID("/etc/subuid", h.user, uid)
	if err != nil {
		return nil, err
	}
	subgid, err := idmap.ReadSubID("/etc/subgid", h.user, uid)
	if err != nil {
		return nil, err
	}
	tools, terr := idmap.FindHelpers()
	switch {
	case len(subuid) == 0 || len(subgid) == 0:
		h.flatWhy = fmt.Sprintf("user %q has no range in /etc/subuid and /etc/subgid", h.user)
	case terr != nil:
		h.flatWhy = terr.Error()
	}
	if h.flatWhy != "" {
		h.flat = true
		h.plan = idmap.Single(uid, gid)
		return h, nil
	}
	if h.plan, err = idmap.Full(uid, gid, subuid, subgid); err != nil {
		return nil, err
	}
	h.tools = tools
	return h, nil
}

// command prepares the helper; start it with run or startCmd.
func (h *helper) command(args ...string) *exec.Cmd {
	cmd := exec.Command(h.exe, append([]string{HelperArg}, args...)...)
	cmd.Args[0] = "rbox"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, Pdeathsig: syscall.SIGKILL}
	// Capabilities are computed at execve, before newuidmap can map the
	// child: without ambient ones it would be root of its namespace with
	// none (see userns/start.go). These are the unpacker's: owners, modes
	// of files it does not own yet, setgid of groups it is not in, the
	// whiteout devices.
	cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH,
		unix.CAP_FOWNER, unix.CAP_FSETID, unix.CAP_MKNOD}
	if h.flat {
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	return cmd
}

// start runs cmd and writes its ID map; the helper waits for it on fd 3.
func (h *helper) start(cmd *exec.Cmd) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.ExtraFiles = []*os.File{r}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("start the unpacker: %w", err)
	}
	if !h.flat {
		if err := idmap.Apply(h.plan, cmd.Process.Pid, h.tools); err != nil {
			w.Close()
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("write the unpacker's ID map: %w", err)
		}
	}
	return w.Close()
}

// remove deletes trees of the store inside the user namespace, where the
// files of subordinate IDs are the helper's to delete.
func (h *helper) remove(paths ...string) error {
	if len(paths) == 0 {
		return nil
	}
	cmd := h.command(append([]string{"rm"}, paths...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := h.start(cmd); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("remove from the image store: %s", oneLine(out.String(), err))
	}
	return nil
}

// oneLine is a helper's stderr as one line, or err without it.
func oneLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	return strings.ReplaceAll(s, "\n", "; ")
}
