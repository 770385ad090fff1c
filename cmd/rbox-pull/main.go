// Command rbox-pull is the part of rbox pull that talks to registries and
// reads layouts and archives. rbox execs it (replacing itself) so that
// go-containerregistry's package init stays out of every rbox exec; it is
// not meant to be run by hand.
//
//	rbox-pull RBOX tls-verify|no-tls-verify REF
//	rbox-pull RBOX import DIR|TARBALL|- NAME
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/rbox-sandbox/rbox/image"
	"github.com/rbox-sandbox/rbox/image/fetch"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 5 && os.Args[2] == "import":
		err = importImage(os.Args[1], os.Args[3], os.Args[4])
	case len(os.Args) == 4:
		err = pull(os.Args[1], os.Args[2] == "no-tls-verify", os.Args[3])
	default:
		fmt.Fprintln(os.Stderr, "rbox-pull: run rbox pull, not rbox-pull")
		os.Exit(125)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbox: %v\n", err)
		os.Exit(125)
	}
}

func pull(rbox string, insecure bool, arg string) error {
	r, s, ctx, done, err := beginWrite("REF", arg)
	if err != nil {
		return err
	}
	defer done()
	var scratch []string
	defer func() {
		for _, d := range scratch {
			os.RemoveAll(d)
		}
	}()
	f, err := fetch.Open(ctx, r, insecure, func() (string, error) {
		d, err := s.Scratch()
		if err == nil {
			scratch = append(scratch, d)
		}
		return d, err
	})
	if err != nil {
		return err
	}
	rec, err := s.Pull(ctx, r, f, image.PullOptions{Progress: os.Stderr, Terminal: term.IsTerminal(int(os.Stderr.Fd())), Executable: rbox})
	if err != nil {
		return err
	}
	fmt.Println(rec.Config)
	return nil
}

// beginWrite parses the reference given as what (REF, NAME), opens the
// user's store and takes its pull lock, with a context that SIGINT and
// SIGTERM cancel; done releases both.
func beginWrite(what, arg string) (image.Ref, *image.Store, context.Context, func(), error) {
	r, err := image.ParseRef(arg)
	if err != nil {
		return image.Ref{}, nil, nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	root, err := image.DefaultRoot()
	if err != nil {
		return image.Ref{}, nil, nil, nil, err
	}
	s, err := image.OpenStore(root)
	if err != nil {
		return image.Ref{}, nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	release, err := s.Begin()
	if err != nil {
		stop()
		return image.Ref{}, nil, nil, nil, err
	}
	return r, s, ctx, func() { release(); stop() }, nil
}
