// Package hostguard holds the Host-header and listen-address checks shared by sim's read-only
// listeners (the app's admin listener, the watch agent): they answer only requests that name
// loopback, so that a web page cannot read them through DNS rebinding, and they listen only on
// loopback unless a flag says they run in a container.
package hostguard

import (
	"net"
	"strings"
)

// hostOf returns the host of a Host header value (host, host:port, [v6]:port, [v6]).
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		return hostport[1 : len(hostport)-1]
	}
	return hostport
}

// LoopbackHost reports whether a Host header value (host, host:port, [v6]:port) names localhost
// or a loopback address. An empty Host (HTTP/1.0) is refused: every browser sends one.
func LoopbackHost(hostport string) bool {
	host := hostOf(hostport)
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// UndottedHost reports whether a Host header value is an IP address or a name without a dot
// (a compose service name such as "app-self"). DNS rebinding needs a name in a domain the
// attacker controls, which has a dot.
func UndottedHost(hostport string) bool {
	host := hostOf(hostport)
	if host == "" {
		return false
	}
	return net.ParseIP(host) != nil || !strings.Contains(host, ".")
}

// LoopbackAddr reports whether a listen address host:port binds loopback only: its host is
// "localhost" or a loopback IP. An empty host or 0.0.0.0 binds every interface and is not.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
