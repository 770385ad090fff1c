package probe

import "errors"

// Names of rbox check's probes that errors are tied to.
const (
	UserNS      = "userns"
	SubUID      = "subuid"
	SubGID      = "subgid"
	NewUIDMap   = "newuidmap"
	NewGIDMap   = "newgidmap"
	IDMap       = "idmap"
	Overlay     = "overlay"
	Fuse        = "fuse"
	Slirp       = "slirp"
	Tun         = "tun"
	Cgroup      = "cgroup"
	Systemd     = "systemd"
	Controllers = "controllers"
	// Seccomp, Proc and Sys: what an outer container runtime did.
	Seccomp = "seccomp"
	Proc    = "proc"
	Sys     = "sys"
)

// Error is an error tied to the probes that explain it. Its text is the
// wrapped error's.
type Error struct {
	Probes []string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap ties err to probes; nil stays nil.
func Wrap(err error, probes ...string) error {
	if err == nil || len(probes) == 0 {
		return err
	}
	return &Error{Probes: probes, Err: err}
}

// Of lists the probes err's chain is tied to, outermost first, each once.
func Of(err error) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		for err != nil {
			if e, ok := err.(*Error); ok {
				for _, p := range e.Probes {
					if !seen[p] {
						seen[p] = true
						out = append(out, p)
					}
				}
			}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
				return
			}
			err = errors.Unwrap(err)
		}
	}
	walk(err)
	return out
}
