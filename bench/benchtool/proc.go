package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// procStat is what we need from /proc/PID/stat.
type procStat struct {
	pid, ppid int
	comm      string
}

// parseStat parses /proc/PID/stat. The command name sits in parentheses and
// may itself contain spaces and parentheses, so split at the last ')'.
func parseStat(s string) (procStat, error) {
	open := strings.IndexByte(s, '(')
	end := strings.LastIndexByte(s, ')')
	if open < 1 || end < open {
		return procStat{}, errors.New("stat: no command name")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("stat: pid: %w", err)
	}
	rest := strings.Fields(s[end+1:])
	if len(rest) < 2 {
		return procStat{}, errors.New("stat: too few fields")
	}
	ppid, err := strconv.Atoi(rest[1])
	if err != nil {
		return procStat{}, fmt.Errorf("stat: ppid: %w", err)
	}
	return procStat{pid: pid, ppid: ppid, comm: s[open+1 : end]}, nil
}

// parseStatusKiB returns the named "Key:   N kB" fields of /proc/PID/status.
func parseStatusKiB(r io.Reader, keys ...string) (map[string]int64, error) {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !want[k] {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return nil, fmt.Errorf("status: %s: unexpected %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("status: %s: bad number %q", k, f[0])
		}
		out[k] = n
	}
	return out, sc.Err()
}

func scanProcs() map[int]procStat {
	all := map[int]procStat{}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		if st, err := parseStat(string(b)); err == nil {
			all[st.pid] = st
		}
	}
	return all
}

// depthUnder returns how many generations pid is below root, or -1.
func depthUnder(all map[int]procStat, root, pid int) int {
	for d := 0; d < 64; d++ {
		if pid == root {
			return d
		}
		st, ok := all[pid]
		if !ok || st.ppid == pid {
			return -1
		}
		pid = st.ppid
	}
	return -1
}

func cmdMemtree(args []string) error {
	fs := flag.NewFlagSet("memtree", flag.ContinueOnError)
	root := fs.Int("pid", 0, "process whose tree to read")
	want := fs.String("want", "sleep", "command name of the workload to wait for in the tree")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after")
	settle := fs.Duration("settle", 300*time.Millisecond, "wait after the workload appears")
	anywhere := fs.Bool("anywhere", false, "the workload may be outside the tree (any process of this user)")
	var also listFlag
	fs.Var(&also, "also", "also report processes of this name outside the tree (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *root <= 0 {
		return errors.New("-pid is required")
	}
	deadline := time.Now().Add(*timeout)
	var workload int
	for workload == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("no %q below pid %d after %v", *want, *root, *timeout)
		}
		all := scanProcs()
		for pid, st := range all {
			if st.comm != *want || pid == *root {
				continue
			}
			if depthUnder(all, *root, pid) > 0 || (*anywhere && sameUID(pid, strconv.Itoa(os.Getuid()))) {
				workload = pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(*settle)
	all := scanProcs()
	isAlso := map[string]bool{}
	for _, a := range also {
		isAlso[a] = true
	}
	uid := strconv.Itoa(os.Getuid())
	fmt.Println("# comm\tpid\tdepth\tancestor_of_workload\tVmHWM_KiB\tVmRSS_KiB")
	for pid, st := range all {
		d := depthUnder(all, *root, pid)
		if d < 0 && !isAlso[st.comm] {
			continue
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		m, err := parseStatusKiB(f, "VmHWM", "VmRSS")
		f.Close()
		if err != nil || m["VmHWM"] == 0 {
			continue // a kernel thread or a zombie
		}
		if d < 0 && !sameUID(pid, uid) {
			continue
		}
		anc := d >= 0 && depthUnder(all, pid, workload) >= 0
		fmt.Printf("%s\t%d\t%d\t%t\t%d\t%d\n", st.comm, pid, d, anc, m["VmHWM"], m["VmRSS"])
	}
	return nil
}

func sameUID(pid int, uid string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(v)
			return len(f) > 0 && f[0] == uid
		}
	}
	return false
}
