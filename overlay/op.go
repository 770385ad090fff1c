package overlay

import (
	"encoding/json"
	"fmt"
)

// MountOp is the init's overlay op (userns.Externals.Overlay): data is a
// Config as JSON, and the overlay is mounted on the host directory target.
// The init calls it through the Externals that cmd/rbox hands it, so that
// userns does not import this package: an OCI bundle's root, prepared by
// the engine, needs no overlay at all.
func MountOp(data json.RawMessage, target string) (string, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return "", fmt.Errorf("overlay op: %w", err)
	}
	driver, err := Mount(c, target)
	if err != nil {
		return "", fmt.Errorf("mount rootfs %q: %w", c.Lower, err)
	}
	return fmt.Sprintf("%s overlay, lower %q, upper %q", driver, c.Lower, c.Upper), nil
}
