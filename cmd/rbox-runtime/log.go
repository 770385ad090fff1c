package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// logger writes the runtime's errors to stderr and, with --log, to the
// log file in --log-format. The engines read that file: podman (with
// runtime_supports_json) decodes the whole file as one JSON object and
// maps its msg to exit codes 126 and 127 by its words; containerd's shim
// takes the msg of the last level=error line. So the file gets one line
// per entry, and without --debug only the error, once.
type logger struct {
	stderr io.Writer
	file   *os.File
	json   bool
	debug  bool
}

func openLog(g *global, stderr io.Writer) *logger {
	l := &logger{stderr: stderr, json: g.logFormat == "json", debug: g.debug}
	if g.logFile != "" {
		f, err := os.OpenFile(g.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "rbox-runtime: --log %q: %v\n", g.logFile, err)
		} else {
			l.file = f
		}
	}
	return l
}

func (l *logger) close() {
	if l.file != nil {
		l.file.Close()
	}
}

// error reports msg: one line on stderr, one entry in the log.
func (l *logger) error(msg string) {
	msg = oneLine(msg)
	fmt.Fprintf(l.stderr, "rbox-runtime: %s\n", msg)
	l.entry("error", msg)
}

// debugf goes to the log only, with --debug.
func (l *logger) debugf(format string, args ...any) {
	if l.debug {
		l.entry("debug", oneLine(fmt.Sprintf(format, args...)))
	}
}

// warn goes to stderr and the log: something failed that does not fail
// the command (a poststop hook).
func (l *logger) warn(msg string) {
	msg = oneLine(msg)
	fmt.Fprintf(l.stderr, "rbox-runtime: warning: %s\n", msg)
	l.entry("warning", msg)
}

func (l *logger) entry(level, msg string) {
	if l.file == nil {
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var line []byte
	if l.json {
		line, _ = json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
	} else {
		// logrus's text format, as runc writes it.
		line = []byte("time=" + strconv.Quote(now) + " level=" + level + " msg=" + strconv.Quote(msg))
	}
	// One write per entry: with O_APPEND, entries of concurrent calls
	// (an exec beside a kill) do not interleave.
	l.file.Write(append(line, '\n'))
}
