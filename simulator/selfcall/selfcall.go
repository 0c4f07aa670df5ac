// Package selfcall is the app's outgoing HTTP client, modelled on Apache HttpClient 4.x with a
// PoolingHttpClientConnectionManager: at most max_per_route connections to one host and max_total
// overall, callers beyond that waiting in line for a lease, and three optional timeouts.
//
// Its calls live in the app's context, never in the incoming request's: the incident's client
// did not know that the browser had given up, and a client that did would heal the deadlock at
// every client timeout (see PITFALLS.md).
package selfcall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/simdev/sim/simulator/sem"
)

// Config holds HttpClient's pool and timeout settings. A zero timeout means none, as in the
// incident.
type Config struct {
	MaxPerRoute              int           // DefaultMaxPerRoute (HttpClient default 2)
	MaxTotal                 int           // MaxTotal (HttpClient default 20)
	ConnectionRequestTimeout time.Duration // how long to wait for a lease
	ConnectTimeout           time.Duration // TCP connect
	SocketTimeout            time.Duration // SO_TIMEOUT: longest silence while reading
	// TCPKeepAlive turns SO_KEEPALIVE on for the pool's connections, with Go's default probes
	// (15 s idle, 15 s apart, 9 of them). Off by default: HttpClient's SocketConfig.soKeepAlive
	// is false by default.
	TCPKeepAlive bool
	// NoPool dials a new connection for every call and closes it after the answer, with no
	// lease to wait for (MaxPerRoute, MaxTotal and ConnectionRequestTimeout do nothing): what
	// Python's requests without a Session, curl and Ruby's Net::HTTP do. Every call is then a
	// new connection at the tail of the server's accept queue.
	NoPool bool
	// Retries is how many times a call is sent again after a read timeout (SocketTimeout) or
	// a reset, each time on a new connection, which joins the tail of the server's accept
	// queue: Ruby Net::HTTP's max_retries (1 by default) for an idempotent GET. A connect
	// timeout is not retried (Net::OpenTimeout is raised at once). 0: none, as HttpClient's
	// pool with timeouts, requests and curl.
	Retries int
}

// ErrLeaseTimeout is returned when no connection could be leased within
// ConnectionRequestTimeout (HttpClient's ConnectionPoolTimeoutException).
var ErrLeaseTimeout = errors.New("timeout waiting for connection from pool")

// Stats is a snapshot of the pool.
type Stats struct {
	Leased  int // callers holding a connection (a leased one, or their own without a pool)
	Waiting int // callers in line for one
	Calls   int64
	Errors  int64
	// Retried counts the calls sent again (Config.Retries).
	Retried int64
	// MeanMS is the mean time of the calls that completed successfully, lease wait included:
	// what a worker spends in the self-call, the second term of the model's
	// max_threads / (work_time + self-call time).
	MeanMS float64
}

// Client fetches URLs through the bounded pool.
type Client struct {
	cfg Config
	// unpooled is the calls in flight without a pool (NoPool).
	unpooled  atomic.Int64
	life      context.Context
	transport *http.Transport
	total     *sem.FIFO

	mu      sync.Mutex
	routes  map[string]*sem.FIFO
	calls   int64
	errs    int64
	retried int64
	okN     int64
	okTime  time.Duration
}

// New returns a client whose calls all end when life ends (the app stopping), and not before.
func New(life context.Context, cfg Config) *Client {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout}
	if !cfg.TCPKeepAlive {
		// Go's Dialer turns keepalive on (15 s) when KeepAlive is 0; HttpClient sets no
		// SO_KEEPALIVE unless asked. A negative KeepAlive leaves it off.
		dialer.KeepAlive = -1
	}
	maxConns := cfg.MaxPerRoute
	if cfg.NoPool {
		maxConns = 0 // no limit: a connection per call, however many calls
	}
	t := &http.Transport{
		// Keep as many idle connections as may be leased, so the pool reuses them instead of
		// churning through TIME_WAIT sockets (Go's default keeps 2 per host).
		MaxConnsPerHost:     maxConns,
		MaxIdleConnsPerHost: cfg.MaxPerRoute,
		MaxIdleConns:        cfg.MaxTotal,
		// Without a pool, Connection: close on every request: the server closes after its
		// answer and the transport keeps nothing idle.
		DisableKeepAlives:  cfg.NoPool,
		DisableCompression: true,
		Proxy:              nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil || cfg.SocketTimeout <= 0 {
				return c, err
			}
			return &soTimeoutConn{Conn: c, timeout: cfg.SocketTimeout}, nil
		},
	}
	return &Client{
		cfg:       cfg,
		life:      life,
		transport: t,
		total:     sem.New(cfg.MaxTotal),
		routes:    map[string]*sem.FIFO{},
	}
}

// Get leases a connection for rawURL's route, fetches it and returns the body. Any status other
// than 200 is an error.
func (c *Client) Get(rawURL string) ([]byte, error) {
	return c.GetContext(c.life, rawURL)
}

// GetContext is Get that also ends when ctx ends: the lease wait is abandoned, or the
// connection closed mid-exchange, as when the process that made the call dies (a worker killed
// by a watchdog). ctx must not be the incoming request's context, which ends when its client
// leaves (see PITFALLS: the server would heal itself at every client timeout).
func (c *Client) GetContext(ctx context.Context, rawURL string) ([]byte, error) {
	if ctx != c.life {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(c.life, cancel)
		defer stop()
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", rawURL, err)
	}
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	start := time.Now()
	body, err := c.get(ctx, u)
	c.mu.Lock()
	if err != nil {
		c.errs++
	} else {
		c.okN++
		c.okTime += time.Since(start)
	}
	c.mu.Unlock()
	return body, err
}

func (c *Client) get(ctx context.Context, u *url.URL) ([]byte, error) {
	release, err := c.lease(ctx, u.Host)
	if err != nil {
		return nil, err
	}
	defer release()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for try := 0; ; try++ {
		body, err := c.send(req, u)
		if err == nil || try >= c.cfg.Retries || !retryable(err) || c.life.Err() != nil {
			return body, err
		}
		// The failed connection is closed (the transport drops a connection whose read
		// failed); the next try dials a new one, as Net::HTTP's retry does.
		c.mu.Lock()
		c.retried++
		c.mu.Unlock()
	}
}

// send makes one try of the call.
func (c *Client) send(req *http.Request, u *url.URL) ([]byte, error) {
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("self-call %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("self-call %s: read body: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("self-call %s: status %d", u, resp.StatusCode)
	}
	return body, nil
}

// retryable: the errors Net::HTTP retries an idempotent request after (Net::ReadTimeout,
// EOFError, ECONNRESET, EPIPE, ...), and not a failed connect (Net::OpenTimeout, ECONNREFUSED:
// raised at once).
func retryable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// lease takes a per-route slot and then a total slot, both first come first served, within
// ConnectionRequestTimeout if one is set. Without a pool (NoPool) there is nothing to lease.
func (c *Client) lease(outer context.Context, host string) (func(), error) {
	if c.cfg.NoPool {
		// Nothing to lease; the call holds a connection of its own all the same, and Stats
		// counts it among the leased (the app's workers inside a self-call).
		c.unpooled.Add(1)
		return func() { c.unpooled.Add(-1) }, nil
	}
	ctx := outer
	if c.cfg.ConnectionRequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.ConnectionRequestTimeout)
		defer cancel()
	}
	route := c.route(host)
	if err := route.Acquire(ctx); err != nil {
		return nil, leaseErr(outer, err)
	}
	if err := c.total.Acquire(ctx); err != nil {
		route.Release()
		return nil, leaseErr(outer, err)
	}
	return func() {
		c.total.Release()
		route.Release()
	}, nil
}

func leaseErr(outer context.Context, err error) error {
	if outer.Err() != nil {
		return outer.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrLeaseTimeout
	}
	return err
}

func (c *Client) route(host string) *sem.FIFO {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.routes[host]
	if !ok {
		r = sem.New(c.cfg.MaxPerRoute)
		c.routes[host] = r
	}
	return r
}

// Stats returns a snapshot of the pool.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	routes := make([]*sem.FIFO, 0, len(c.routes))
	for _, r := range c.routes {
		routes = append(routes, r)
	}
	s := Stats{Calls: c.calls, Errors: c.errs, Retried: c.retried}
	if c.okN > 0 {
		s.MeanMS = float64(c.okTime.Microseconds()) / 1000 / float64(c.okN)
	}
	c.mu.Unlock()
	s.Leased = c.total.Held() + int(c.unpooled.Load())
	s.Waiting = c.total.Waiting()
	for _, r := range routes {
		s.Waiting += r.Waiting()
	}
	return s
}

// Close drops idle pooled connections.
func (c *Client) Close() {
	c.transport.CloseIdleConnections()
}

// soTimeoutConn gives every read its own deadline, which is what SO_TIMEOUT means in Java: the
// longest silence allowed, not a limit on the whole exchange.
type soTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *soTimeoutConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}
