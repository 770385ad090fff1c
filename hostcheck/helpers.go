package hostcheck

import (
	"context"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
)

// helperMode judges a newuidmap/newgidmap binary from its mode, owner,
// file capabilities and mount flags: it must be able to raise privileges.
func helperMode(mode os.FileMode, uid uint32, hasCaps, nosuid bool) (how string, problem string) {
	switch {
	case nosuid:
		return "", "it sits on a filesystem mounted nosuid, where neither the setuid bit nor file capabilities work"
	case mode&os.ModeSetuid != 0 && uid == 0:
		return "setuid root", ""
	case hasCaps:
		return "file capabilities", ""
	case mode&os.ModeSetuid != 0:
		return "", fmt.Sprintf("it is setuid to uid %d, not root", uid)
	}
	return "", "it has neither the setuid bit nor file capabilities"
}

// probeHelper finds newuidmap or newgidmap in PATH and checks that it can
// write a map for an unprivileged user. It returns the path of what rbox
// exec would run, even one that fails the check: the idmap try shows
// what running it does.
func probeHelper(h *Host, name string) (Result, string) {
	p, found := lookPath(name, h.Path)
	if !found {
		return fail(name, "as root: apt-get install uidmap (Debian, Ubuntu), dnf install shadow-utils (Fedora), or put it in PATH",
			"%s not found in PATH (%s)", name, h.Path), ""
	}
	st, err := os.Stat(p)
	if err != nil {
		return fail(name, "", "%v", err), ""
	}
	var sys unix.Stat_t
	unix.Stat(p, &sys)
	_, xerr := unix.Getxattr(p, "security.capability", nil)
	var fs unix.Statfs_t
	nosuid := unix.Statfs(p, &fs) == nil && fs.Flags&unix.ST_NOSUID != 0
	how, problem := helperMode(st.Mode(), sys.Uid, xerr == nil, nosuid)
	if problem != "" {
		fix := fmt.Sprintf("as root: chown root %s && chmod u+s %s (or reinstall the uidmap package)", p, p)
		if nosuid {
			fix = "use the copy from the uidmap package on a filesystem without nosuid (PATH order decides which rbox runs)"
		}
		return fail(name, fix, "%s: %s", p, problem), p
	}
	return ok(name, "%s (%s)", p, how), p
}

// probeIDMap writes the user's full ID map into a waiting child's user
// namespace with the helpers, as rbox exec does.
func probeIDMap(ctx context.Context, h *Host, r *Report, subuid, subgid []idmap.Range, newuidmap, newgidmap string) Result {
	const name = "idmap"
	var missing []string
	for _, m := range []struct {
		probe string
		gone  bool
	}{{"userns", !r.ok("userns")}, {"subuid", len(subuid) == 0}, {"subgid", len(subgid) == 0}, {"newuidmap", newuidmap == ""}, {"newgidmap", newgidmap == ""}} {
		if m.gone {
			missing = append(missing, m.probe)
		}
	}
	if len(missing) > 0 {
		return skip(name, "not tried: needs probe %s (without it rbox exec maps only you, to root)", strings.Join(missing, ", "))
	}
	plan, err := idmap.Full(h.UID, h.GID, subuid, subgid)
	if err != nil {
		return fail(name, "", "plan the map: %v", err)
	}
	if h.Exe == "" {
		return ok(name, "not tried")
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	cmd := h.helper(ctx, unix.CLONE_NEWUSER, false, "wait")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fail(name, "", "%v", err)
	}
	if err := cmd.Start(); err != nil {
		return fail(name, "see probe userns", "start a child in a user namespace: %v", err)
	}
	aerr := idmap.Apply(plan, cmd.Process.Pid, idmap.Helpers{NewUIDMap: newuidmap, NewGIDMap: newgidmap})
	var lines int
	if aerr == nil {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", cmd.Process.Pid))
		lines = len(strings.Split(strings.TrimSpace(string(b)), "\n"))
	}
	stdin.Close()
	cmd.Wait()
	if aerr != nil {
		fix := "the helpers refused the map that /etc/subuid and /etc/subgid allow: check their lines for this user, and that the helpers are the distribution's"
		for _, p := range []string{"newuidmap", "newgidmap"} {
			if res := r.Get(p); res.Status == Fail {
				fix = "see probe " + p + ": " + res.Fix
				break
			}
		}
		return fail(name, fix, "%v", aerr)
	}
	return ok(name, "%d uids and %d gids mapped by newuidmap/newgidmap in a test namespace (%d uid_map lines)",
		idmap.Size(plan.UID), idmap.Size(plan.GID), lines)
}
