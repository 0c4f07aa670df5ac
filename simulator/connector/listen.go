package connector

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Listen opens a TCP listening socket on addr with exactly backlog as its listen() backlog.
//
// Go's net.Listen always passes net.core.somaxconn (4096 here), so Tomcat's acceptCount (100)
// could not be modelled with it: the socket is made by hand and handed to the runtime poller.
func Listen(addr string, backlog int) (*net.TCPListener, error) {
	tcpAddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("resolve %q: %w", addr, err)
	}
	family, sa, err := sockaddr(tcpAddr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	closeFD := true
	defer func() {
		if closeFD {
			unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return nil, fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
	}
	if family == unix.AF_INET6 {
		// An explicit IPv6 address listens on IPv6 only, like Go does for "[::1]:port".
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return nil, fmt.Errorf("setsockopt IPV6_V6ONLY: %w", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	closeFD = false
	defer f.Close() // FileListener dups the descriptor
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("file listener: %w", err)
	}
	return l.(*net.TCPListener), nil
}

func sockaddr(a *net.TCPAddr) (int, unix.Sockaddr, error) {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() && ip.To4() != nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		if ip != nil {
			copy(sa.Addr[:], ip.To4())
		}
		return unix.AF_INET, sa, nil
	}
	if ip4 := ip.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return unix.AF_INET, sa, nil
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], ip.To16())
	return unix.AF_INET6, sa, nil
}
