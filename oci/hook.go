package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RunHook runs one hook as the runtime spec says: Path with Args (Args[0]
// is argv[0]; none means Path), exactly Env as its environment, the
// container's state JSON on stdin, killed at Timeout. Its stderr is
// carried in the error.
func RunHook(ctx context.Context, h Hook, st specs.State) error {
	in, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would pass the runtime's environment
	}
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", h.Timeout)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return fmt.Errorf("hook %q: %w: %s", h.Path, err, msg)
		}
		return fmt.Errorf("hook %q: %w", h.Path, err)
	}
	return nil
}
