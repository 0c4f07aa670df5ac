// Package proxy is a front proxy on real sockets, the shape of nginx in front of PHP-FPM: its
// own listener that accepts every connection and keeps it alive, a new upstream connection per
// request to the worker pool's connector (nginx opens a FastCGI connection per request), the
// upstream connection closed as soon as the client leaves (nginx's 499: the request then waits
// in the pool's listen backlog as a dead one, its socket in CLOSE_WAIT), and a 504 when the
// pool has not answered within the read timeout (nginx's fastcgi_read_timeout), after which the
// upstream connection is closed too. A timed-out request is not sent again: nginx's
// fastcgi_next_upstream / proxy_next_upstream default "error timeout" would try the next
// server of an upstream group, and fastcgi_pass to one address has no next one.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/simdev/sim/simulator/connector"
)

// Defaults of nginx 1.22 (Debian's nginx.conf where it sets them).
const (
	// ConnectTimeout is nginx's fastcgi_connect_timeout / proxy_connect_timeout default. A
	// connect completes in the kernel while the pool's backlog has room, so it fires only once
	// the backlog is full and SYNs are dropped.
	ConnectTimeout = 60 * time.Second
	// IdleTimeout is Debian's nginx.conf keepalive_timeout (65 s; nginx's own default is 75 s).
	IdleTimeout = 65 * time.Second
	// HeaderTimeout is nginx's client_header_timeout default.
	HeaderTimeout = 60 * time.Second
	// Backlog is nginx's listen backlog on Linux (NGX_LISTEN_BACKLOG).
	Backlog = 511
)

// Config is the proxy's part of the server config.
type Config struct {
	// Upstream is the pool's connector, host:port.
	Upstream string
	// ReadTimeout is how long the proxy waits for the pool's response headers after it has
	// sent the request; 0 waits for ever.
	ReadTimeout time.Duration
}

// Stats is a snapshot of the proxy.
type Stats struct {
	// Requests counts the requests forwarded; InFlight those whose upstream answer is awaited.
	Requests int64 `json:"proxy_requests"`
	InFlight int64 `json:"proxy_in_flight"`
	// Timeouts counts the 504s after ReadTimeout (or ConnectTimeout): nginx's "upstream timed
	// out"; ClientClosed the requests whose client left first (nginx's 499), their upstream
	// connection closed at once; Errors the 502s (the upstream refused or reset).
	Timeouts     int64 `json:"proxy_timeouts"`
	ClientClosed int64 `json:"proxy_client_closed"`
	Errors       int64 `json:"proxy_errors"`
}

// Proxy is a running front proxy.
type Proxy struct {
	cfg    Config
	ln     net.Listener
	srv    *http.Server
	tr     *http.Transport
	life   context.Context
	cancel context.CancelFunc

	requests, inFlight, timeouts, clientClosed, errs atomic.Int64
}

// Start listens on addr and forwards every request to cfg.Upstream. Serve it with Serve.
func Start(addr string, cfg Config) (*Proxy, error) {
	tl, err := connector.Listen(addr, Backlog)
	if err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	p := &Proxy{cfg: cfg, ln: noKeepAlive{tl}, life: life, cancel: cancel}
	p.tr = &http.Transport{
		// A new connection per request, closed after the answer, as nginx's FastCGI without
		// fastcgi_keep_conn.
		DisableKeepAlives: true,
		// No SO_KEEPALIVE on the upstream connection: nginx does not set it.
		DialContext:           (&net.Dialer{Timeout: ConnectTimeout, KeepAlive: -1}).DialContext,
		ResponseHeaderTimeout: cfg.ReadTimeout,
	}
	p.srv = &http.Server{
		Handler:           p,
		IdleTimeout:       IdleTimeout,
		ReadHeaderTimeout: HeaderTimeout,
		BaseContext:       func(net.Listener) context.Context { return life },
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	return p, nil
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() *net.TCPAddr { return p.ln.Addr().(*net.TCPAddr) }

// Serve serves until Close; nil after Close.
func (p *Proxy) Serve() error {
	err := p.srv.Serve(p.ln)
	if errors.Is(err, http.ErrServerClosed) || p.life.Err() != nil {
		return nil
	}
	return err
}

// Close stops the proxy: its listener, its client connections and every upstream request.
func (p *Proxy) Close() error {
	p.cancel()
	err := p.srv.Close()
	p.tr.CloseIdleConnections()
	return err
}

// Stats returns a snapshot.
func (p *Proxy) Stats() Stats {
	return Stats{
		Requests: p.requests.Load(), InFlight: p.inFlight.Load(), Timeouts: p.timeouts.Load(),
		ClientClosed: p.clientClosed.Load(), Errors: p.errs.Load(),
	}
}

// ServeHTTP forwards r on a new upstream connection. The upstream request's context is r's:
// Go's server cancels it when the client's connection closes (its background read sees the
// FIN), and the transport then closes the upstream connection, as nginx does on a 499.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.cfg.Upstream+r.URL.RequestURI(), nil)
	if err != nil {
		p.errs.Add(1)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.inFlight.Add(1)
	resp, err := p.tr.RoundTrip(out)
	p.inFlight.Add(-1)
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			p.timeouts.Add(1)
			http.Error(w, fmt.Sprintf("gateway timeout: upstream timed out (%v)", err), http.StatusGatewayTimeout)
		case r.Context().Err() != nil:
			// The client left (or the proxy is stopping): no answer, the connection closes.
			p.clientClosed.Add(1)
			panic(http.ErrAbortHandler)
		default:
			p.errs.Add(1)
			http.Error(w, fmt.Sprintf("bad gateway: %v", err), http.StatusBadGateway)
		}
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Content-Length"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// noKeepAlive turns SO_KEEPALIVE off on every accepted connection: nginx does not set it (its
// listen directive's so_keepalive is off by default), and Go's listener would turn it on.
type noKeepAlive struct{ *net.TCPListener }

func (l noKeepAlive) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	_ = c.SetKeepAlive(false)
	return c, nil
}
