package state

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestOpenRoot(t *testing.T) {
	me := os.Getuid()
	tests := []struct {
		name    string
		prepare func(t *testing.T, p string)
		uid     int    // the user rbox runs as
		problem string // "" for accepted
	}{
		{name: "missing is created 0700", prepare: func(*testing.T, string) {}, uid: me},
		{name: "private directory", prepare: mkdir(0o700), uid: me},
		{name: "another user's", prepare: mkdir(0o700), uid: me + 1, problem: "belongs to uid"},
		{name: "mode 0755", prepare: mkdir(0o755), uid: me, problem: "has mode 0755"},
		{name: "mode 0770", prepare: mkdir(0o770), uid: me, problem: "has mode 0770"},
		{name: "sticky 1777", prepare: mkdir(0o1777), uid: me, problem: "has mode 1777"},
		{name: "symlink to a private directory", prepare: func(t *testing.T, p string) {
			target := filepath.Join(t.TempDir(), "real")
			must(t, os.Mkdir(target, 0o700))
			must(t, os.Symlink(target, p))
		}, uid: me, problem: "is a symlink"},
		{name: "dangling symlink", prepare: func(t *testing.T, p string) {
			must(t, os.Symlink("/nonexistent/rbox", p))
		}, uid: me, problem: "is a symlink"},
		{name: "regular file", prepare: func(t *testing.T, p string) {
			must(t, os.WriteFile(p, nil, 0o600))
		}, uid: me, problem: "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "rbox-x")
			tt.prepare(t, p)
			f, err := OpenRoot(p, tt.uid)
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				f.Close()
				st, err := os.Lstat(p)
				if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
					t.Fatalf("after OpenRoot: %v %v, want a 0700 directory", st.Mode(), err)
				}
				return
			}
			var fe *ForeignError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.problem) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want a ForeignError naming %q and %q", err, p, tt.problem)
			}
		})
	}
}

func mkdir(mode os.FileMode) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		must(t, os.Mkdir(p, 0o700))
		must(t, os.Chmod(p, mode|modeBits(mode)))
	}
}

// modeBits carries the sticky bit, which os.FileMode spells apart.
func modeBits(mode os.FileMode) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Resolving as the user: XDG_RUNTIME_DIR first, then TMPDIR/rbox-UID;
// a directory of one's own that is wrong is refused with its fix.
func TestResolve(t *testing.T) {
	me := os.Getuid()
	run := t.TempDir()
	r, err := Resolve(Env{RuntimeDir: run, TempDir: "/nonexistent", UID: me})
	if err != nil || r.Path != filepath.Join(run, "rbox") || r.Notice != "" {
		t.Fatalf("with XDG_RUNTIME_DIR: %+v %v", r, err)
	}
	tmp := t.TempDir()
	r, err = Resolve(Env{TempDir: tmp, UID: me})
	if err != nil || r.Path != filepath.Join(tmp, "rbox-"+itoa(me)) || r.Notice != "" {
		t.Fatalf("with TMPDIR: %+v %v", r, err)
	}
	must(t, os.Chmod(r.Path, 0o755))
	if _, err := Resolve(Env{TempDir: tmp, UID: me, Home: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("own root with mode 0755: %v, want a refusal naming chmod 700", err)
	}
}

// Another user's rbox-UID in TMPDIR: a recorded fallback that every later
// resolve finds again; a tampered record is not followed. Making a
// directory of another uid takes root.
func TestResolveFallback(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to plant a directory of another uid (the attack suite does it for real)")
	}
	// Resolving as root (uid 0) against an rbox-0 that uid 4242 made.
	tmp, home := t.TempDir(), t.TempDir()
	must(t, os.Chmod(tmp, 0o1777))
	usual := filepath.Join(tmp, "rbox-0")
	must(t, os.Mkdir(usual, 0o777))
	must(t, os.Chown(usual, 4242, 4242))
	env := Env{TempDir: tmp, Home: home, UID: 0}

	first, err := Resolve(env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.Path, usual+"-") || !strings.Contains(first.Notice, "belongs to uid 4242") ||
		!strings.Contains(first.Notice, first.Path) || !strings.Contains(first.Notice, "XDG_RUNTIME_DIR=") {
		t.Fatalf("fallback %+v", first)
	}
	again, err := Resolve(env)
	if err != nil || again.Path != first.Path {
		t.Fatalf("second resolve: %+v %v, want %s again", again, err, first.Path)
	}
	// A record pointing at a directory that is not a fallback root is
	// not believed: a fresh root replaces it.
	record := filepath.Join(home, recordFile)
	must(t, os.WriteFile(record, []byte(usual+"\n"), 0o600))
	other, err := Resolve(env)
	if err != nil || other.Path == usual || !strings.HasPrefix(other.Path, usual+"-") {
		t.Fatalf("tampered record: %+v %v", other, err)
	}
	// A symlink in place of the record is replaced, not followed.
	target := filepath.Join(t.TempDir(), "elsewhere")
	must(t, os.WriteFile(target, []byte(first.Path+"\n"), 0o600))
	must(t, os.Remove(record))
	must(t, os.Symlink(target, record))
	third, err := Resolve(env)
	if err != nil || third.Path == first.Path {
		t.Fatalf("symlinked record: %+v %v, want a fresh root", third, err)
	}
	if st, err := os.Lstat(record); err != nil || !st.Mode().IsRegular() {
		t.Fatalf("record after a symlink: %v %v", st, err)
	}
	if b, _ := os.ReadFile(target); string(b) != first.Path+"\n" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	// Without a home there is nowhere to record: one line with the fix.
	if _, err := Resolve(Env{TempDir: tmp, UID: 0}); err == nil || !strings.Contains(err.Error(), "set XDG_RUNTIME_DIR") {
		t.Fatalf("no home: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
