package main

import (
	"os/exec"
	"strings"
	"testing"
)

// reapAll waits for every child and names one that did not exit 0, as a
// container's init that failed would be.
func TestReapAll(t *testing.T) {
	tests := []struct {
		name    string
		scripts []string
		wantErr string
	}{
		{"none", nil, ""},
		{"all exit 0", []string{"exit 0", "true"}, ""},
		{"one fails", []string{"exit 0", "exit 3"}, "status 0x300"},
		{"killed", []string{"kill -9 $$"}, "want exit 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range tt.scripts {
				// Started and never waited for by os/exec: reapAll
				// reaps them, as it does the reparented init.
				if err := exec.Command("/bin/sh", "-c", s).Start(); err != nil {
					t.Fatal(err)
				}
			}
			err := reapAll()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("reapAll: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("reapAll: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestLifecycleFlags(t *testing.T) {
	if err := cmdLifecycle([]string{"-noop"}); err != nil {
		t.Fatalf("-noop: %v", err)
	}
	err := cmdLifecycle([]string{"-runtime", "/bin/true"})
	if err == nil || !strings.Contains(err.Error(), "-bundle are required") {
		t.Fatalf("no -root/-bundle: %v, want the flags named", err)
	}
}
