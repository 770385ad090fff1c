package sandbox

import (
	"os"
	"strings"

	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/state"
	"github.com/rbox-sandbox/rbox/userns"
)

// initConfig derives what the init needs from the Spec, but for its op
// list (initOps, planops.go), which the supervisor adds once the layer and
// the network exist.
func initConfig(spec *Spec, st *state.Box, plan idmap.Plan) *userns.Config {
	hostname := sandboxHostname(spec, st)
	cfg := &userns.Config{
		Args:          spec.Args,
		Env:           workloadEnv(spec, hostname),
		Cwd:           spec.Cwd,
		User:          spec.User,
		Tty:           spec.Tty,
		AllowNewPrivs: spec.AllowNewPrivs,
		IDMap:         plan,
		Reap:          st.StaleDirs(),
		Debug:         spec.Debug,
		EnterSocket:   enterSocket(st.Dir),
	}
	if cfg.Cwd == "" {
		cfg.Cwd = "/"
	}
	return cfg
}

// sandboxHostname is the --hostname, or the sandbox's name.
func sandboxHostname(spec *Spec, st *state.Box) string {
	if spec.Hostname != "" {
		return spec.Hostname
	}
	return st.Name
}

// etcFiles are the files rbox generates for the sandbox's /etc: its
// hostname and hosts, and with --net host the host's resolv.conf (a
// user-mode network adds its own once it runs).
func etcFiles(spec *Spec, hostname string) []etcFile {
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"
	files := []etcFile{
		{Path: "/etc/hostname", Content: hostname + "\n"},
		{Path: "/etc/hosts", Content: hosts},
	}
	if spec.Net == NetHost {
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			files = append(files, etcFile{Path: "/etc/resolv.conf", Content: string(b)})
		}
	}
	return files
}

// workloadEnv adds the defaults to the user's variables; the host's own
// environment never reaches the workload.
func workloadEnv(spec *Spec, hostname string) []string {
	has := map[string]bool{}
	for _, kv := range spec.Env {
		k, _, _ := strings.Cut(kv, "=")
		has[k] = true
	}
	var env []string
	add := func(k, v string) {
		if !has[k] {
			env = append(env, k+"="+v)
		}
	}
	add("PATH", DefaultPath)
	add("HOSTNAME", hostname)
	if spec.Tty {
		t := spec.Term
		if t == "" {
			t = "xterm"
		}
		add("TERM", t)
	}
	return append(env, spec.Env...)
}
