package image

import (
	"archive/tar"
	"fmt"
	"strings"
	"time"
)

// kind is what the unpacker makes of one tar entry.
type kind int

const (
	kDir kind = iota
	kFile
	kSymlink
	kHardlink
	kFIFO
	kDevice   // skipped and counted: rbox mounts its own /dev
	kWhiteout // .wh.NAME: NAME deleted, a 0/0 character device
	kOpaque   // .wh..wh..opq: the directory hides the layers below
	kIgnore   // a pax global header: no file
)

// entry is one tar header checked and reduced to what the unpacker does.
// planEntry makes it from untrusted input without touching anything.
type entry struct {
	kind      kind
	path      string // relative to the layer root, clean, "." for the root
	dir, base string // path split; base is "" for the root
	link      string // symlink target as written, or the clean hard link target
	mode      uint32 // permission, setuid, setgid and sticky bits
	uid, gid  int
	size      int64
	mtime     time.Time
	atime     time.Time
	xattrs    map[string]string
}

const (
	whiteoutPrefix = ".wh."
	opaqueName     = ".wh..wh..opq"
)

// planEntry checks one header. flat drops setuid and setgid (a layer
// whose ownership is flattened to the user must not grant them).
func planEntry(h *tar.Header, flat bool) (entry, error) {
	p, err := CleanPath(h.Name)
	if err != nil {
		return entry{}, fmt.Errorf("entry %q: %w", h.Name, err)
	}
	e := entry{path: p, uid: h.Uid, gid: h.Gid, size: h.Size, mtime: h.ModTime, atime: h.AccessTime}
	e.dir, e.base = split(p)
	e.mode = uint32(h.Mode) & 0o7777
	if flat {
		e.mode &^= 0o6000
	}
	if h.Uid < 0 || h.Gid < 0 {
		return entry{}, fmt.Errorf("entry %q: negative owner %d:%d", h.Name, h.Uid, h.Gid)
	}
	switch {
	case e.base == opaqueName:
		e.kind, e.path = kOpaque, e.dir
		e.dir, e.base = split(e.path)
		return e, nil
	case strings.HasPrefix(e.base, whiteoutPrefix):
		name := strings.TrimPrefix(e.base, whiteoutPrefix)
		if name == "" || name == "." || name == ".." {
			return entry{}, fmt.Errorf("entry %q: whiteout of nothing", h.Name)
		}
		e.kind, e.base = kWhiteout, name
		e.path = join(e.dir, name)
		return e, nil
	}
	switch h.Typeflag {
	case tar.TypeDir:
		e.kind = kDir
	case tar.TypeReg: // the reader reports old archives' '\x00' as TypeReg
		e.kind = kFile
	case tar.TypeSymlink:
		e.kind, e.link = kSymlink, h.Linkname
		if h.Linkname == "" {
			return entry{}, fmt.Errorf("entry %q: symlink without a target", h.Name)
		}
		// Kept as written, even one that climbs above the root (busybox's
		// linuxrc is ../bin/busybox): the kernel resolves it inside the
		// sandbox's root, and the unpacker resolves every path inside the
		// layer, so no symlink leads either of them out.
	case tar.TypeLink:
		t, err := CleanPath(h.Linkname)
		if err != nil || t == "." {
			return entry{}, fmt.Errorf("entry %q: hard link to %q leaves the layer", h.Name, h.Linkname)
		}
		if t == p {
			return entry{}, fmt.Errorf("entry %q: hard link to itself", h.Name)
		}
		e.kind, e.link = kHardlink, t
	case tar.TypeFifo:
		e.kind = kFIFO
	case tar.TypeChar, tar.TypeBlock:
		e.kind = kDevice
	case tar.TypeXGlobalHeader:
		e.kind = kIgnore
		return e, nil
	default:
		return entry{}, fmt.Errorf("entry %q: unsupported tar type %q", h.Name, h.Typeflag)
	}
	if p == "." && e.kind != kDir {
		return entry{}, fmt.Errorf("entry %q: the layer root must be a directory", h.Name)
	}
	for k, v := range h.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || !keepXattr(name) {
			continue
		}
		if e.xattrs == nil {
			e.xattrs = map[string]string{}
		}
		e.xattrs[name] = v
	}
	return e, nil
}

// keepXattr keeps user.* attributes but overlayfs' own: trusted.* and
// security.* (capabilities, SELinux labels) would grant or label what the
// image's author chose, user.overlay.* would steer the overlay mount.
func keepXattr(name string) bool {
	return strings.HasPrefix(name, "user.") && !strings.HasPrefix(name, "user.overlay.")
}

// CleanPath makes a tar name relative to the layer root. Leading "/" and
// "./" are usual and dropped; a ".." component is refused rather than
// clamped: an archive that climbs is broken or hostile.
func CleanPath(name string) (string, error) {
	var parts []string
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("path leaves the layer (\"..\")")
		}
		if strings.ContainsRune(c, 0) {
			return "", fmt.Errorf("NUL in the path")
		}
		parts = append(parts, c)
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

func split(p string) (dir, base string) {
	if p == "." {
		return ".", ""
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ".", p
	}
	return p[:i], p[i+1:]
}

func join(dir, base string) string {
	if dir == "." {
		return base
	}
	return dir + "/" + base
}
