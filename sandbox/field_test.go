package sandbox

import (
	"errors"
	"os"
	"testing"
)

func TestFieldErrorRender(t *testing.T) {
	e := fieldErr("Persist", "/a{b}", "{Persist} %q and {ReadOnly} conflict: %w", "/a{b}", os.ErrExist)
	if got, want := e.Error(), `Persist "/a{b}" and ReadOnly conflict: file already exists`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	flag := map[string]string{"Persist": "--persist", "ReadOnly": "--read-only"}
	if got, want := e.Render(func(f string) string { return flag[f] }), `--persist "/a{b}" and --read-only conflict: file already exists`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(e, os.ErrExist) || e.Field != "Persist" || e.Value != "/a{b}" {
		t.Errorf("cause, field or value lost: %#v", e)
	}
}
