//go:build linux

package sockets

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Helpers that build real loopback sockets in known states.

// testBacklog is the listen(2) backlog of the test listeners: small enough to
// be below any net.core.somaxconn, so AcceptQueueMax must equal it.
const testBacklog = 64

// settleTimeout bounds the wait for the kernel to process FINs and
// handshakes on loopback, which takes microseconds.
const settleTimeout = 5 * time.Second

// stack is how a test listener is bound.
type stack struct {
	name   string
	family int
	bind   netip.Addr // address the listener binds
	dial   netip.Addr // address clients connect to
	v6only bool
}

var (
	ipv4 = stack{"ipv4", unix.AF_INET, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"), false}
	ipv6 = stack{"ipv6", unix.AF_INET6, netip.IPv6Loopback(), netip.IPv6Loopback(), true}
	// dualStack is what Go's net.Listen("tcp", ":P") makes: an AF_INET6
	// socket that takes IPv4 connections, whose server-side sockets are
	// AF_INET6 (v4-mapped) while their clients are AF_INET. It binds
	// ::ffff:127.0.0.1 rather than :: so that it listens on loopback only.
	dualStack = stack{"dual-stack", unix.AF_INET6, netip.MustParseAddr("::ffff:127.0.0.1"), netip.MustParseAddr("127.0.0.1"), false}
)

// skipWithoutIPv6 skips t when ::1 is not configured.
func skipWithoutIPv6(tb testing.TB, s stack) {
	tb.Helper()
	if s.family != unix.AF_INET6 || !s.v6only {
		return
	}
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		tb.Skipf("skip IPv6: ::1 is not configured on loopback (%v)", err)
	}
	ln.Close()
}

// listen returns a listener of stack s with backlog testBacklog on a fresh
// port, closed at the end of the test.
func listen(tb testing.TB, s stack) (*net.TCPListener, uint16) {
	tb.Helper()
	// A fresh port may still carry an earlier connection's TIME_WAIT (a client of another test
	// that had this port as its ephemeral port; seen on a busy CI machine): the kernel lets a
	// listener bind over it, and the test's exact counts would include it. Take a port with no
	// socket on it but the listener.
	n, nerr := NewNetlink()
	if nerr == nil {
		defer n.Close()
	}
	for range maxListenTries {
		ln, port := listenOnce(tb, s)
		if nerr != nil {
			return ln, port
		}
		got, err := n.Sample(port)
		if err == nil && got.Server == ([NumStates]int{}) && got.Client == ([NumStates]int{}) {
			return ln, port
		}
		ln.Close()
	}
	tb.Fatalf("no port without leftover sockets in %d tries", maxListenTries)
	return nil, 0
}

// maxListenTries bounds listen's search for a port that carries no leftover socket.
const maxListenTries = 20

func listenOnce(tb testing.TB, s stack) (*net.TCPListener, uint16) {
	tb.Helper()
	fd, err := unix.Socket(s.family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	file := os.NewFile(uintptr(fd), "listener")
	defer file.Close() // net.FileListener holds a dup
	var sa unix.Sockaddr
	if s.family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Addr: s.bind.As4()}
	} else {
		v6only := 0
		if s.v6only {
			v6only = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			tb.Fatalf("IPV6_V6ONLY: %v", err)
		}
		sa = &unix.SockaddrInet6{Addr: s.bind.As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		tb.Fatalf("bind %v: %v", s.bind, err)
	}
	if err := unix.Listen(fd, testBacklog); err != nil {
		tb.Fatalf("listen: %v", err)
	}
	ln, err := net.FileListener(file)
	if err != nil {
		tb.Fatalf("file listener: %v", err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener), uint16(ln.Addr().(*net.TCPAddr).Port)
}

// conns owns the connections of a test and aborts them (RST, so that no
// TIME_WAIT outlives the test) at its end.
type conns struct {
	tb   testing.TB
	open map[*net.TCPConn]bool
}

func newConns(tb testing.TB) *conns {
	c := &conns{tb: tb, open: map[*net.TCPConn]bool{}}
	tb.Cleanup(func() {
		for conn := range c.open {
			conn.SetLinger(0)
			conn.Close()
		}
	})
	return c
}

func (c *conns) dial(s stack, port uint16) *net.TCPConn {
	c.tb.Helper()
	conn, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.dial, port)))
	if err != nil {
		c.tb.Fatalf("dial port %d: %v", port, err)
	}
	c.open[conn] = true
	return conn
}

func (c *conns) accept(ln *net.TCPListener) *net.TCPConn {
	c.tb.Helper()
	ln.SetDeadline(time.Now().Add(settleTimeout))
	conn, err := ln.AcceptTCP()
	if err != nil {
		c.tb.Fatalf("accept: %v", err)
	}
	c.open[conn] = true
	return conn
}

// close closes conn gracefully (FIN), as a client that gives up does.
func (c *conns) close(conn *net.TCPConn) {
	c.tb.Helper()
	delete(c.open, conn)
	if err := conn.Close(); err != nil {
		c.tb.Fatalf("close: %v", err)
	}
}

// scenario is a set of connections to one port, grouped by what happened to
// them.
type scenario struct {
	open         int // accepted, both ends open: ESTABLISHED on both sides
	clientClosed int // accepted, client closed: server CLOSE_WAIT, client FIN_WAIT2
	serverClosed int // accepted, server closed: server FIN_WAIT2, client CLOSE_WAIT
	queued       int // never accepted, both open: ESTABLISHED in the accept queue
	queuedClosed int // never accepted, client closed: CLOSE_WAIT in the accept queue
}

// want is what both methods must count for s on a listening port.
func (s scenario) want() Counts {
	var c Counts
	c.Server[Established] = s.open + s.queued
	c.Server[CloseWait] = s.clientClosed + s.queuedClosed
	c.Server[FinWait2] = s.serverClosed
	c.Client[Established] = s.open + s.queued
	c.Client[FinWait2] = s.clientClosed + s.queuedClosed
	c.Client[CloseWait] = s.serverClosed
	c.Listening = true
	c.AcceptQueue = s.queued + s.queuedClosed
	c.AcceptQueueMax = testBacklog
	return c
}

// sockets is the number of sockets of the scenario's port, listener included.
func (s scenario) sockets() int {
	return 2*(s.open+s.clientClosed+s.serverClosed+s.queued+s.queuedClosed) + 1
}

// build makes the scenario's connections to a new listener of stack st and
// returns its port.
func (s scenario) build(tb testing.TB, c *conns, st stack) uint16 {
	tb.Helper()
	if s.queued+s.queuedClosed > testBacklog {
		tb.Fatalf("scenario queues %d connections, the backlog is %d", s.queued+s.queuedClosed, testBacklog)
	}
	ln, port := listen(tb, st)
	// Accept each connection right after dialing it, so that the backlog
	// never fills and the pair is known.
	for i := range s.open + s.clientClosed + s.serverClosed {
		cl := c.dial(st, port)
		sv := c.accept(ln)
		if sv.RemoteAddr().String() != cl.LocalAddr().String() {
			tb.Fatalf("accepted %v, want the connection from %v", sv.RemoteAddr(), cl.LocalAddr())
		}
		switch {
		case i < s.clientClosed:
			c.close(cl)
		case i < s.clientClosed+s.serverClosed:
			c.close(sv)
		}
	}
	for i := range s.queued + s.queuedClosed {
		cl := c.dial(st, port)
		if i < s.queuedClosed {
			c.close(cl)
		}
	}
	return port
}

// waitCounts samples port until it counts want, and fails tb when it still
// does not after settleTimeout.
func waitCounts(tb testing.TB, s Sampler, port uint16, want Counts) {
	tb.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		got, err := s.Sample(port)
		if err != nil {
			tb.Fatalf("%s: sample port %d: %v", s.Method(), port, err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: port %d:\n got %v\nwant %v", s.Method(), port, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// forProc is want as Proc reports it: /proc does not show the backlog limit.
func forProc(want Counts) Counts {
	if want.Listening {
		want.AcceptQueueMax = QueueMaxUnknown
	}
	return want
}

func newNetlink(tb testing.TB) *Netlink {
	tb.Helper()
	n, err := NewNetlink()
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		tb.Skipf("skip netlink: sock_diag unavailable here: %v", err)
	}
	if err != nil {
		tb.Fatalf("NewNetlink: %v", err)
	}
	tb.Cleanup(func() { n.Close() })
	return n
}
