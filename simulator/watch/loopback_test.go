//go:build linux

package watch

import (
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Real loopback sockets in known states, for the census to count.

// testBacklog is the listen(2) backlog of the test listeners: below any net.core.somaxconn,
// so the accept queue's limit must equal it.
const testBacklog = 64

// settleTimeout bounds the wait for the kernel to process FINs and handshakes on loopback,
// which takes microseconds.
const settleTimeout = 5 * time.Second

// listen returns a 127.0.0.1 listener with backlog testBacklog on a fresh port, closed at
// the end of the test.
func listen(tb testing.TB) (*net.TCPListener, uint16) {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	file := os.NewFile(uintptr(fd), "listener")
	defer file.Close() // net.FileListener holds a dup
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind: %v", err)
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

// scenario is a set of connections to one port, grouped by what happened to them.
type scenario struct {
	open         int // accepted, both ends open: ESTABLISHED
	clientClosed int // accepted, client closed, server never closes: server CLOSE_WAIT
	queued       int // never accepted, both open: ESTABLISHED in the accept queue
	queuedClosed int // never accepted, client closed: CLOSE_WAIT in the accept queue
}

// build makes the scenario's connections to a new listener and returns its port. Every
// connection is aborted (RST, no TIME_WAIT) when the test ends.
func (s scenario) build(tb testing.TB) uint16 {
	tb.Helper()
	var conns []*net.TCPConn
	tb.Cleanup(func() {
		for _, c := range conns {
			c.SetLinger(0)
			c.Close()
		}
	})
	ln, port := listen(tb)
	dial := func() *net.TCPConn {
		c, err := net.DialTCP("tcp", nil, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
		if err != nil {
			tb.Fatalf("dial port %d: %v", port, err)
		}
		return c
	}
	for i := range s.open + s.clientClosed {
		cl := dial()
		ln.SetDeadline(time.Now().Add(settleTimeout))
		sv, err := ln.AcceptTCP()
		if err != nil {
			tb.Fatalf("accept: %v", err)
		}
		conns = append(conns, sv)
		if i < s.clientClosed {
			cl.Close() // FIN: the server side turns CLOSE_WAIT and stays so
		} else {
			conns = append(conns, cl)
		}
	}
	for i := range s.queued + s.queuedClosed {
		cl := dial()
		if i < s.queuedClosed {
			cl.Close()
		} else {
			conns = append(conns, cl)
		}
	}
	return port
}

// server returns the server-side states the census must show for s.
func (s scenario) server() map[string]int {
	return map[string]int{
		"established": s.open + s.queued,
		"close_wait":  s.clientClosed + s.queuedClosed,
	}
}
