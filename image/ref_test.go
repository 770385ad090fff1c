package image

import (
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	dig := "sha256:" + strings.Repeat("a", 64)
	reg := func(domain, repo, tag, digest string) Ref {
		return Ref{Transport: Registry, Domain: domain, Repo: repo, Tag: tag, Digest: digest}
	}
	tests := []struct {
		in      string
		want    Ref
		str     string // canonical String()
		wantErr string
	}{
		{in: "busybox", want: reg("docker.io", "library/busybox", "latest", ""), str: "docker.io/library/busybox:latest"},
		{in: "busybox:1.36", want: reg("docker.io", "library/busybox", "1.36", ""), str: "docker.io/library/busybox:1.36"},
		{in: "user/app", want: reg("docker.io", "user/app", "latest", ""), str: "docker.io/user/app:latest"},
		{in: "docker.io/alpine", want: reg("docker.io", "library/alpine", "latest", ""), str: "docker.io/library/alpine:latest"},
		{in: "index.docker.io/library/alpine", want: reg("docker.io", "library/alpine", "latest", ""), str: "docker.io/library/alpine:latest"},
		{in: "docker://alpine:3", want: reg("docker.io", "library/alpine", "3", ""), str: "docker.io/library/alpine:3"},
		{in: "127.0.0.1:5000/img:v1", want: reg("127.0.0.1:5000", "img", "v1", ""), str: "127.0.0.1:5000/img:v1"},
		{in: "localhost/a/b", want: reg("localhost", "a/b", "latest", ""), str: "localhost/a/b:latest"},
		{in: "localhost:5000/a__b/c-d.e", want: reg("localhost:5000", "a__b/c-d.e", "latest", ""), str: "localhost:5000/a__b/c-d.e:latest"},
		{in: "[::1]:5000/x", want: reg("[::1]:5000", "x", "latest", ""), str: "[::1]:5000/x:latest"},
		{in: "quay.io/x/y@" + dig, want: reg("quay.io", "x/y", "", dig), str: "quay.io/x/y@" + dig},
		{in: "quay.io/x/y:t@" + dig, want: reg("quay.io", "x/y", "t", dig), str: "quay.io/x/y:t@" + dig},
		{in: "docker://oci:5000/x", want: reg("oci:5000", "x", "latest", ""), str: "docker://oci:5000/x:latest"},
		{in: "oci:/tmp/lay", want: Ref{Transport: OCILayout, Path: "/tmp/lay"}, str: "oci:/tmp/lay"},
		{in: "oci:lay:v2", want: Ref{Transport: OCILayout, Path: "lay", Tag: "v2"}, str: "oci:lay:v2"},
		{in: "oci-archive:/tmp/a.tar:latest", want: Ref{Transport: OCIArchive, Path: "/tmp/a.tar", Tag: "latest"}, str: "oci-archive:/tmp/a.tar:latest"},
		{in: "docker-archive:save.tar", want: Ref{Transport: DockerArchive, Path: "save.tar"}, str: "docker-archive:save.tar"},
		{in: "docker-archive:save.tar:busybox:latest", want: Ref{Transport: DockerArchive, Path: "save.tar", Tag: "busybox:latest"}, str: "docker-archive:save.tar:busybox:latest"},

		{in: "", wantErr: "empty image reference"},
		{in: "docker://", wantErr: "no image after docker://"},
		{in: "oci:", wantErr: `no path after "oci:"`},
		{in: "oci:dir:", wantErr: "empty tag"},
		{in: "oci-archive::x", wantErr: "no path"},
		{in: "docker-archive:f.tar:UPPER", wantErr: "is not an image name"},
		{in: "dir:/x", wantErr: "the dir: transport is not supported"},
		{in: "containers-storage:x", wantErr: "not supported"},
		{in: "Busybox", wantErr: `repository component "Busybox"`},
		{in: "a b", wantErr: "repository component"},
		{in: "x\n", wantErr: "control character"},
		{in: "busybox:", wantErr: `tag ""`},
		{in: "busybox:-x", wantErr: `tag "-x"`},
		{in: "busybox:" + strings.Repeat("t", 129), wantErr: "tag"},
		{in: "busybox@sha256:abc", wantErr: "digest"},
		{in: "busybox@md5:" + strings.Repeat("a", 32), wantErr: "digest"},
		{in: "a..b/c", wantErr: `registry "a..b"`},
		{in: "ab/c..d", wantErr: "repository component"},
		{in: "-a.io/x", wantErr: `registry "-a.io"`},
		{in: "h.io:99999x/x", wantErr: "registry"},
		{in: "h.io/", wantErr: "empty"},
		{in: "h.io/x//y", wantErr: "repository component"},
		{in: "x/" + strings.Repeat("a", 260), wantErr: "longer than 255"},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRef(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if s := got.String(); s != tt.str {
			t.Errorf("ParseRef(%q).String() = %q, want %q", tt.in, s, tt.str)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"busybox", "docker://a/b:c", "oci:d:t", "oci-archive:f", "docker-archive:f:a:b", "127.0.0.1:5000/x@sha256:" + strings.Repeat("0", 64), "dir:x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q: %v", s, err)
			}
			return
		}
		// The canonical form parses back to the same image.
		c := r.String()
		r2, err := ParseRef(c)
		if err != nil {
			t.Fatalf("String() of %q = %q does not parse: %v", s, c, err)
		}
		if r2.String() != c {
			t.Fatalf("%q → %q → %q", s, c, r2.String())
		}
	})
}
