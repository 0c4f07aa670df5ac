package connector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/simdev/sim/simulator/sockets"
)

// waitTimeout bounds every wait for a condition: generous, for a loaded CI machine; a passing
// test waits milliseconds.
const waitTimeout = 10 * time.Second

func testConfig() Config {
	return Config{
		Mode:              NIO,
		MaxThreads:        4,
		MaxConnections:    100,
		AcceptCount:       100,
		ConnectionTimeout: 20 * time.Second,
		KeepAliveTimeout:  20 * time.Second,
	}
}

// serve starts a connector on a fresh loopback port and closes it when the test ends, checking
// that Serve then returns nil.
func serve(t *testing.T, cfg Config, h http.Handler) *Connector {
	t.Helper()
	c, err := New("127.0.0.1:0", cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve() }()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve after Close = %v, want nil", err)
		}
	})
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, waitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counts samples the kernel's sockets on port.
func counts(t *testing.T, s sockets.Sampler, port int) sockets.Counts {
	t.Helper()
	c, err := s.Sample(uint16(port))
	if err != nil {
		t.Fatalf("sample port %d: %v", port, err)
	}
	return c
}

func sampler(t *testing.T) sockets.Sampler {
	t.Helper()
	s := sockets.New()
	t.Cleanup(func() { s.Close() })
	return s
}

// dial opens a client connection and closes it when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// send opens a connection and writes GET path on it without reading the answer.
func send(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	c := dial(t, addr)
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	return c
}

// readStatus reads the HTTP answer on c.
func readStatus(t *testing.T, c net.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func sockopt(t *testing.T, c *net.TCPConn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt %d/%d: %v", level, opt, gerr)
	}
	return v
}

// Tomcat sets no SO_KEEPALIVE on accepted sockets unless socket.soKeepAlive says so; Go's
// listener would set it (15 s) on every one. The server side of an accepted connection is read
// with getsockopt.
func TestTCPKeepAlive(t *testing.T) {
	tests := []struct {
		name string
		on   bool
		want int
	}{
		{"off by default, as Tomcat", false, 0},
		{"on with tcp_keepalive", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.TCPKeepAlive = tt.on
			c, err := New("127.0.0.1:0", cfg, http.NotFoundHandler())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			dial(t, c.Addr().String())
			// The acceptor that Serve runs.
			nc, err := c.ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			tc := nc.(*conn).Conn.(*net.TCPConn)
			if got := sockopt(t, tc, unix.SOL_SOCKET, unix.SO_KEEPALIVE); got != tt.want {
				t.Fatalf("SO_KEEPALIVE on the accepted socket = %d, want %d", got, tt.want)
			}
			if !tt.on {
				return
			}
			idle := sockopt(t, tc, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
			intvl := sockopt(t, tc, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
			cnt := sockopt(t, tc, unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
			if time.Duration(idle)*time.Second != KeepAliveIdle || time.Duration(intvl)*time.Second != KeepAliveInterval || cnt != KeepAliveCount {
				t.Errorf("keepalive idle %d s, interval %d s, count %d; want %v, %v, %d", idle, intvl, cnt, KeepAliveIdle, KeepAliveInterval, KeepAliveCount)
			}
			if idle != 15 || intvl != 15 || cnt != 9 {
				t.Errorf("keepalive idle %d s, interval %d s, count %d; want Go's 15, 15, 9", idle, intvl, cnt)
			}
		})
	}
}

// accept_count is the listen() backlog: with nobody accepting, backlog+1 connections complete
// their handshake (Linux's queue is full only above the backlog) and the next one does not.
func TestAcceptCountIsTheBacklog(t *testing.T) {
	const backlog = 3
	ln, err := Listen("127.0.0.1:0", backlog)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	s := sampler(t)
	if c := counts(t, s, addr.Port); !c.Listening || (c.AcceptQueueMax != backlog && c.AcceptQueueMax != sockets.QueueMaxUnknown) {
		t.Fatalf("listening=%v, accept queue limit %d, want %d", c.Listening, c.AcceptQueueMax, backlog)
	}
	for range backlog + 1 {
		dial(t, addr.String())
	}
	waitFor(t, "accept queue full", func() bool { return counts(t, s, addr.Port).AcceptQueue == backlog+1 })
	d := net.Dialer{Timeout: 300 * time.Millisecond}
	extra, err := d.Dial("tcp", addr.String())
	if err == nil {
		extra.Close()
		t.Fatal("a connection beyond the backlog completed: the backlog is not accept_count")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial beyond the backlog: %v, want a timeout (SYN dropped)", err)
	}
}

// At max_connections the acceptor stops calling accept(): further connections wait in the
// kernel's backlog, holding no fd, until an open one closes.
func TestMaxConnectionsStopsAccepting(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnections = 2
	c := serve(t, cfg, http.NotFoundHandler())
	addr, port := c.Addr().String(), c.Addr().Port
	s := sampler(t)
	var conns []net.Conn
	for range 5 {
		conns = append(conns, dial(t, addr))
	}
	at := func(open, queued int) func() bool {
		return func() bool {
			st := c.Stats()
			return st.ConnectionsOpen == int64(open) && st.Accepted == int64(open) &&
				counts(t, s, port).AcceptQueue == queued
		}
	}
	waitFor(t, "2 accepted and 3 in the backlog", at(2, 3))
	// And it stays there: nothing frees a slot.
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if st := c.Stats(); st.Accepted != 2 {
			t.Fatalf("accepted %d connections with max_connections 2", st.Accepted)
		}
	}
	// The first connection leaves; the server closes its side and accepts the next one.
	conns[0].Close()
	waitFor(t, "a third connection accepted once the first closed", func() bool {
		st := c.Stats()
		return st.Accepted == 3 && st.ConnectionsOpen == 2 && counts(t, s, port).AcceptQueue == 2
	})
}

// Out of file descriptors (EMFILE), the acceptor backs off and retries, as Tomcat's does, and
// serves the waiting connections once descriptors are free again.
func TestEMFILEBackoffKeepsAcceptorAlive(t *testing.T) {
	c, err := New("127.0.0.1:0", testConfig(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	// The client's socket and its request exist before the limit is lowered: only the
	// server's accept() needs a new descriptor.
	client := send(t, c.Addr().String(), "/")

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Errorf("restore RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()
	// A new descriptor takes the lowest free number: a limit at that number refuses every one.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	lowest := f.Fd()
	f.Close()
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(lowest), Max: old.Max}); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- c.Serve() }()
	defer func() {
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve after Close = %v, want nil", err)
		}
	}()
	// Errors at 0, 50 and 150 ms: the back-off doubles from 50 ms.
	waitFor(t, "three accept errors", func() bool { return c.Stats().AcceptErrors >= 3 })
	select {
	case err := <-done:
		t.Fatalf("Serve returned on EMFILE: %v", err)
	default:
	}
	if st := c.Stats(); st.Accepted != 0 {
		t.Fatalf("accepted %d connections without a free descriptor", st.Accepted)
	}
	restore()
	if code := readStatus(t, client); code != http.StatusOK {
		t.Fatalf("status %d once descriptors were free, want 200", code)
	}
	if st := c.Stats(); st.Accepted != 1 {
		t.Errorf("accepted = %d, want 1", st.Accepted)
	}
}

func TestNextDelay(t *testing.T) {
	var got []time.Duration
	d := time.Duration(0)
	for range 8 {
		d = nextDelay(d)
		got = append(got, d)
	}
	want := []time.Duration{50, 100, 200, 400, 800, 1600, 1600, 1600}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("back-off sequence %v, want %v ms (Tomcat's 50 ms doubling to 1.6 s)", got, want)
		}
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}, true},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ENFILE)}, true},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)}, true},
		{net.ErrClosed, false},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EINVAL)}, false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// A request queued for a worker stays queued when its client leaves, and is processed once a
// worker frees, as in Tomcat; honor_client_close drops it instead.
func TestQueueAndClientClose(t *testing.T) {
	tests := []struct {
		name       string
		honor      bool
		wantServed int64
	}{
		{"ignored by default", false, 2},
		{"honor_client_close drops it", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			var served atomic.Int64
			cfg := testConfig()
			cfg.MaxThreads = 1
			cfg.HonorClientClose = tt.honor
			c := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hold" {
					select {
					case <-release:
					case <-r.Context().Done(): // the connector closing
					}
				}
				served.Add(1)
			}))
			addr, port := c.Addr().String(), c.Addr().Port
			s := sampler(t)
			send(t, addr, "/hold")
			waitFor(t, "the worker busy", func() bool { return c.Stats().WorkersBusy == 1 })
			queued := send(t, addr, "/queued")
			waitFor(t, "a request queued", func() bool { return c.Stats().Queued == 1 })
			queued.Close()
			if tt.honor {
				waitFor(t, "the queued request dropped", func() bool { return c.Stats().Queued == 0 })
			} else {
				// The client's FIN has arrived: the server's side waits in CLOSE_WAIT.
				waitFor(t, "CLOSE_WAIT of the queued request", func() bool {
					return counts(t, s, port).Server[sockets.CloseWait] == 1
				})
			}
			close(release)
			waitFor(t, "every worker free and nothing queued", func() bool {
				st := c.Stats()
				return st.WorkersBusy == 0 && st.Queued == 0 && served.Load() == tt.wantServed
			})
			if got := served.Load(); got != tt.wantServed {
				t.Fatalf("handlers run %d, want %d", got, tt.wantServed)
			}
		})
	}
}

// Close releases the requests waiting for a worker and the one holding it; Serve returns nil,
// and no goroutine is left behind (goleak in TestMain).
func TestCloseReleasesQueue(t *testing.T) {
	cfg := testConfig()
	cfg.MaxThreads = 1
	c, err := New("127.0.0.1:0", cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve() }()
	// The first connection takes the worker before the others are sent, so that the one
	// allowed to answer is known: requests sent together reach the queue in any order.
	conns := []net.Conn{send(t, c.Addr().String(), "/")}
	waitFor(t, "1 busy", func() bool { return c.Stats().WorkersBusy == 1 })
	for range 3 {
		conns = append(conns, send(t, c.Addr().String(), "/"))
	}
	waitFor(t, "1 busy and 3 queued", func() bool {
		st := c.Stats()
		return st.WorkersBusy == 1 && st.Queued == 3
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Close = %v, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after Close")
	}
	waitFor(t, "the queue emptied", func() bool {
		st := c.Stats()
		return st.WorkersBusy == 0 && st.Queued == 0 && st.ConnectionsOpen == 0
	})
	// Every client sees its connection end; the queued ones with no answer, as none of their
	// pages was made (the first one's handler returned, and answered as it pleased).
	for i, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
		got, err := io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("connection %d still open after Close", i)
		}
		if i > 0 && len(got) > 0 {
			t.Errorf("queued connection %d answered %q after Close, want nothing", i, got)
		}
	}
}

// get sends GET path on a fresh connection and returns the answer's status.
func get(t *testing.T, addr, path string) int {
	t.Helper()
	return readStatus(t, send(t, addr, path))
}

// With max_queue_size, a request that finds every worker busy and the queue full is answered
// 503 at once, holding no worker; those already queued are served once workers free.
func TestMaxQueueSizeRefusesWhenFull(t *testing.T) {
	release := make(chan struct{})
	cfg := testConfig()
	cfg.MaxThreads = 1
	cfg.MaxQueueSize = 2
	c := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	addr := c.Addr().String()
	hold := send(t, addr, "/hold")
	waitFor(t, "the worker busy", func() bool { return c.Stats().WorkersBusy == 1 })
	queued := []net.Conn{send(t, addr, "/q"), send(t, addr, "/q")}
	waitFor(t, "2 queued", func() bool { return c.Stats().Queued == 2 })
	start := time.Now()
	if got := get(t, addr, "/over"); got != http.StatusServiceUnavailable {
		t.Fatalf("request beyond the queue: status %d, want 503", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the 503 took %v, want at once", d)
	}
	if st := c.Stats(); st.Rejected != 1 || st.Queued != 2 || st.WorkersBusy != 1 {
		t.Fatalf("rejected %d queued %d busy %d, want 1, 2, 1", st.Rejected, st.Queued, st.WorkersBusy)
	}
	close(release)
	if got := readStatus(t, hold); got != http.StatusOK {
		t.Fatalf("held request: status %d", got)
	}
	for i, q := range queued {
		if got := readStatus(t, q); got != http.StatusOK {
			t.Fatalf("queued request %d: status %d, want 200", i, got)
		}
	}
}

// A Gate makes requests wait before they take a worker: a request waiting at the gate holds
// none, so another request is served meanwhile; a gate error is a 503.
func TestGateWaitsBeforeAWorker(t *testing.T) {
	release := make(chan struct{})
	permit := make(chan struct{}, 1) // one request through the gate at a time
	var waitingAtGate atomic.Int64
	cfg := testConfig()
	cfg.MaxThreads = 2
	cfg.Gate = func(ctx context.Context, r *http.Request) (func(), error) {
		switch r.URL.Path {
		case "/refused":
			return nil, errors.New("gate closed")
		case "/free":
			return func() {}, nil
		}
		waitingAtGate.Add(1)
		defer waitingAtGate.Add(-1)
		select {
		case permit <- struct{}{}:
			return func() { <-permit }, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	addr := c.Addr().String()
	first := send(t, addr, "/hold")
	waitFor(t, "the first through the gate", func() bool { return c.Stats().WorkersBusy == 1 })
	second := send(t, addr, "/hold")
	waitFor(t, "the second waiting at the gate", func() bool { return waitingAtGate.Load() == 1 })
	if st := c.Stats(); st.WorkersBusy != 1 || st.Queued != 0 {
		t.Fatalf("busy %d queued %d while one waits at the gate, want 1 and 0: it must hold no worker", st.WorkersBusy, st.Queued)
	}
	if got := get(t, addr, "/free"); got != http.StatusOK {
		t.Fatalf("/free while one waits at the gate: status %d, want 200 (a worker is free)", got)
	}
	if got := get(t, addr, "/refused"); got != http.StatusServiceUnavailable {
		t.Fatalf("gate error: status %d, want 503", got)
	}
	close(release)
	for i, conn := range []net.Conn{first, second} {
		if got := readStatus(t, conn); got != http.StatusOK {
			t.Fatalf("gated request %d: status %d, want 200", i, got)
		}
	}
}

// A handler that releases its Worker lets another request have it, and Reacquire waits at the
// tail of the queue: behind a request that arrived while it was parked.
func TestWorkerReacquireQueuesAtTheTail(t *testing.T) {
	release := make(chan struct{})
	resume := make(chan struct{})
	parked := make(chan struct{})
	done := make(chan string, 3)
	cfg := testConfig()
	cfg.MaxThreads = 1
	c := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/async":
			wk := WorkerFrom(r.Context())
			if wk == nil {
				http.Error(w, "no worker in the context", http.StatusInternalServerError)
				return
			}
			wk.Release()
			close(parked)
			<-resume
			if err := wk.Reacquire(); err != nil {
				panic(http.ErrAbortHandler)
			}
		case "/hold":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		done <- r.URL.Path
	}))
	addr := c.Addr().String()
	async := send(t, addr, "/async")
	<-parked
	waitFor(t, "the parked request's worker free", func() bool { return c.Stats().WorkersBusy == 0 })
	hold := send(t, addr, "/hold")
	waitFor(t, "/hold on the freed worker", func() bool { return c.Stats().WorkersBusy == 1 })
	later := send(t, addr, "/later")
	waitFor(t, "/later queued", func() bool { return c.Stats().Queued == 1 })
	close(resume)
	waitFor(t, "the resumed request queued behind /later", func() bool { return c.Stats().Queued == 2 })
	close(release)
	for _, want := range []string{"/hold", "/later", "/async"} {
		select {
		case got := <-done:
			if got != want {
				t.Fatalf("finished %s, want %s next (order /hold, /later, /async)", got, want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("%s did not finish", want)
		}
	}
	for i, conn := range []net.Conn{async, hold, later} {
		if got := readStatus(t, conn); got != http.StatusOK {
			t.Fatalf("request %d: status %d", i, got)
		}
	}
	if st := c.Stats(); st.WorkersBusy != 0 {
		t.Fatalf("workers busy %d after all done, want 0", st.WorkersBusy)
	}
}

// In bio the worker belongs to the connection: there is no Worker to release.
func TestWorkerFromBIOIsNil(t *testing.T) {
	cfg := testConfig()
	cfg.Mode = BIO
	c := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if WorkerFrom(r.Context()) != nil {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	if got := get(t, c.Addr().String(), "/"); got != http.StatusOK {
		t.Fatalf("status %d: a bio handler found a Worker", got)
	}
}

// TestCloseAfterResponse: with CloseAfterResponse (keep_alive false) every response says
// Connection: close and the server closes the connection, so a keep-alive client opens a new
// one per request: the connector accepts one connection per request, and in bio each closed
// connection frees its worker for the next. Without it the same client reuses one connection.
func TestCloseAfterResponse(t *testing.T) {
	const requests = 5
	for _, tc := range []struct {
		name      string
		mode      string
		close     bool
		wantConns int64
	}{
		{"nio keep-alive", NIO, false, 1},
		{"nio close", NIO, true, requests},
		{"bio keep-alive", BIO, false, 1},
		{"bio close", BIO, true, requests},
		{"reactor keep-alive", Reactor, false, 1},
		{"reactor close", Reactor, true, requests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Mode, cfg.CloseAfterResponse = tc.mode, tc.close
			if tc.mode != NIO {
				cfg.MaxThreads, cfg.MaxConnections = 1, 1 // one worker: a held connection would block the next
			}
			c := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "ok")
			}))
			tr := &http.Transport{MaxIdleConnsPerHost: 4}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: waitTimeout}
			for i := range requests {
				resp, err := client.Get("http://" + c.Addr().String() + "/")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.Close != tc.close {
					t.Errorf("request %d: response says close=%v, want %v", i, resp.Close, tc.close)
				}
			}
			if got := c.Stats().Accepted; got != tc.wantConns {
				t.Errorf("%d requests on %d server-side connections, want %d", requests, got, tc.wantConns)
			}
			if tc.close {
				// Every connection is closed by the server once answered: none stays open.
				waitFor(t, "every connection closed", func() bool { return c.Stats().ConnectionsOpen == 0 })
			}
		})
	}
}

// TestReactorWorkerPerRequest: in reactor mode (Puma) a kept-alive connection holds no worker
// between its requests, so one worker serves two connections in turn (bio would keep it with
// the first); while the worker is busy no new connection is accepted (it waits in the
// backlog, as in bio), and a request on an idle kept-alive connection queues for the worker.
func TestReactorWorkerPerRequest(t *testing.T) {
	cfg := testConfig()
	cfg.Mode, cfg.MaxThreads = Reactor, 1
	release := make(chan struct{})
	c := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	addr := c.Addr().String()
	a := send(t, addr, "/")
	if got := readStatus(t, a); got != http.StatusOK {
		t.Fatalf("first connection: status %d", got)
	}
	// a stays open and idle: in bio it would hold the only worker and b would wait for ever.
	b := send(t, addr, "/hold")
	waitFor(t, "the second connection accepted and holding the worker", func() bool {
		st := c.Stats()
		return st.Accepted == 2 && st.WorkersBusy == 1
	})
	third := send(t, addr, "/")
	if _, err := fmt.Fprintf(a, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle connection's request queued for the worker", func() bool { return c.Stats().Queued == 1 })
	if st := c.Stats(); st.Accepted != 2 {
		t.Fatalf("accepted %d connections while the only worker was busy, want 2 (the third waits in the backlog)", st.Accepted)
	}
	close(release)
	for name, conn := range map[string]net.Conn{"held": b, "queued": a, "from the backlog": third} {
		if got := readStatus(t, conn); got != http.StatusOK {
			t.Fatalf("%s request: status %d", name, got)
		}
	}
	if st := c.Stats(); st.Accepted != 3 {
		t.Fatalf("accepted %d, want 3", st.Accepted)
	}
}

// TestDropClosedClient: with HonorClientClose, bio and reactor close, without running it, a
// request whose client left while its connection waited in the backlog (Puma's closed_socket?);
// without it they run it (gunicorn, Tomcat BIO).
func TestDropClosedClient(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		honor   bool
		wantRun int64
	}{
		{BIO, false, 1}, {BIO, true, 0}, {Reactor, false, 1}, {Reactor, true, 0},
	} {
		t.Run(fmt.Sprintf("%s honor=%v", tc.mode, tc.honor), func(t *testing.T) {
			cfg := testConfig()
			cfg.Mode, cfg.MaxThreads, cfg.HonorClientClose = tc.mode, 1, tc.honor
			if tc.mode == BIO {
				cfg.MaxConnections = 1
			}
			release := make(chan struct{})
			var pages atomic.Int64
			c := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hold" {
					<-release
				} else {
					pages.Add(1)
				}
				_, _ = io.WriteString(w, "ok")
			}))
			addr := c.Addr().String()
			hold := send(t, addr, "/hold")
			waitFor(t, "the worker held", func() bool { return c.Stats().WorkersBusy == 1 })
			gone := send(t, addr, "/page")
			if err := gone.Close(); err != nil { // its client times out while it waits in the backlog
				t.Fatal(err)
			}
			close(release)
			if got := readStatus(t, hold); got != http.StatusOK {
				t.Fatalf("held request: status %d", got)
			}
			hold.Close()
			waitFor(t, "the dead client's connection accepted and closed", func() bool {
				st := c.Stats()
				return st.Accepted == 2 && st.ConnectionsOpen == 0 && pages.Load() == tc.wantRun
			})
			if got := pages.Load(); got != tc.wantRun {
				t.Fatalf("ran the dead client's page %d times, want %d", got, tc.wantRun)
			}
		})
	}
}
