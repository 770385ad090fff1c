package probe

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestOf(t *testing.T) {
	base := errors.New("x")
	cases := []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"untied", base, nil},
		{"wrapped", fmt.Errorf("ctx: %w", Wrap(base, Overlay)), []string{Overlay}},
		{"nested", Wrap(fmt.Errorf("a: %w", Wrap(base, Fuse)), Overlay), []string{Overlay, Fuse}},
		{"joined", fmt.Errorf("%w; fallback: %w", Wrap(base, Overlay), Wrap(base, Fuse)), []string{Overlay, Fuse}},
		{"once", Wrap(Wrap(base, Tun), Tun), []string{Tun}},
	}
	for _, c := range cases {
		if got := Of(c.err); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if Wrap(nil, Tun) != nil || Wrap(base) != base {
		t.Error("Wrap must leave nil and untied errors as they are")
	}
	if e := Wrap(base, Tun); e.Error() != "x" || !errors.Is(e, base) {
		t.Error("Wrap must keep the text and the chain")
	}
}
