package main

import (
	"fmt"
	"os"
)

const usage = `usage: benchtool COMMAND [flags] [args]

commands:
  hyperfine -title T [-ref NAME]... [-rows FILE] [-sub NAME=A,B]... [-figures FILE -prefix P] JSON...
  goals FIGURES
  gentar -files N -out FILE
  gentree -bytes N -dir DIR
  genlayer -bytes N [-seed S] -out FILE
  oci -out DIR [-tag T] [-cmd CMD] LAYER.tar...
  lifecycle -runtime R -root DIR -bundle DIR [-id ID] | -noop
  memtree -pid PID -want COMM [-also COMM]... [-timeout D] [-settle D]
  iperf3 FILE
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"hyperfine": cmdHyperfine,
		"goals":     cmdGoals,
		"gentar":    cmdGentar,
		"gentree":   cmdGentree,
		"genlayer":  cmdGenlayer,
		"oci":       cmdOCI,
		"memtree":   cmdMemtree,
		"lifecycle": cmdLifecycle,
		"iperf3":    cmdIperf3,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "benchtool: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
