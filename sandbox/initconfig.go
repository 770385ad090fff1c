package sandbox

import (
	"os"
	"strings"

	"github.com/rbox-sandbox/rbox/idmap"
	"github.com/rbox-sandbox/rbox/state"
	"github.com/rbox-sandbox/rbox/userns"
)

// initConfig derives what the init needs from the Spec.
func initConfig(spec *Spec, st *state.Box, plan idmap.Plan) *userns.Config {
	hostname := spec.Hostname
	if hostname == "" {
		hostname = st.Name
	}
	cfg := &userns.Config{
		Args:          spec.Args,
		Env:           workloadEnv(spec, hostname),
		Cwd:           spec.Cwd,
		User:          spec.User,
		Tty:           spec.Tty,
		Hostname:      hostname,
		OwnNetwork:    spec.Net != NetHost,
		ReadOnly:      spec.ReadOnly,
		AllowNewPrivs: spec.AllowNewPrivs,
		IDMap:         plan,
		Reap:          st.StaleDirs(),
		Debug:         spec.Debug,
		EnterSocket:   enterSocket(st.Dir),
	}
	if cfg.Cwd == "" {
		cfg.Cwd = "/"
	}
	for _, v := range spec.Volumes {
		cfg.Mounts = append(cfg.Mounts, userns.Mount{Kind: userns.Bind, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
	}
	for _, t := range spec.Tmpfs {
		cfg.Mounts = append(cfg.Mounts, userns.Mount{Kind: userns.Tmpfs, Target: t.Target, Size: t.Size, Mode: t.Mode})
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"
	cfg.Files = []userns.File{
		{Path: "/etc/hostname", Content: hostname + "\n", Mode: 0o644},
		{Path: "/etc/hosts", Content: hosts, Mode: 0o644},
	}
	if spec.Net == NetHost {
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			cfg.Files = append(cfg.Files, userns.File{Path: "/etc/resolv.conf", Content: string(b), Mode: 0o644})
		}
	}
	return cfg
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
