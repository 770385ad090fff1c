package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/rbox-sandbox/rbox/cgroupv2"
	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/slirp"
)

// validHostname accepts letters, digits, '-' and '.', at most 64
// characters, starting and ending with a letter or digit. (No regexp: its
// package-level compile would run in every start of the init too.)
func validHostname(h string) bool {
	if h == "" || len(h) > 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		edge := i == 0 || i == len(h)-1
		if !alnum && (edge || c != '-' && c != '.') {
			return false
		}
	}
	return true
}

// Validate checks a Spec and makes its host paths absolute. Each error is
// one line that names the bad value and what to do.
func Validate(s *Spec) error {
	if s.Rootfs == "" {
		return errors.New("no rootfs: use --rootfs DIR (make testdata builds a busybox one)")
	}
	abs, err := filepath.Abs(s.Rootfs)
	if err != nil {
		return fmt.Errorf("rootfs %q: %w", s.Rootfs, err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("rootfs %q does not exist: point --rootfs at an unpacked image directory", s.Rootfs)
	case err != nil:
		return fmt.Errorf("rootfs %q: %w", s.Rootfs, err)
	case !st.IsDir():
		return fmt.Errorf("rootfs %q is not a directory: point --rootfs at an unpacked image directory", s.Rootfs)
	}
	s.Rootfs = abs
	if len(s.Args) == 0 || s.Args[0] == "" {
		return errors.New("no command: use rbox exec --rootfs DIR -- CMD [ARGS...]")
	}
	mode, err := slirp.ParseMode(s.Net)
	if err != nil {
		return err
	}
	if err := slirp.CheckMTU(s.MTU); err != nil {
		return err
	}
	if s.MTU != 0 && !mode.UserMode() {
		return fmt.Errorf("--mtu %d needs --net slirp or --net pasta, not --net %s", s.MTU, s.Net)
	}
	if len(s.Ports) > 0 && !mode.UserMode() {
		return fmt.Errorf("-p %s needs --net slirp or --net pasta, not --net %s: under host the sandbox's ports are the host's already, under none nothing can reach it", s.Ports[0], s.Net)
	}
	if err := slirp.CheckPorts(s.Ports); err != nil {
		return err
	}
	if err := overlay.CheckDriver(s.Overlay); err != nil {
		return err
	}
	switch s.IDMap {
	case IDMapAuto, IDMapFull, IDMapSingle:
	default:
		return fmt.Errorf("invalid --idmap %q: use auto, full or single", s.IDMap)
	}
	if s.Cwd != "" && !path.IsAbs(s.Cwd) {
		return fmt.Errorf("invalid -w %q: the working directory must be an absolute path", s.Cwd)
	}
	if s.Hostname != "" && !validHostname(s.Hostname) {
		return fmt.Errorf("invalid --hostname %q: use letters, digits, '-' and '.', at most 64 characters", s.Hostname)
	}
	if s.Name != "" && !validName(s.Name) {
		return fmt.Errorf("invalid --name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit, at most 64 characters", s.Name)
	}
	if s.User != "" {
		if err := CheckUser(s.User); err != nil {
			return err
		}
	}
	if s.Timeout < 0 {
		return fmt.Errorf("invalid --timeout %s: a duration must not be negative; give one such as 90s or 5m, or leave it out", s.Timeout)
	}
	if s.StopTimeout < 0 {
		return fmt.Errorf("invalid --stop-timeout %s: a duration must not be negative; give one such as 10s", s.StopTimeout)
	}
	if s.Timeout > 0 && s.StopTimeout == 0 {
		s.StopTimeout = 10 * time.Second
	}
	if err := validatePersist(s); err != nil {
		return err
	}
	if s.Seccomp != "" && s.Seccomp != SeccompDefault && s.Seccomp != SeccompUnconfined {
		abs, err := filepath.Abs(s.Seccomp)
		if err != nil {
			return fmt.Errorf("--seccomp %q: %w", s.Seccomp, err)
		}
		s.Seccomp = abs
	}
	if _, _, err := hardening(s); err != nil {
		return err
	}
	if err := validateCgroup(s); err != nil {
		return err
	}
	for i, v := range s.Volumes {
		if _, err := os.Stat(v.Source); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("invalid -v %s:%s: host path %q does not exist; create it first", v.Source, v.Target, v.Source)
		} else if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("invalid -v %s:%s: host path %q is out of your reach (permission denied on the way to it); make its directories searchable by you (chmod +x) or mount another path", v.Source, v.Target, v.Source)
		} else if err != nil {
			return fmt.Errorf("invalid -v %s:%s: %w", v.Source, v.Target, err)
		}
		if v.Target == "/" {
			return fmt.Errorf("invalid -v %s:%s: cannot mount over the sandbox's root; use --rootfs", v.Source, v.Target)
		}
		s.Volumes[i] = v
	}
	if err := checkVolumesAgainstLayer(s); err != nil {
		return err
	}
	for _, t := range s.Tmpfs {
		if t.Target == "/" {
			return errors.New("invalid --tmpfs /: cannot mount over the sandbox's root")
		}
	}
	return nil
}

func validateCgroup(s *Spec) error {
	k, err := cgroupv2.ParseKind(string(s.CgroupManager))
	if err != nil {
		return err
	}
	s.CgroupManager = k
	switch s.Stats {
	case "", StatsText, StatsJSON:
	default:
		return fmt.Errorf("invalid --stats %q: use --stats (text) or --stats=json", s.Stats)
	}
	return s.Limits.Validate()
}

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return false
		}
	}
	return true
}
