package slirp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The help of Debian 12's slirp4netns 1.2.0, cut to the lines that count.
const help120 = `Usage: slirp4netns [OPTION]... PID|PATH [TAPNAME]
-r, --ready-fd=FD        specify the FD to write to when the network is configured
--disable-host-loopback  prohibit connecting to 127.0.0.1:* on the host namespace
--netns-type=TYPE 	 specify network namespace type ([path|pid], default=pid)
--enable-sandbox         create a new mount namespace
--enable-seccomp         enable seccomp to limit syscalls (experimental)
`

func TestParseHelp(t *testing.T) {
	for _, tc := range []struct {
		name, help string
		want       features
		err        string
	}{
		{"1.2.0", help120, features{DisableHostLoopback: true, EnableSandbox: true, EnableSeccomp: true}, ""},
		{"no-sandbox", strings.ReplaceAll(help120, "--enable-sandbox", ""), features{DisableHostLoopback: true, EnableSeccomp: true}, ""},
		{"older than 0.4", "-r, --ready-fd=FD\n--disable-host-loopback\n", features{}, "older than v0.4.0"},
		{"empty", "", features{}, "older than v0.4.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHelp(tc.help)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseHelp = %+v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseHelp = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// A stand-in slirp4netns that counts its --help runs: the second probe of
// the same binary comes from the cache, a rewritten binary is probed again.
func TestProbeFeaturesCached(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "state")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	count := filepath.Join(dir, "runs")
	bin := filepath.Join(dir, "slirp4netns")
	script := "#!/bin/sh\necho x >>" + count + "\ncat <<'E'\n" + help120 + "E\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	runs := func() int { b, _ := os.ReadFile(count); return strings.Count(string(b), "x") }
	want := features{DisableHostLoopback: true, EnableSandbox: true, EnableSeccomp: true}
	for i := 0; i < 3; i++ {
		f, err := probeFeatures(bin, root)
		if err != nil || f != want {
			t.Fatalf("probe %d = %+v, %v", i, f, err)
		}
	}
	if n := runs(); n != 1 {
		t.Errorf("three probes ran --help %d times, want 1", n)
	}
	// The binary replaced by one without --enable-sandbox: probed again.
	os.WriteFile(bin, []byte(strings.ReplaceAll(script, "--enable-sandbox", "")), 0o755)
	os.Chtimes(bin, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	f, err := probeFeatures(bin, root)
	if err != nil || f.EnableSandbox || runs() != 2 {
		t.Errorf("after a rewrite: %+v, %v, %d runs; want a new probe without the sandbox", f, err, runs())
	}
	// A cache that is not one of ours is ignored, and replaced.
	os.WriteFile(filepath.Join(root, featuresCache), []byte("junk"), 0o600)
	if f, err := probeFeatures(bin, root); err != nil || runs() != 3 || f.EnableSandbox {
		t.Errorf("over a junk cache: %+v, %v, %d runs", f, err, runs())
	}
	// No cache directory: a probe each time; a state root that is not
	// private: probed, and nothing written there.
	probeFeatures(bin, "")
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o755)
	if _, err := probeFeatures(bin, open); err != nil || runs() != 5 {
		t.Errorf("with an open directory: %v, %d runs", err, runs())
	}
	if _, err := os.Stat(filepath.Join(open, featuresCache)); err == nil {
		t.Error("a cache was written into a directory others can read")
	}
}

func FuzzDecodeFeatures(f *testing.F) {
	key := "/usr/bin/slirp4netns\t1\t2\t3\t4"
	f.Add(encodeFeatures(features{DisableHostLoopback: true, EnableSeccomp: true}, key))
	f.Add([]byte(featuresVersion + "\n" + key + "\n\n"))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeFeatures(b, key)
		if !ok {
			return
		}
		if again, ok := decodeFeatures(encodeFeatures(got, key), key); !ok || again != got {
			t.Fatalf("%q decoded to %+v, which does not round-trip", b, got)
		}
	})
}
