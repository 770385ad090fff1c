package state

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLockHeld(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	if LockHeld(p) {
		t.Fatal("a missing lock is held")
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if LockHeld(p) {
		t.Fatal("an unlocked file is held")
	}
	// flock locks belong to the open file description: a second open
	// (LockHeld's) conflicts with this one's.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if !LockHeld(p) {
		t.Fatal("a locked file is not held")
	}
}
