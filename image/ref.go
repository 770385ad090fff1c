package image

import (
	"fmt"
	"strings"
)

// Transport says where an image comes from.
type Transport string

// The reference forms skopeo and podman users write.
const (
	Registry      Transport = "docker"         // HOST[:PORT]/REPO[:TAG|@DIGEST], docker://...
	OCILayout     Transport = "oci"            // oci:DIR[:TAG]
	OCIArchive    Transport = "oci-archive"    // oci-archive:FILE[:TAG]
	DockerArchive Transport = "docker-archive" // docker-archive:FILE[:REF]
)

// Ref is a parsed image reference. The parser is rbox's own, not
// go-containerregistry's: that library's packages cost every rbox process
// 0.3 ms of init (regexps, compression tables), and rbox exec --image
// must parse a reference without linking them.
type Ref struct {
	Transport Transport
	// Domain, Repo, Tag and Digest are a registry reference resolved with
	// docker's short-name rules: busybox is docker.io/library/busybox:latest.
	Domain, Repo string
	// Tag is the registry tag, the tag of a layout or oci-archive (""
	// for its only image), or a docker-archive's REF.
	Tag    string
	Digest string
	// Path is the layout directory or the archive file.
	Path string
}

// DockerHub is docker hub's name as docker and podman print it.
const DockerHub = "docker.io"

// forms is appended to parse errors: the fix is one of these.
const forms = "write HOST[:PORT]/REPO[:TAG|@DIGEST], docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF]"

// unsupported are transports of containers/image that rbox does not read;
// naming them beats a confusing registry parse error.
var unsupported = [...]string{"dir", "containers-storage", "docker-daemon", "ostree", "sif"}

// ParseRef parses an image reference. It never touches the network or
// the file system.
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("empty image reference: %s", forms)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return Ref{}, fmt.Errorf("image reference %q: control character: %s", s, forms)
		}
	}
	if rest, ok := strings.CutPrefix(s, "docker://"); ok {
		if rest == "" {
			return Ref{}, fmt.Errorf("image reference %q: no image after docker://: %s", s, forms)
		}
		return parseRegistry(s, rest)
	}
	for _, t := range [...]Transport{OCIArchive, OCILayout, DockerArchive} {
		rest, ok := strings.CutPrefix(s, string(t)+":")
		if !ok {
			continue
		}
		// The path ends at the first colon, as skopeo splits it.
		p, tag, hasTag := strings.Cut(rest, ":")
		if p == "" {
			return Ref{}, fmt.Errorf("image reference %q: no path after %q: %s", s, string(t)+":", forms)
		}
		if hasTag && tag == "" {
			return Ref{}, fmt.Errorf("image reference %q: empty tag after the path: drop the colon or name a tag", s)
		}
		if t == DockerArchive && tag != "" {
			if _, err := parseRegistry(tag, tag); err != nil {
				return Ref{}, fmt.Errorf("image reference %q: %q is not an image name", s, tag)
			}
		}
		return Ref{Transport: t, Path: p, Tag: tag}, nil
	}
	for _, u := range unsupported {
		if strings.HasPrefix(s, u+":") {
			return Ref{}, fmt.Errorf("image reference %q: the %s: transport is not supported: %s", s, u, forms)
		}
	}
	return parseRegistry(s, s)
}

// parseRegistry follows distribution's reference grammar and docker's
// rule for the registry: the first component is a host if it holds a dot
// or a colon or is localhost.
func parseRegistry(orig, s string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("image reference %q: %s: %s", orig, why, forms)
	}
	r := Ref{Transport: Registry}
	if base, dig, ok := strings.Cut(s, "@"); ok {
		if !validDigest(dig) {
			return bad(fmt.Sprintf("digest %q is not sha256:<64 hex digits>", dig))
		}
		s, r.Digest = base, dig
	}
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		s, r.Tag = s[:i], s[i+1:]
		if !validTag(r.Tag) {
			return bad(fmt.Sprintf("tag %q: up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -", r.Tag))
		}
	}
	name := s
	if i := strings.IndexByte(s, '/'); i >= 0 && (strings.ContainsAny(s[:i], ".:") || s[:i] == "localhost") {
		r.Domain, name = s[:i], s[i+1:]
		if !validDomain(r.Domain) {
			return bad(fmt.Sprintf("registry %q is not HOST[:PORT]", r.Domain))
		}
	} else {
		r.Domain = DockerHub
	}
	if r.Domain == "index.docker.io" {
		r.Domain = DockerHub
	}
	if r.Domain == DockerHub && !strings.Contains(name, "/") {
		name = "library/" + name
	}
	if name == "" || len(r.Domain)+1+len(name) > 255 {
		return bad("the name is empty or longer than 255 characters")
	}
	for _, c := range strings.Split(name, "/") {
		if !validComponent(c) {
			return bad(fmt.Sprintf("repository component %q: lower-case letters and digits, joined by . _ __ or -", c))
		}
	}
	r.Repo = name
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

func alnumLower(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func word(c byte) bool { return alnumLower(c) || c >= 'A' && c <= 'Z' || c == '_' }

// validComponent: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
func validComponent(c string) bool {
	if c == "" || !alnumLower(c[0]) || !alnumLower(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if alnumLower(c[i]) {
			i++
			continue
		}
		j := i
		for j < len(c) && !alnumLower(c[j]) {
			j++
		}
		sep := c[i:j]
		if sep != "." && sep != "_" && sep != "__" && strings.Trim(sep, "-") != "" {
			return false
		}
		i = j
	}
	return true
}

// validTag: [\w][\w.-]{0,127}
func validTag(t string) bool {
	if t == "" || len(t) > 128 || !word(t[0]) {
		return false
	}
	for i := 1; i < len(t); i++ {
		if !word(t[i]) && t[i] != '.' && t[i] != '-' {
			return false
		}
	}
	return true
}

func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	return ok && len(h) == 64 && strings.Trim(h, "0123456789abcdef") == ""
}

// validDomain: host components of letters, digits and inner dashes, dot
// separated, or a bracketed IPv6 address; an optional numeric port.
func validDomain(d string) bool {
	host, port := d, ""
	if i := strings.LastIndexByte(d, ':'); i >= 0 && !strings.HasSuffix(d, "]") {
		host, port = d[:i], d[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		in := host[1 : len(host)-1]
		return in != "" && strings.Trim(in, "0123456789abcdefABCDEF:.") == ""
	}
	for _, c := range strings.Split(host, ".") {
		if c == "" || c[0] == '-' || c[len(c)-1] == '-' {
			return false
		}
		for i := 0; i < len(c); i++ {
			if !(c[i] >= 'a' && c[i] <= 'z' || c[i] >= 'A' && c[i] <= 'Z' || c[i] >= '0' && c[i] <= '9' || c[i] == '-') {
				return false
			}
		}
	}
	return true
}

// Name is the registry reference in full, the form go-containerregistry
// takes: by digest when there is one.
func (r Ref) Name() string {
	s := r.Domain + "/" + r.Repo
	if r.Digest != "" {
		return s + "@" + r.Digest
	}
	return s + ":" + r.Tag
}

// String is the canonical form, the key of the image's record: a registry
// reference fully spelled out (docker.io/library/busybox:latest), a layout
// or archive with its path as given.
func (r Ref) String() string {
	if r.Transport == Registry {
		s := r.Domain + "/" + r.Repo
		if r.Tag != "" {
			s += ":" + r.Tag
		}
		if r.Digest != "" {
			s += "@" + r.Digest
		}
		// A registry named like a transport (docker://oci:5000/x) keeps
		// its prefix, so the canonical form parses back to itself.
		if host, _, ok := strings.Cut(s, ":"); ok && isTransportName(host) {
			s = "docker://" + s
		}
		return s
	}
	s := string(r.Transport) + ":" + r.Path
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	return s
}

func isTransportName(s string) bool {
	switch Transport(s) {
	case OCILayout, OCIArchive, DockerArchive, Registry:
		return true
	}
	for _, u := range unsupported {
		if s == u {
			return true
		}
	}
	return false
}
