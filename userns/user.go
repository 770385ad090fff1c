package userns

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/rbox-sandbox/rbox/idmap"
)

// execUser is the identity the workload runs as.
type execUser struct {
	UID, GID uint32
	Groups   []uint32
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// parsePasswd reads /etc/passwd lines; malformed lines are skipped, as libc
// does, since the image's file is the image author's business.
func parsePasswd(r io.Reader) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 7 || f[0] == "" {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]})
	}
	return out
}

func parseGroup(r io.Reader) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 || f[0] == "" {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, groupEntry{name: f[0], gid: uint32(gid), members: members})
	}
	return out
}

// resolveUser turns a -u value (empty, UID, UID:GID, NAME, NAME:GROUP, or
// mixes) into an identity, with the image's passwd and group as the
// database.
func resolveUser(spec string, pw []passwdEntry, gr []groupEntry) (execUser, error) {
	u := execUser{Home: "/"}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	var entry *passwdEntry
	if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(n)
		for i := range pw {
			if pw[i].uid == u.UID {
				entry = &pw[i]
				break
			}
		}
	} else {
		for i := range pw {
			if pw[i].name == userPart {
				entry = &pw[i]
				break
			}
		}
		if entry == nil {
			return u, fmt.Errorf("-u %s: user %q not found in the sandbox's /etc/passwd; use a numeric UID or add the user to the image", spec, userPart)
		}
		u.UID = entry.uid
	}
	if entry != nil {
		u.GID = entry.gid
		if entry.home != "" {
			u.Home = entry.home
		}
		// As initgroups(3): the primary group, then every group that
		// lists the user.
		u.Groups = []uint32{u.GID}
		for _, g := range gr {
			for _, m := range g.members {
				if m == entry.name && g.gid != u.GID {
					u.Groups = append(u.Groups, g.gid)
				}
			}
		}
	}
	if hasGroup {
		if groupPart == "" {
			return u, fmt.Errorf("-u %s: empty group; use UID:GID or NAME:GROUP", spec)
		}
		if n, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(n)
		} else {
			found := false
			for _, g := range gr {
				if g.name == groupPart {
					u.GID, found = g.gid, true
					break
				}
			}
			if !found {
				return u, fmt.Errorf("-u %s: group %q not found in the sandbox's /etc/group; use a numeric GID or add the group to the image", spec, groupPart)
			}
		}
		// An explicit group replaces the user's supplementary groups, as
		// docker does.
		u.Groups = []uint32{u.GID}
	}
	return u, nil
}

// lookupUser reads the image's databases through root, so that a symlinked
// /etc/passwd cannot make us read a host file.
func lookupUser(root *os.File, spec string) (execUser, error) {
	pw := parsePasswd(openInRoot(root, "/etc/passwd"))
	gr := parseGroup(openInRoot(root, "/etc/group"))
	return resolveUser(spec, pw, gr)
}

// openInRoot opens a file for reading inside root; a missing or unreadable
// file reads as empty.
func openInRoot(root *os.File, p string) io.Reader {
	h, err := pathrs.OpenatInRoot(root, p)
	if err != nil {
		return strings.NewReader("")
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return strings.NewReader("")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return strings.NewReader("")
	}
	return strings.NewReader(string(b))
}

// checkMapped refuses an identity the user namespace cannot represent,
// before the kernel answers setuid with a bare EINVAL.
func checkMapped(cfg *Config, u *execUser) error {
	if !cfg.IDMap.Full {
		// setgroups is denied with a single map, and no group but 0 exists.
		u.Groups = nil
	}
	if err := idmap.CheckMapped(cfg.IDMap, "uid", u.UID); err != nil {
		return failure(125, "-u %s: %w", cfg.User, err)
	}
	for _, g := range append([]uint32{u.GID}, u.Groups...) {
		if err := idmap.CheckMapped(cfg.IDMap, "gid", g); err != nil {
			return failure(125, "-u %s: %w", cfg.User, err)
		}
	}
	return nil
}
