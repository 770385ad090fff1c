package image

import (
	"archive/tar"
	"strings"
	"testing"
)

func TestPlanEntry(t *testing.T) {
	tests := []struct {
		name    string
		h       tar.Header
		flat    bool
		kind    kind
		path    string
		mode    uint32
		link    string
		wantErr string
	}{
		{name: "file", h: tar.Header{Name: "./bin/sh", Typeflag: tar.TypeReg, Mode: 0o755}, kind: kFile, path: "bin/sh", mode: 0o755},
		{name: "absolute", h: tar.Header{Name: "/etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, kind: kFile, path: "etc/passwd", mode: 0o644},
		{name: "root", h: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, kind: kDir, path: ".", mode: 0o755},
		{name: "setuid kept", h: tar.Header{Name: "bin/su", Typeflag: tar.TypeReg, Mode: 0o4755}, kind: kFile, path: "bin/su", mode: 0o4755},
		{name: "setuid flat", h: tar.Header{Name: "bin/su", Typeflag: tar.TypeReg, Mode: 0o6755}, flat: true, kind: kFile, path: "bin/su", mode: 0o755},
		{name: "whiteout", h: tar.Header{Name: "etc/.wh.motd", Typeflag: tar.TypeReg}, kind: kWhiteout, path: "etc/motd"},
		{name: "opaque", h: tar.Header{Name: "var/cache/.wh..wh..opq", Typeflag: tar.TypeReg}, kind: kOpaque, path: "var/cache"},
		{name: "symlink abs", h: tar.Header{Name: "bin/x", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, kind: kSymlink, path: "bin/x", link: "/etc/passwd"},
		{name: "symlink up ok", h: tar.Header{Name: "usr/bin/x", Typeflag: tar.TypeSymlink, Linkname: "../../bin/busybox"}, kind: kSymlink, path: "usr/bin/x", link: "../../bin/busybox"},
		{name: "hardlink", h: tar.Header{Name: "bin/b", Typeflag: tar.TypeLink, Linkname: "./bin/a"}, kind: kHardlink, path: "bin/b", link: "bin/a"},
		{name: "fifo", h: tar.Header{Name: "run/p", Typeflag: tar.TypeFifo, Mode: 0o600}, kind: kFIFO, path: "run/p", mode: 0o600},
		{name: "char device", h: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar}, kind: kDevice, path: "dev/null"},

		{name: "dotdot", h: tar.Header{Name: "../etc/passwd", Typeflag: tar.TypeReg}, wantErr: "leaves the layer"},
		{name: "inner dotdot", h: tar.Header{Name: "a/../../b", Typeflag: tar.TypeReg}, wantErr: "leaves the layer"},
		{name: "climbing symlink", h: tar.Header{Name: "linuxrc", Typeflag: tar.TypeSymlink, Linkname: "../bin/busybox"}, kind: kSymlink, path: "linuxrc", link: "../bin/busybox"},
		{name: "escaping hardlink", h: tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "../host"}, wantErr: "leaves the layer"},
		{name: "hardlink to root", h: tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "/"}, wantErr: "leaves the layer"},
		{name: "hardlink self", h: tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "./x"}, wantErr: "itself"},
		{name: "empty symlink", h: tar.Header{Name: "x", Typeflag: tar.TypeSymlink}, wantErr: "without a target"},
		{name: "root file", h: tar.Header{Name: "/", Typeflag: tar.TypeReg}, wantErr: "must be a directory"},
		{name: "empty whiteout", h: tar.Header{Name: "a/.wh.", Typeflag: tar.TypeReg}, wantErr: "whiteout of nothing"},
		{name: "negative uid", h: tar.Header{Name: "x", Typeflag: tar.TypeReg, Uid: -1}, wantErr: "negative owner"},
		{name: "sparse", h: tar.Header{Name: "x", Typeflag: tar.TypeGNUSparse}, wantErr: "unsupported tar type"},
	}
	for _, tt := range tests {
		e, err := planEntry(&tt.h, tt.flat)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: planEntry = %+v, %v; want error containing %q", tt.name, e, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if e.kind != tt.kind || e.path != tt.path || e.mode != tt.mode || e.link != tt.link {
			t.Errorf("%s: got kind %d path %q mode %o link %q; want %d %q %o %q", tt.name, e.kind, e.path, e.mode, e.link, tt.kind, tt.path, tt.mode, tt.link)
		}
	}
}

func TestXattrsFiltered(t *testing.T) {
	h := tar.Header{Name: "f", Typeflag: tar.TypeReg, PAXRecords: map[string]string{
		"SCHILY.xattr.user.keep":              "1",
		"SCHILY.xattr.user.overlay.opaque":    "y",
		"SCHILY.xattr.trusted.overlay.opaque": "y",
		"SCHILY.xattr.security.capability":    "x",
		"SCHILY.xattr.security.selinux":       "x",
	}}
	e, err := planEntry(&h, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.xattrs) != 1 || e.xattrs["user.keep"] != "1" {
		t.Errorf("kept xattrs %v, want only user.keep", e.xattrs)
	}
}

// FuzzPlanEntry: whatever the header, an accepted entry names a path
// inside the layer and a hard link target inside it too.
func FuzzPlanEntry(f *testing.F) {
	f.Add("./a/b", "", byte(tar.TypeReg), int64(0o755))
	f.Add("a/.wh..wh..opq", "", byte(tar.TypeReg), int64(0))
	f.Add("x", "../../y", byte(tar.TypeSymlink), int64(0o777))
	f.Add("x", "/y", byte(tar.TypeLink), int64(0o644))
	f.Add("../x", "", byte(tar.TypeDir), int64(0o7777))
	f.Fuzz(func(t *testing.T, name, link string, typ byte, mode int64) {
		h := tar.Header{Name: name, Linkname: link, Typeflag: typ, Mode: mode}
		e, err := planEntry(&h, true)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %v", err)
			}
			return
		}
		for _, p := range []string{e.path, e.dir} {
			if strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
				t.Fatalf("%q planned as %q", name, p)
			}
		}
		if e.kind == kHardlink && (strings.HasPrefix(e.link, "/") || strings.Contains("/"+e.link+"/", "/../")) {
			t.Fatalf("hard link %q planned to %q", link, e.link)
		}
		if e.mode&0o6000 != 0 {
			t.Fatalf("flat entry keeps setuid/setgid: %o", e.mode)
		}
	})
}
