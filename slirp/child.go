package slirp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// ChildConfig is the sandbox's side of a user-mode network, as the
// supervisor hands it to the init.
type ChildConfig struct {
	Dev     string   `json:"dev"`
	IP      string   `json:"ip"`
	Netmask int      `json:"netmask"`
	Gateway string   `json:"gateway"`
	MTU     int      `json:"mtu"`
	DNS     []string `json:"dns,omitempty"`
	// Configured: the helper configured the device itself (pasta).
	Configured bool `json:"configured,omitempty"`
	// PortSocket is where the init serves the published ports
	// (ServePorts); "" without them.
	PortSocket string `json:"portSocket,omitempty"`
}

// ConfigureChild gives the device its address, netmask and MTU, brings it
// up and routes everything through the gateway. It runs in the sandbox's
// network namespace, as root of its user namespace. (rootlesskit's child
// runs ip(8) for this; the init does it with two ioctls and a netlink
// message, in microseconds and without a binary from the host.)
func ConfigureChild(c *ChildConfig) error {
	if c.Configured {
		return nil
	}
	ip, err := netip.ParseAddr(c.IP)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("sandbox address %q is not IPv4", c.IP)
	}
	gw, err := netip.ParseAddr(c.Gateway)
	if err != nil || !gw.Is4() {
		return fmt.Errorf("gateway %q is not IPv4", c.Gateway)
	}
	if c.Netmask < 1 || c.Netmask > 30 {
		return fmt.Errorf("bad netmask /%d", c.Netmask)
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	ifr := func() *unix.Ifreq {
		r, _ := unix.NewIfreq(c.Dev)
		return r
	}
	r := ifr()
	if r == nil {
		return fmt.Errorf("bad device name %q", c.Dev)
	}
	r.SetUint32(uint32(c.MTU))
	if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, r); err != nil {
		return fmt.Errorf("set MTU %d on %s: %w", c.MTU, c.Dev, err)
	}
	r = ifr()
	if err := r.SetInet4Addr(ip.AsSlice()); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCSIFADDR, r); err != nil {
		return fmt.Errorf("set address %s on %s: %w", ip, c.Dev, err)
	}
	mask := netip.PrefixFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), c.Netmask).Masked().Addr().As4()
	r = ifr()
	r.SetInet4Addr(mask[:])
	if err := unix.IoctlIfreq(s, unix.SIOCSIFNETMASK, r); err != nil {
		return fmt.Errorf("set netmask /%d on %s: %w", c.Netmask, c.Dev, err)
	}
	r = ifr()
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, r); err != nil {
		return fmt.Errorf("read flags of %s: %w", c.Dev, err)
	}
	r.SetUint16(r.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, r); err != nil {
		return fmt.Errorf("bring up %s: %w", c.Dev, err)
	}
	r = ifr()
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, r); err != nil {
		return fmt.Errorf("index of %s: %w", c.Dev, err)
	}
	if err := addDefaultRoute(gw.As4(), r.Uint32()); err != nil {
		return fmt.Errorf("default route via %s: %w", gw, err)
	}
	return nil
}

// addDefaultRoute sends RTM_NEWROUTE for 0.0.0.0/0 via gw on the device
// and waits for the kernel's acknowledgement.
func addDefaultRoute(gw [4]byte, ifindex uint32) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ne := binary.NativeEndian
	attr := func(b []byte, typ uint16, val []byte) []byte {
		b = ne.AppendUint16(b, uint16(unix.SizeofRtAttr+len(val)))
		b = ne.AppendUint16(b, typ)
		return append(b, val...) // 4-byte values: no padding
	}
	body := []byte{unix.AF_INET, 0, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST}
	body = ne.AppendUint32(body, 0) // rtm_flags
	body = attr(body, unix.RTA_GATEWAY, gw[:])
	body = attr(body, unix.RTA_OIF, ne.AppendUint32(nil, ifindex))
	msg := ne.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	msg = ne.AppendUint16(msg, unix.RTM_NEWROUTE)
	msg = ne.AppendUint16(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	msg = ne.AppendUint32(msg, 1) // seq
	msg = ne.AppendUint32(msg, 0) // pid: the kernel's
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if e := int32(ne.Uint32(m.Data)); e != 0 {
				return unix.Errno(-e)
			}
			return nil
		}
	}
	return fmt.Errorf("no acknowledgement from the kernel")
}

// ServePorts serves the sandbox's side of the published ports for the
// life of the init: it listens on socket (a path in the supervisor's
// state directory) and answers each request (portmsg.go) with a socket
// connected to 127.0.0.1:PORT in this network namespace. Call it before
// the pivot (the path is on the host; the listening socket survives the
// pivot). It returns once it listens; the supervisor connects later.
func ServePorts(socket string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		return fmt.Errorf("port forwarder: listen on %q: %w", socket, err)
	}
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				fmt.Fprintf(log, "rbox: sandbox init: port forwarder: %v\n", err)
				return
			}
			go answerPort(c)
		}
	}()
	return nil
}

// answerPort answers one request of the supervisor.
func answerPort(c *net.UnixConn) {
	defer c.Close()
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err != nil {
		return
	}
	fd, err := dialPort(b[:n])
	if err != nil {
		c.Write([]byte("error: " + err.Error()))
		return
	}
	c.WriteMsgUnix([]byte("ok"), unix.UnixRights(fd), nil)
	unix.Close(fd)
}

// dialPort makes the socket a request asks for.
func dialPort(b []byte) (int, error) {
	r, err := parsePortRequest(b)
	if err != nil {
		return -1, err
	}
	typ := unix.SOCK_STREAM
	if r.Proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: r.Port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %s 127.0.0.1:%d: %w", r.Proto, r.Port, err)
	}
	return fd, nil
}

// Tap is the tap device the init makes for m (MakeTap), "" when m's
// helper makes or configures its own (pasta) or there is none.
func Tap(m Mode) string {
	if m.Kind == Slirp {
		return tapName
	}
	return ""
}

// MakeTap creates the tap device name in the caller's network namespace
// and makes it persistent, so that it outlives the descriptor closed here
// and slirp4netns attaches to it. It runs in the init as its first step
// (it holds CAP_NET_ADMIN there, mapped or not), while the supervisor
// writes the ID map. Persistent, the device goes away with the namespace,
// in the kernel's own time: a tap that slirp4netns made itself would be
// unregistered when slirp4netns exits, and the supervisor, which waits
// for that exit, would wait about 20 ms for the kernel's RCU grace
// periods. A device slirp4netns already holds (EBUSY) is no error: it
// then made it first.
func MakeTap(name string) error {
	fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("make tap %s: open %s: %w", name, tunDevice, err)
	}
	defer unix.Close(fd)
	r, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("make tap %q: %w", name, err)
	}
	r.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, r); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil
		}
		return fmt.Errorf("make tap %s: TUNSETIFF: %w", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("make tap %s: TUNSETPERSIST: %w", name, err)
	}
	return nil
}
