package sandbox

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"

	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/probe"
)

// The ID-map policy: which map a Spec gets on this host.

// planIDMap picks the mapping: explicit mappings as given; else the
// user's subordinate ranges when they and the helpers exist, else the
// user alone, with a warning unless asked for.
func planIDMap(s *Spec, env Env) (idmap.Plan, idmap.Helpers, *FieldError, error) {
	if env.SubUIDFile == "" {
		env.SubUIDFile = "/etc/subuid"
	}
	if env.SubGIDFile == "" {
		env.SubGIDFile = "/etc/subgid"
	}
	uid, gid := env.UID, env.GID
	single := idmap.Single(uid, gid)
	if len(s.UIDMappings) > 0 {
		return explicitIDMap(s, single)
	}
	if s.IDMap == IDMapSingle {
		return single, idmap.Helpers{}, nil, nil
	}
	name := strconv.Itoa(int(uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	subuid, err := idmap.ReadSubID(env.SubUIDFile, name, uid)
	if err != nil {
		return idmap.Plan{}, idmap.Helpers{}, nil, probe.Wrap(err, probe.SubUID)
	}
	subgid, err := idmap.ReadSubID(env.SubGIDFile, name, uid)
	if err != nil {
		return idmap.Plan{}, idmap.Helpers{}, nil, probe.Wrap(err, probe.SubGID)
	}
	helpers, why := idmap.FindHelpers()
	switch {
	case len(subuid) == 0:
		why = probe.Wrap(fmt.Errorf("no range for user %q in %s", name, env.SubUIDFile), probe.SubUID)
	case len(subgid) == 0:
		why = probe.Wrap(fmt.Errorf("no range for user %q in %s", name, env.SubGIDFile), probe.SubGID)
	}
	if why == nil {
		plan, err := idmap.Full(uid, gid, subuid, subgid)
		if err != nil {
			return idmap.Plan{}, idmap.Helpers{}, nil, err
		}
		return plan, helpers, nil, nil
	}
	if s.IDMap == IDMapFull {
		return idmap.Plan{}, idmap.Helpers{}, nil, fieldErr("IDMap", s.IDMap, "{IDMap} full: %w; add NAME:START:COUNT lines (see rbox check) or use {IDMap} single", why)
	}
	warn := fieldErr("IDMap", s.IDMap, "%w: mapping only your uid %d to root (rbox check, probe %s, says how to fix it; {IDMap} single hides this warning)", why, uid, probe.Of(why)[0])
	return single, idmap.Helpers{}, warn, nil
}

// explicitIDMap takes a front end's mappings as they are: the user alone
// as root is the single map the clone writes; anything else needs the
// setuid helpers, which check it against /etc/subuid themselves.
func explicitIDMap(s *Spec, single idmap.Plan) (idmap.Plan, idmap.Helpers, *FieldError, error) {
	p := idmap.Plan{UID: s.UIDMappings, GID: s.GIDMappings}
	if sameMap(p.UID, single.UID) && sameMap(p.GID, single.GID) {
		return p, idmap.Helpers{}, nil, nil
	}
	p.Full = true
	h, err := idmap.FindHelpers()
	if err != nil {
		return idmap.Plan{}, idmap.Helpers{}, nil, fieldErr("UIDMappings", "", "{UIDMappings} map IDs besides your own, which takes newuidmap and newgidmap: %w", err)
	}
	return p, h, nil, nil
}

func sameMap(a, b []idmap.Mapping) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mapName(p idmap.Plan) string {
	if p.Full {
		return fmt.Sprintf("full (%d uids, %d gids)", idmap.Size(p.UID), idmap.Size(p.GID))
	}
	return "single"
}

// checkNumericUser refuses an unmapped numeric -u UID[:GID] before
// anything starts; names are checked inside, where the image's /etc/passwd
// is.
func checkNumericUser(spec string, plan idmap.Plan) error {
	u, g, _ := strings.Cut(spec, ":")
	if n, err := strconv.ParseUint(u, 10, 32); err == nil {
		if err := idmap.CheckMapped(plan, "uid", uint32(n)); err != nil {
			return fieldErr("User", spec, "{User} %s: %w", spec, err)
		}
	}
	if n, err := strconv.ParseUint(g, 10, 32); err == nil {
		if err := idmap.CheckMapped(plan, "gid", uint32(n)); err != nil {
			return fieldErr("User", spec, "{User} %s: %w", spec, err)
		}
	}
	return nil
}
