// Command rbox runs a command in a rootless sandbox.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/alecthomas/kong"

	"github.com/rbox-sandbox/rbox/hostcheck"
	"github.com/rbox-sandbox/rbox/image"
	"github.com/rbox-sandbox/rbox/overlay"
	"github.com/rbox-sandbox/rbox/sandbox"
	"github.com/rbox-sandbox/rbox/slirp"
	"github.com/rbox-sandbox/rbox/userns"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses of rbox's own failures, as docker and podman use them.
const (
	exitFailure = 125
)

type cli struct {
	Exec        execCmd        `cmd:"" help:"Run a command in a new sandbox."`
	Ps          psCmd          `cmd:"" help:"List sandboxes."`
	Enter       enterCmd       `cmd:"" help:"Run a command inside a running sandbox, with its namespaces, root and restrictions."`
	Logs        logsCmd        `cmd:"" help:"Print the output of a detached sandbox."`
	Kill        killCmd        `cmd:"" help:"Send a signal to a sandbox's workload."`
	Wait        waitCmd        `cmd:"" help:"Wait for a sandbox to end; exit with its status."`
	Rm          rmCmd          `cmd:"" help:"Remove exited detached sandboxes."`
	Pull        pullCmd        `cmd:"" help:"Fetch an image into the layer store."`
	Images      imagesCmd      `cmd:"" help:"List the images in the layer store."`
	Rmi         rmiCmd         `cmd:"" help:"Remove images and the layers no other image uses."`
	Image       imageCmd       `cmd:"" help:"Manage the layer store."`
	RemoveLayer removeLayerCmd `cmd:"" name:"remove-layer" help:"Delete a --persist directory, files owned by subordinate IDs included."`
	Check       checkCmd       `cmd:"" help:"Probe this host for what rbox needs; say how to fix each problem."`
	Version     versionCmd     `cmd:"" help:"Print the rbox version."`
	Completion  completionCmd  `cmd:"" help:"Print a shell completion script (bash, zsh, fish)."`

	VersionFlag kong.VersionFlag `name:"version" help:"Print the rbox version and exit."`
}

func main() {
	// The sandbox init is not a user command: dispatch it before the CLI
	// parses anything, so no flag or help text can reach it.
	if len(os.Args) > 1 && os.Args[1] == userns.InitArg {
		// The ops the init cannot implement without importing policy:
		// they are wired here, where both sides are linked in anyway.
		userns.Main(userns.Externals{Overlay: overlay.MountOp, Network: slirp.ChildOp, Tap: slirp.MakeTap})
		return
	}
	if len(os.Args) > 1 && os.Args[1] == userns.ReaperArg {
		userns.ReapMain()
	}
	if len(os.Args) > 1 && os.Args[1] == slirp.WatchdogArg {
		slirp.Watchdog()
	}
	if len(os.Args) > 1 && os.Args[1] == sandbox.SuperviseArg {
		os.Exit(supervise())
	}
	if len(os.Args) > 1 && os.Args[1] == image.HelperArg {
		os.Exit(image.HelperMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == hostcheck.HelperArg {
		os.Exit(hostcheck.HelperMain(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

// execCLI is the CLI of rbox exec alone. Kong builds its model of
// every command by reflection on each start, and exec's flags are half
// of it: the start of every sandbox pays for exec's alone. Help and
// errors are exec's either way (TestExecModel).
type execCLI struct {
	Exec        execCmd          `cmd:"" help:"Run a command in a new sandbox."`
	VersionFlag kong.VersionFlag `name:"version" help:"Print the rbox version and exit."`
}

func run(args []string) int {
	var grammar any = &cli{}
	if len(args) > 0 && args[0] == "exec" {
		grammar = &execCLI{}
	}
	parser, err := newParser(grammar)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbox: %v\n", err)
		return exitFailure
	}
	app = parser.Model
	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbox: %v (see rbox --help)\n", err)
		return exitFailure
	}
	code, err := dispatch(ctx)
	err = flagError(err)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbox: %v\n", err)
	}
	return exitStatus(code, err)
}

// exitStatus is the status rbox exits with when a command returns (code,
// err): commands carry their status in code alone, and an error without
// one is rbox's own failure.
func exitStatus(code int, err error) int {
	if err != nil && code == 0 {
		return exitFailure
	}
	return code
}

// newParser builds the CLI over c. Kong exits 80 on usage errors; rbox
// uses 125 for them, as for every failure of its own.
func newParser(c any) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("rbox"),
		kong.Description("Run commands in rootless sandboxes: user namespaces, an overlay root, no sudo."),
		kong.UsageOnError(),
		kong.Vars{"version": versionString()},
		kong.Exit(func(code int) {
			if code != 0 {
				code = exitFailure
			}
			os.Exit(code)
		}),
	)
}

// dispatch runs the selected command; commands return their exit status.
func dispatch(ctx *kong.Context) (int, error) {
	type runner interface{ run() (int, error) }
	r, ok := ctx.Selected().Target.Addr().Interface().(runner)
	if !ok {
		return exitFailure, fmt.Errorf("no command %q", ctx.Command())
	}
	return r.run()
}

type versionCmd struct{}

func (versionCmd) run() (int, error) {
	fmt.Println(versionString())
	return 0, nil
}

// versionString is what rbox version and rbox --version print.
func versionString() string {
	return fmt.Sprintf("rbox %s (%s, %s/%s)", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

type removeLayerCmd struct {
	Dir string `arg:"" help:"The directory given to --persist." placeholder:"DIR"`
}

func (c *removeLayerCmd) run() (int, error) {
	err := sandbox.RemoveLayer(c.Dir, sandbox.Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		return exitFailure, err
	}
	return 0, nil
}
