package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rbox-sandbox/rbox/image"
	"github.com/rbox-sandbox/rbox/sandbox"
)

// imageConfig is the part of an OCI image config that rbox exec applies.
type imageConfig struct {
	Config struct {
		Env        []string `json:"Env"`
		WorkingDir string   `json:"WorkingDir"`
		User       string   `json:"User"`
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
	} `json:"config"`
}

// applyImage fills the Spec from --image: the layers (pulled first as
// --pull says), then the config's Env (before --env-file and -e, which
// the caller appends), WorkingDir and User unless -w or -u, and the
// command as docker builds it: Entrypoint (or --entrypoint) followed by
// the arguments given, or by Cmd when none are.
func (c *execCmd) applyImage(s *sandbox.Spec, args []string) error {
	switch {
	case c.Image == "" && c.Rootfs == "":
		return fmt.Errorf("exec needs --rootfs DIR or --image REF")
	case c.Image != "" && c.Rootfs != "":
		return fmt.Errorf("--rootfs and --image conflict: pick one")
	case c.Image == "":
		if c.Entrypoint != nil {
			return fmt.Errorf("--entrypoint needs --image")
		}
		return nil
	}
	r, err := image.ParseRef(c.Image)
	if err != nil {
		return fmt.Errorf("--image: %w", err)
	}
	st, err := openStore()
	if err != nil {
		return err
	}
	rec, found, err := st.Lookup(r.String())
	if err != nil {
		return err
	}
	if c.Pull == "always" || (!found && c.Pull == "missing") {
		if err := pullForExec(c.Image, c.TLSVerify); err != nil {
			return err
		}
		if rec, found, err = st.Lookup(r.String()); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("--image %q: not in the store and --pull=never: run rbox pull %s", c.Image, c.Image)
	}
	// Held until this process ends, and by the supervisor (this process,
	// or a detached one) for the run, from the Plan's LayerLocks: rmi
	// refuses to delete these layers meanwhile and prune keeps them.
	if c.inUse, err = st.Use(rec); err != nil {
		return fmt.Errorf("--image %q: %w", c.Image, err)
	}
	s.LayerLocks = st.UseLocks(rec)
	b, err := st.ReadBlob(rec.Config)
	if err != nil {
		return fmt.Errorf("--image %q: read its config: %w (pull it again)", c.Image, err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("--image %q: its config: %w", c.Image, err)
	}
	if len(rec.Layers) == 0 {
		return fmt.Errorf("--image %q has no layers", c.Image)
	}
	for i := len(rec.Layers) - 1; i >= 0; i-- {
		s.Layers = append(s.Layers, st.LayerRoot(rec.Layers[i], rec.Flat))
	}
	s.Rootfs = s.Layers[0]
	s.Env = append(cfg.Config.Env, s.Env...)
	if s.Cwd == "" {
		s.Cwd = cfg.Config.WorkingDir
	}
	if s.User == "" {
		s.User = cfg.Config.User
	}
	entry := cfg.Config.Entrypoint
	cmd := cfg.Config.Cmd
	if c.Entrypoint != nil {
		entry, cmd = nil, nil
		if *c.Entrypoint != "" {
			entry = []string{*c.Entrypoint}
		}
	}
	if len(args) > 0 {
		cmd = args
	}
	s.Args = append(append([]string{}, entry...), cmd...)
	if len(s.Args) == 0 {
		return fmt.Errorf("--image %q has no Entrypoint or Cmd: give the command after --", c.Image)
	}
	return nil
}

// pullForExec runs rbox-pull for exec: its progress on stderr, the
// image ID it prints dropped, and its error line returned as the error,
// so that a failed pull is still one line.
func pullForExec(ref string, tlsVerify bool) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the rbox binary: %w", err)
	}
	tls := "tls-verify"
	if !tlsVerify {
		tls = "no-tls-verify"
	}
	cmd := exec.Command(filepath.Join(filepath.Dir(self), "rbox-pull"), self, tls, ref)
	out, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pull %s for --image: %w", ref, err)
	}
	var last string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if msg, ok := strings.CutPrefix(sc.Text(), "rbox: "); ok {
			last = msg
			continue
		}
		fmt.Fprintln(os.Stderr, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		if last != "" {
			return errors.New(last)
		}
		return fmt.Errorf("pull %s for --image: %w", ref, err)
	}
	return nil
}

// lastWins keeps one KEY=VALUE per key, the last given, where the first
// stood: the image's Env, then --env-file, then -e.
func lastWins(env []string) []string {
	last := map[string]string{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = kv
	}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := last[k]; ok {
			out = append(out, v)
			delete(last, k)
		}
	}
	return out
}
