package userns

import (
	"slices"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	for _, c := range []struct {
		base, over, want []string
	}{
		{nil, nil, nil},
		{[]string{"A=1", "B=2"}, nil, []string{"A=1", "B=2"}},
		{[]string{"A=1", "B=2"}, []string{"B=3"}, []string{"A=1", "B=3"}},
		{[]string{"A=1"}, []string{"C=", "A=x=y"}, []string{"C=", "A=x=y"}},
	} {
		if got := mergeEnv(c.base, c.over); !slices.Equal(got, c.want) {
			t.Errorf("mergeEnv(%q, %q) = %q, want %q", c.base, c.over, got, c.want)
		}
	}
}

// A child that exits before its session waits still gets its status, and
// statuses of children nobody waits for are dropped.
func TestChildrenRouting(t *testing.T) {
	var k children
	k.exited(99, 1) // an orphan the init reaped: nobody waits
	pid, st, err := k.start(func() (int, error) { return 42, nil })
	if err != nil || pid != 42 {
		t.Fatal(pid, err)
	}
	k.exited(42, 7)
	if got := <-st; got != 7 {
		t.Errorf("status %d, want 7", got)
	}
	k.exited(42, 8) // a reused pid later: no stale waiter, no block
	var nilKids *children
	nilKids.exited(1, 0)
}
