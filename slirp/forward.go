package slirp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// forwarder is the host side of the published ports: it listens on each
// host port and, for each connection (TCP) or each client address (UDP),
// asks the init for a socket connected to the sandbox's port (portmsg.go)
// and copies between the two. It replaces rootlesskit's builtin port
// driver, whose package (pkg/port) imports net/http for one interface
// method: linked into rbox, that put net/http, crypto/tls and crypto/x509
// into the package init of every rbox process, networked or not.
type forwarder struct {
	socket string // the init's socket
	log    io.Writer

	mu     sync.Mutex
	closed bool
	open   map[io.Closer]struct{} // listeners and connections, for close
	wg     sync.WaitGroup
}

// udpIdle ends a UDP flow that has heard nothing from the sandbox for
// that long, as docker's proxy does (90 s there).
const udpIdle = 60 * time.Second

func newForwarder(socket string, log io.Writer) *forwarder {
	return &forwarder{socket: socket, log: log, open: map[io.Closer]struct{}{}}
}

// listen binds every host port, or none: the first that fails is
// reported, and those bound before it are closed.
func (f *forwarder) listen(ports []Port) error {
	for _, p := range ports {
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
		if p.Proto == "udp" {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				f.close()
				return portError(p, err)
			}
			f.track(pc)
			f.run(func() { f.serveUDP(pc.(*net.UDPConn), p) })
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			f.close()
			return portError(p, err)
		}
		f.track(l)
		f.run(func() { f.serveTCP(l, p) })
	}
	return nil
}

func (f *forwarder) run(fn func()) {
	f.wg.Add(1)
	go func() { defer f.wg.Done(); fn() }()
}

// track remembers c for close; false (and c closed) once closing began.
func (f *forwarder) track(c io.Closer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		c.Close()
		return false
	}
	f.open[c] = struct{}{}
	return true
}

func (f *forwarder) untrack(c io.Closer) {
	f.mu.Lock()
	delete(f.open, c)
	f.mu.Unlock()
	c.Close()
}

// close ends every listener and connection and waits for the copies.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.open {
		c.Close()
	}
	f.open = map[io.Closer]struct{}{}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *forwarder) serveTCP(l net.Listener, p Port) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		f.run(func() { f.forwardTCP(c.(*net.TCPConn), p) })
	}
}

// forwardTCP joins one host connection to a connection to the sandbox's
// port, each direction half-closed when its source ends. TCP to TCP,
// io.Copy splices in the kernel.
func (f *forwarder) forwardTCP(c *net.TCPConn, p Port) {
	if !f.track(c) {
		return
	}
	defer f.untrack(c)
	in, err := f.dial(portRequest{"tcp", p.ContainerPort})
	if err != nil {
		fmt.Fprintf(f.log, "rbox: -p %s: %v\n", p, err)
		return
	}
	tin := in.(*net.TCPConn)
	if !f.track(tin) {
		return
	}
	defer f.untrack(tin)
	done := make(chan struct{})
	go func() {
		io.Copy(tin, c)
		tin.CloseWrite()
		close(done)
	}()
	io.Copy(c, tin)
	c.CloseWrite()
	<-done
}

// serveUDP keeps one connected socket into the sandbox per client
// address: the sandbox's replies go back to the client they answer.
func (f *forwarder) serveUDP(pc *net.UDPConn, p Port) {
	var mu sync.Mutex
	flows := map[string]net.Conn{}
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFromUDP(buf)
		if err != nil {
			return
		}
		key := from.String()
		mu.Lock()
		fl := flows[key]
		mu.Unlock()
		if fl == nil {
			if fl, err = f.dial(portRequest{"udp", p.ContainerPort}); err != nil {
				fmt.Fprintf(f.log, "rbox: -p %s: %v\n", p, err)
				continue
			}
			if !f.track(fl) {
				return
			}
			mu.Lock()
			flows[key] = fl
			mu.Unlock()
			f.run(func() {
				defer func() {
					mu.Lock()
					delete(flows, key)
					mu.Unlock()
					f.untrack(fl)
				}()
				b := make([]byte, 65535)
				for {
					fl.SetReadDeadline(time.Now().Add(udpIdle))
					n, err := fl.Read(b)
					if err != nil {
						if errors.Is(err, syscall.ECONNREFUSED) {
							continue // nothing listens yet: as a datagram is lost
						}
						return
					}
					pc.WriteToUDP(b[:n], from)
				}
			})
		}
		fl.Write(buf[:n])
	}
}

// dial asks the init for a socket connected to the sandbox's port. The
// init listens before the supervisor publishes anything, but a client can
// be quicker than the init's first step: a missing socket is waited for,
// a little.
func (f *forwarder) dial(r portRequest) (net.Conn, error) {
	var c *net.UnixConn
	var err error
	for try := 0; ; try++ {
		c, err = net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: f.socket, Net: "unixpacket"})
		if err == nil || try == 200 || !(errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("reach the sandbox's port forwarder: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(r.String())); err != nil {
		return nil, fmt.Errorf("ask the sandbox for %s: %w", r, err)
	}
	b, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(b, oob)
	if err != nil {
		return nil, fmt.Errorf("ask the sandbox for %s: %w", r, err)
	}
	fd := -1
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
		if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
			fd = fds[0]
		}
	}
	if string(b[:n]) != "ok" || fd < 0 {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("the sandbox: %s", b[:n])
	}
	file := os.NewFile(uintptr(fd), r.String())
	defer file.Close()
	return net.FileConn(file)
}
