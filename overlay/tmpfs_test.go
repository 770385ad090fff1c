package overlay

import "testing"

// UnfitForUpper judges the filesystem under a directory by its statfs
// type (the integration tests mount the real ones); a path statfs cannot
// read is left to the mount.
func TestUnfitForUpper(t *testing.T) {
	if fs := UnfitForUpper("/nonexistent-rbox"); fs != "" {
		t.Errorf("UnfitForUpper of a missing path = %q, want \"\" (the mount says what is wrong)", fs)
	}
	for magic, name := range map[int64]string{0x794c7630: "overlayfs", 0x6969: "NFS", 0x65735546: "FUSE"} {
		if noUpper[magic] != name {
			t.Errorf("noUpper[%#x] = %q, want %q", magic, noUpper[magic], name)
		}
	}
}
