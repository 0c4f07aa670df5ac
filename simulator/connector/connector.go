// Package connector is a Tomcat-like HTTP connector on real sockets: a listen() backlog of
// accept_count, an acceptor that stops at max_connections and backs off on EMFILE, and a bounded
// pool of max_threads workers that requests wait for in an unbounded FIFO queue with no timer.
// Accepted sockets get no TCP keepalive unless asked, as in Tomcat (see Config.TCPKeepAlive).
//
// Three modes, the first two as in Tomcat 8:
//   - nio (default): every connection is accepted (each holds an fd); a request waits for a
//     worker only once it has arrived. A request whose client has gone stays queued.
//   - bio: a worker is taken before accept() and held for the connection's whole life,
//     keep-alive included; connections beyond max_threads wait in the kernel backlog.
//   - reactor (Puma 5): a worker is taken before accept(), as in bio, so that connections
//     wait in the kernel backlog while every worker is busy or wanted; but it serves only the
//     connection's first request. Between requests a kept-alive connection holds no worker (it
//     waits in Puma's reactor), and its next request queues for one, FIFO, as in nio.
//
// With HonorClientClose a worker that picks up a request first checks its socket, as Puma's
// closed_socket? does (TCP_INFO): a client already gone (CLOSE_WAIT) is closed without running
// the request. In bio and reactor that is the only place a dead client can be seen, since its
// connection waited in the kernel backlog; in nio the queue drops it as soon as it leaves.
//
// In nio mode three more mechanics can be turned on, each a fix teams deploy against the
// self-call deadlock: a bounded worker queue (Config.MaxQueueSize), a gate that requests wait at
// before they take a worker (Config.Gate), and a handler that gives its worker back while it
// waits and takes one again to finish (Worker, as Servlet 3 async does).
package connector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/simdev/sim/simulator/sem"
)

// Connector modes.
const (
	NIO     = "nio"
	BIO     = "bio"
	Reactor = "reactor"
)

// Acceptor back-off on accept errors, from Tomcat's AbstractEndpoint.handleExceptionWithDelay:
// the first error waits 50 ms, each further one doubles it, capped at 1.6 s.
const (
	acceptBackoffInitial = 50 * time.Millisecond
	acceptBackoffMax     = 1600 * time.Millisecond
)

// TCP keepalive of an accepted connection when Config.TCPKeepAlive is on: Go's own defaults for
// a net.Listen listener (net.defaultTCPKeepAliveIdle, -Interval and -Count), which is what sim
// did before keepalive could be turned off, so that runs recorded then can be repeated. A Tomcat
// with socket.soKeepAlive=true would use the kernel's net.ipv4.tcp_keepalive_* instead (7200 s
// idle by default on Linux).
const (
	KeepAliveIdle     = 15 * time.Second // first probe after this long without traffic
	KeepAliveInterval = 15 * time.Second // between unanswered probes
	KeepAliveCount    = 9                // unanswered probes before the connection is dropped
)

// Config is the connector's part of the server config.
type Config struct {
	Mode              string        // NIO, BIO or Reactor
	MaxThreads        int           // worker pool size: the workers that serve requests
	MaxConnections    int           // nio: the acceptor stops at this many open connections
	AcceptCount       int           // listen() backlog
	ConnectionTimeout time.Duration // wait for a request's headers after accept; 0 = none
	KeepAliveTimeout  time.Duration // idle keep-alive connection lifetime; 0 = none
	HonorClientClose  bool          // drop a queued request when its client leaves (not Tomcat's behaviour)
	// CloseAfterResponse answers every request with Connection: close and closes the
	// connection once the response is written (keep_alive false), as gunicorn's sync worker
	// does; off by default, as Tomcat keeps connections alive. In bio mode the worker held for
	// the connection is freed with it, so the next connection in the backlog is accepted.
	CloseAfterResponse bool
	// TCPKeepAlive turns SO_KEEPALIVE on for accepted connections: a first probe after 15 s
	// idle, then every 15 s, 9 probes (Go's defaults). Off by default, as Tomcat's
	// socket.soKeepAlive is unset by default. It matters in a long hang: the client's orphaned
	// FIN_WAIT2 socket dies after tcp_fin_timeout (60 s), the next probe then gets a RST, and the
	// server's CLOSE_WAIT socket leaves every TCP state while its fd stays open, so the
	// CLOSE_WAIT count falls although nothing recovered. Without keepalive it stays in
	// CLOSE_WAIT until the fd is closed, as in the incident.
	TCPKeepAlive bool
	// MaxQueueSize bounds the worker queue (nio): a request that finds every worker busy and
	// this many requests already waiting is answered 503 at once, on its connection's goroutine,
	// without a worker — Tomcat's <Executor maxQueueSize>, whose executor refuses the socket
	// processor. 0 = unbounded (Tomcat's default). bio has no queue of its own: its connections
	// wait in the kernel backlog.
	MaxQueueSize int
	// Gate, if set (nio), is passed every request before it queues for a worker, and may make
	// it wait there, holding no worker: a limiter in front of the pool. ctx ends with the
	// connector (or with the client, under HonorClientClose). release is called once the
	// request is done; an error answers 503 with the error's text, unless ctx ended (then no
	// answer, as for a queued request).
	Gate func(ctx context.Context, r *http.Request) (release func(), err error)
	// WorkerTimeout, if set, is the watchdog (watchdog.go): a worker that has spent this long in
	// one request is killed, as gunicorn's arbiter kills a silent sync worker: its client's
	// connection is closed unanswered, its self-call (KillContext) ends, and the worker comes
	// back WorkerBoot later. 0 = no watchdog, as in Tomcat.
	WorkerTimeout time.Duration
	WorkerBoot    time.Duration
	// StartWorkers, if > 0 (bio), starts the pool with that many workers and lets it grow
	// and shrink as PHP-FPM's pm = dynamic does (pm.start_servers): every SpawnInterval, when
	// fewer than MinSpare workers are idle (blocked in accept()), it starts MinSpare - idle
	// more, up to MaxThreads; when more than MaxSpare are idle, it stops one. 0: MaxThreads
	// workers from the start (Tomcat, pm = static).
	StartWorkers, MinSpare, MaxSpare int
}

// SpawnInterval is PHP-FPM's idle-server maintenance period
// (FPM_IDLE_SERVER_MAINTENANCE_HEARTBEAT, 1 s): a dynamic pool changes size at most this often.
const SpawnInterval = time.Second

// Stats is a snapshot of the connector.
type Stats struct {
	MaxThreads      int
	WorkersBusy     int
	Queued          int
	ConnectionsOpen int64
	AcceptErrors    int64
	Accepted        int64
	// Rejected counts the requests answered 503 because the worker queue was full
	// (MaxQueueSize).
	Rejected int64
	// Killed counts the workers the watchdog killed (WorkerTimeout).
	Killed int64
	// Workers is the pool's size now: MaxThreads, or a dynamic pool's (StartWorkers).
	Workers int
}

// ErrQueueFull is Worker.Reacquire's error when the worker queue is at MaxQueueSize.
var ErrQueueFull = errors.New("worker queue full")

// ErrStopped is Worker.Reacquire's error when the connector is closing (or, under
// HonorClientClose, the client left).
var ErrStopped = errors.New("connector stopped")

// Connector serves one HTTP handler behind a bounded worker pool.
type Connector struct {
	cfg     Config
	workers *sem.FIFO
	conns   *sem.FIFO
	ln      *Listener
	srv     *http.Server
	life    context.Context
	cancel  context.CancelFunc
	// rejected counts the requests refused because the worker queue was full.
	rejected atomic.Int64
	// killed counts the workers the watchdog killed.
	killed atomic.Int64
}

// New opens the listening socket on addr and prepares to serve h. Nothing is accepted until Serve.
func New(addr string, cfg Config, h http.Handler) (*Connector, error) {
	tl, err := Listen(addr, cfg.AcceptCount)
	if err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	size := cfg.MaxThreads
	if cfg.Mode == BIO && cfg.StartWorkers > 0 {
		size = cfg.StartWorkers
	}
	c := &Connector{
		cfg:     cfg,
		workers: sem.New(size),
		life:    life,
		cancel:  cancel,
	}
	maxConns := cfg.MaxConnections
	if cfg.Mode == BIO {
		maxConns = cfg.MaxThreads
	}
	c.conns = sem.New(maxConns)
	c.ln = &Listener{inner: tl, conns: c.conns, life: life, keepAlive: cfg.TCPKeepAlive}
	if cfg.WorkerTimeout > 0 {
		// Inside the nio queue: a worker is silent from when it takes the request.
		h = c.watch(h)
	}
	switch cfg.Mode {
	case BIO:
		c.ln.workers = c.workers
		if cfg.HonorClientClose {
			h = dropClosed(h)
		}
	case Reactor:
		c.ln.workers = c.workers
		c.ln.perRequest = true
		h = c.queue(h)
	default:
		h = c.queue(h)
	}
	c.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ConnectionTimeout,
		IdleTimeout:       cfg.KeepAliveTimeout,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(life, lifeKey{}, life)
		},
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, nc)
		},
		ErrorLog: quietLog(),
	}
	if cfg.CloseAfterResponse {
		c.srv.SetKeepAlivesEnabled(false)
	}
	return c, nil
}

// Addr is the listening address.
func (c *Connector) Addr() *net.TCPAddr { return c.ln.Addr().(*net.TCPAddr) }

// Serve accepts and serves until Close. It returns nil after Close.
func (c *Connector) Serve() error {
	if c.cfg.Mode == BIO && c.cfg.StartWorkers > 0 {
		go c.maintain()
	}
	err := c.srv.Serve(c.ln)
	// Close cancels life first, which ends an Accept waiting for a connection slot or a worker
	// with net.ErrClosed; net/http may see that before it knows it is closing.
	if errors.Is(err, http.ErrServerClosed) || c.life.Err() != nil {
		return nil
	}
	return err
}

// Close stops accepting, releases every queued request and closes every connection.
func (c *Connector) Close() error {
	c.cancel()
	return c.srv.Close()
}

// maintain grows and shrinks a dynamic pool every SpawnInterval (see Config.StartWorkers), as
// PHP-FPM's fpm_pctl_perform_idle_server_maintenance: idle workers are those blocked in
// accept() (bio takes its worker before accept: the one waiting there is idle, not busy).
func (c *Connector) maintain() {
	t := time.NewTicker(SpawnInterval)
	defer t.Stop()
	for {
		select {
		case <-c.life.Done():
			return
		case <-t.C:
		}
		size := c.workers.Size()
		idle := size - c.workers.Held() + int(c.ln.accepting.Load())
		switch {
		case idle < c.cfg.MinSpare && size < c.cfg.MaxThreads:
			c.workers.Grow(min(c.cfg.MinSpare-idle, c.cfg.MaxThreads-size))
		case idle > c.cfg.MaxSpare:
			c.workers.Shrink()
		}
	}
}

// Stats returns a snapshot.
func (c *Connector) Stats() Stats {
	return Stats{
		Workers:         c.workers.Size(),
		MaxThreads:      c.cfg.MaxThreads,
		WorkersBusy:     c.workers.Held(),
		Queued:          c.workers.Waiting(),
		ConnectionsOpen: c.ln.open.Load(),
		AcceptErrors:    c.ln.acceptErrors.Load(),
		Accepted:        c.ln.accepted.Load(),
		Rejected:        c.rejected.Load(),
		Killed:          c.killed.Load(),
	}
}

// queue makes each request wait for a worker (nio). The wait has no timer, and by default it
// ignores the client leaving: Tomcat hands the socket to its executor and processes it even if
// the peer has closed, which is what leaves the server side in CLOSE_WAIT. The request passes
// the Gate first, if there is one, and is refused with 503 when the queue is at MaxQueueSize.
// The handler finds its Worker in the request's context (WorkerFrom).
func (c *Connector) queue(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := c.life
		if c.cfg.HonorClientClose {
			ctx = r.Context()
		}
		if c.cfg.Gate != nil {
			release, err := c.cfg.Gate(ctx, r)
			if err != nil {
				if ctx.Err() != nil {
					// Client gone (honor_client_close) or server stopping: end the connection
					// without an answer. Returning would make net/http send an empty 200 for a
					// page never made.
					panic(http.ErrAbortHandler)
				}
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			defer release()
		}
		wk := &Worker{c: c, ctx: ctx}
		if cn, ok := r.Context().Value(connKey{}).(*conn); ok && cn.takePrepaid() {
			// reactor: the connection's first request runs on the worker the acceptor took.
			wk.mu.Lock()
			wk.held = true
			wk.mu.Unlock()
		} else if err := wk.acquire(); err != nil {
			if errors.Is(err, ErrQueueFull) {
				http.Error(w, fmt.Sprintf("service unavailable: every worker is busy and the worker queue is full (max_queue_size %d)", c.cfg.MaxQueueSize),
					http.StatusServiceUnavailable)
				return
			}
			panic(http.ErrAbortHandler) // as for the gate
		}
		defer wk.Release()
		if c.cfg.HonorClientClose && clientGone(r) {
			panic(http.ErrAbortHandler) // Puma's closed_socket?: closed, never run
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), workerKey{}, wk)))
	})
}

// dropClosed closes, without running it, a request whose client has gone by the time its
// worker picks it up (bio with HonorClientClose).
func dropClosed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if clientGone(r) {
			panic(http.ErrAbortHandler)
		}
		next.ServeHTTP(w, r)
	})
}

// clientGone reports whether r's client has closed its end: the socket's TCP state, read with
// TCP_INFO, is one Puma 5.6's closed_socket? counts as closing (TIME_WAIT, CLOSE, CLOSE_WAIT,
// LAST_ACK, CLOSING). A request already read from a socket whose peer then sent FIN sits in
// CLOSE_WAIT: the client timed out while the connection waited in the backlog. When the state
// cannot be read the request runs, as Puma's does.
func clientGone(r *http.Request) bool {
	nc, _ := r.Context().Value(connKey{}).(net.Conn)
	if cn, ok := nc.(*conn); ok {
		nc = cn.Conn
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var state uint8
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		var info *unix.TCPInfo
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if gerr == nil {
			state = info.State
		}
	}); err != nil || gerr != nil {
		return false
	}
	switch state {
	case tcpTimeWait, tcpClose, tcpCloseWait, tcpLastAck, tcpClosing:
		return true
	}
	return false
}

// Linux's TCP states (include/net/tcp_states.h) that closed_socket? counts as closing.
const (
	tcpTimeWait  = 6
	tcpClose     = 7
	tcpCloseWait = 8
	tcpLastAck   = 9
	tcpClosing   = 11
)

// Worker is the worker a request holds in nio mode. A handler may give it back while it waits
// for something else and take one again, at the tail of the same queue, to finish: Servlet 3
// async (startAsync, then AsyncContext.dispatch or complete), whose container thread returns to
// the pool and whose completion is a new task for the executor, queued behind every request
// that arrived meanwhile. Its methods are for the handler's own goroutine.
type Worker struct {
	c   *Connector
	ctx context.Context
	// mu guards held and dead against the watchdog's kill, which runs on a timer's goroutine.
	mu   sync.Mutex
	held bool
	dead bool // killed by the watchdog: never held again
}

// workerKey is the request context's key of the request's Worker.
type workerKey struct{}

// WorkerFrom returns the request's Worker, or nil when the handler does not run behind the nio
// queue (bio mode, or a handler served by something else).
func WorkerFrom(ctx context.Context) *Worker {
	w, _ := ctx.Value(workerKey{}).(*Worker)
	return w
}

// Release gives the worker back to the pool (to the longest waiter); it does nothing if the
// worker is not held.
func (w *Worker) Release() {
	w.mu.Lock()
	held := w.held
	w.held = false
	w.mu.Unlock()
	if held {
		w.c.workers.Release()
	}
}

// Reacquire takes a worker again, waiting at the tail of the worker queue (with no timer, as
// every request does) unless one is free and nobody waits. Its errors: ErrQueueFull when the
// queue is at MaxQueueSize, ErrStopped when the connector is closing. It does nothing if the
// worker is held.
func (w *Worker) Reacquire() error {
	w.mu.Lock()
	held, dead := w.held, w.dead
	w.mu.Unlock()
	if dead {
		return ErrStopped
	}
	if held {
		return nil
	}
	return w.acquire()
}

func (w *Worker) acquire() error {
	c := w.c
	var err error
	if c.cfg.MaxQueueSize > 0 {
		err = c.workers.AcquireBounded(w.ctx, c.cfg.MaxQueueSize)
	} else {
		err = c.workers.Acquire(w.ctx)
	}
	if errors.Is(err, sem.ErrFull) {
		c.rejected.Add(1)
		return ErrQueueFull
	}
	if err != nil {
		return ErrStopped
	}
	if c.life.Err() != nil {
		// Close raced the grant: a worker freed by a request that Close ended can be handed
		// to the next waiter before that waiter sees the cancellation.
		c.workers.Release()
		return ErrStopped
	}
	w.mu.Lock()
	if w.dead {
		// Killed while it waited: the worker it was granted is not its to keep.
		w.mu.Unlock()
		c.workers.Release()
		return ErrStopped
	}
	w.held = true
	w.mu.Unlock()
	return nil
}

// Listener is the acceptor: it bounds open connections, takes a worker per connection in bio
// mode, and survives EMFILE/ENFILE by backing off and retrying forever, as Tomcat does.
type Listener struct {
	inner   *net.TCPListener
	conns   *sem.FIFO
	workers *sem.FIFO // bio and reactor
	// perRequest (reactor): the worker taken before accept() serves the connection's first
	// request only (conn.takePrepaid), not the connection.
	perRequest bool
	life       context.Context
	keepAlive  bool
	open       atomic.Int64
	// accepting is 1 while a bio acceptor holds a worker and waits in accept(): that worker
	// is idle (a PHP-FPM child in accept()), not busy.
	accepting    atomic.Int64
	acceptErrors atomic.Int64
	accepted     atomic.Int64
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close closes the listening socket.
func (l *Listener) Close() error { return l.inner.Close() }

// Accept waits for a connection slot (and in bio a worker), then accepts.
func (l *Listener) Accept() (net.Conn, error) {
	if err := l.conns.Acquire(l.life); err != nil {
		return nil, net.ErrClosed
	}
	if l.workers != nil {
		acquire := l.workers.Acquire
		if l.perRequest {
			// Puma waits for a connection first (IO.select on the listener) and only then for a
			// thread, holding none meanwhile; and it accepts only while no request waits for a
			// thread: queued requests of kept-alive connections go first.
			if err := l.waitPending(); err != nil {
				l.conns.Release()
				return nil, net.ErrClosed
			}
			acquire = l.workers.AcquireLast
		}
		if err := acquire(l.life); err != nil {
			l.conns.Release()
			return nil, net.ErrClosed
		}
	}
	var delay time.Duration
	if l.workers != nil {
		l.accepting.Store(1)
		defer l.accepting.Store(0)
	}
	for {
		c, err := l.inner.AcceptTCP()
		if err == nil {
			l.setKeepAlive(c)
			l.open.Add(1)
			l.accepted.Add(1)
			cn := &conn{Conn: c, l: l}
			cn.prepaid.Store(l.perRequest)
			return cn, nil
		}
		if !retryable(err) {
			l.release()
			return nil, err
		}
		l.acceptErrors.Add(1)
		delay = nextDelay(delay)
		select {
		case <-time.After(delay):
		case <-l.life.Done():
			l.release()
			return nil, net.ErrClosed
		}
	}
}

// waitPending waits until a connection waits in the accept queue (the listening socket is
// readable), without accepting it; an error when the listener is closed or the connector
// stops. A listener's RawConn cannot wait for readability through the runtime's poller (its
// Read is EINVAL), so poll(2) waits, pendingPoll at a time, on the acceptor's own thread.
func (l *Listener) waitPending() error {
	raw, err := l.inner.SyscallConn()
	if err != nil {
		return err
	}
	for {
		var n int
		var perr error
		if err := raw.Control(func(fd uintptr) {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, perr = unix.Poll(pfd, int(pendingPoll/time.Millisecond))
		}); err != nil {
			return err
		}
		if l.life.Err() != nil {
			return l.life.Err()
		}
		if perr != nil && perr != unix.EINTR {
			return perr
		}
		if n > 0 {
			return nil
		}
	}
}

// pendingPoll bounds one poll(2) of waitPending: how late the acceptor sees the connector stop.
const pendingPoll = 100 * time.Millisecond

// setKeepAlive sets SO_KEEPALIVE as configured. It must be cleared explicitly: Go's
// TCPListener turns keepalive on (15 s) for every connection it accepts unless its ListenConfig
// says otherwise, and a listener made by hand (Listen) has no ListenConfig to say it. The error
// is ignored: setsockopt on a socket just accepted fails only for a bad descriptor, and then the
// connection's first read fails anyway.
func (l *Listener) setKeepAlive(c *net.TCPConn) {
	if l.keepAlive {
		_ = c.SetKeepAliveConfig(net.KeepAliveConfig{
			Enable: true, Idle: KeepAliveIdle, Interval: KeepAliveInterval, Count: KeepAliveCount,
		})
		return
	}
	_ = c.SetKeepAlive(false)
}

func (l *Listener) release() {
	if l.workers != nil {
		l.workers.Release()
	}
	l.conns.Release()
}

func nextDelay(d time.Duration) time.Duration {
	if d == 0 {
		return acceptBackoffInitial
	}
	return min(2*d, acceptBackoffMax)
}

// retryable reports whether the acceptor should back off and try again rather than stop:
// running out of descriptors, or an aborted connection.
func retryable(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED)
}

type conn struct {
	net.Conn
	l    *Listener
	once sync.Once
	// prepaid (reactor): the connection still holds the worker the acceptor took for it; its
	// first request takes it over, or Close gives it back.
	prepaid atomic.Bool
}

// takePrepaid hands the connection's worker to its request; false when it has none.
func (c *conn) takePrepaid() bool { return c.prepaid.CompareAndSwap(true, false) }

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		if c.l.perRequest {
			if c.takePrepaid() {
				c.l.workers.Release()
			}
			c.l.conns.Release()
			return
		}
		c.l.release()
	})
	return err
}
