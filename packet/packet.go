// Package packet frames the sync sockets between rbox's processes (the
// supervisor and its init, rbox-runtime's create and its init): one JSON
// message per SOCK_SEQPACKET packet, descriptors attached as SCM_RIGHTS.
// A packet boundary is the message boundary, so no length prefix is
// needed and a reader never sees half a message.
package packet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrClosed is the other side closing its end with nothing more queued.
var ErrClosed = errors.New("the other side closed the socket")

// maxFDs is how many descriptors one message may carry.
const maxFDs = 4

// Send writes v as one packet, with fds attached.
func Send(f *os.File, v any, fds ...int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(int(f.Fd()), b, oob, nil, 0)
}

// Recv reads the next packet into v and returns the descriptors that
// came with it (close-on-exec). A packet larger than limit bytes is an
// error, left unread.
func Recv(f *os.File, v any, limit int) ([]*os.File, error) {
	fd := int(f.Fd())
	// Peek at the packet's size first: a buffer of limit bytes for every
	// message costs page faults on the start path for nothing.
	size, _, _, err := recvmsg(fd, nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	if size > limit {
		return nil, fmt.Errorf("receive: message of %d bytes is too large", size)
	}
	buf := make([]byte, max(size, 1))
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	n, oobn, flags, err := recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	if n == 0 && oobn == 0 {
		return nil, ErrClosed
	}
	files, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeAll(files)
		return nil, errors.New("receive: message truncated")
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		closeAll(files)
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return files, nil
}

// recvmsg is recvmsg(2) past EINTR and ECONNRESET. ECONNRESET: the peer
// closed with a message of ours unread (an init that failed before it
// read "start"). The kernel reports that once, before the packets the
// peer queued first (its error, its last words), and clears it: read on,
// to them or to the end.
func recvmsg(fd int, p, oob []byte, flags int) (n, oobn, rflags int, err error) {
	for {
		n, oobn, rflags, _, err = unix.Recvmsg(fd, p, oob, flags)
		if err != unix.EINTR && err != unix.ECONNRESET {
			return n, oobn, rflags, err
		}
	}
}

func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var files []*os.File
	for _, cm := range cmsgs {
		fds, err := unix.ParseUnixRights(&cm)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "received"))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
