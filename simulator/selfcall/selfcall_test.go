package selfcall

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// blockingServer answers only when released, counting concurrent requests.
type blockingServer struct {
	mu      sync.Mutex
	active  int
	peak    int
	release chan struct{}
}

func (b *blockingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.active++
	b.peak = max(b.peak, b.active)
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-r.Context().Done():
	}
	b.mu.Lock()
	b.active--
	b.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

func (b *blockingServer) activeNow() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.active
}

func (b *blockingServer) peakSeen() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

func TestLeaseLimits(t *testing.T) {
	tests := []struct {
		name        string
		perRoute    int
		total       int
		callers     int
		wantLeased  int
		wantWaiting int
	}{
		{"per route bounds (HttpClient defaults)", 2, 20, 6, 2, 4},
		{"total bounds", 5, 3, 6, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := &blockingServer{release: make(chan struct{})}
			srv := httptest.NewServer(bs)
			defer srv.Close()
			life, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := New(life, Config{MaxPerRoute: tt.perRoute, MaxTotal: tt.total})
			defer c.Close()
			var wg sync.WaitGroup
			for i := 0; i < tt.callers; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := c.Get(srv.URL); err != nil {
						t.Error(err)
					}
				}()
			}
			// A lease comes before the request reaches the server: wait for the server to see
			// them, which is what is asserted.
			waitFor(t, func() bool {
				s := c.Stats()
				return s.Leased == tt.wantLeased && s.Waiting == tt.wantWaiting && bs.activeNow() == tt.wantLeased
			})
			close(bs.release)
			wg.Wait()
			if peak := bs.peakSeen(); peak != tt.wantLeased {
				t.Fatalf("server saw %d concurrent requests, want %d", peak, tt.wantLeased)
			}
			if s := c.Stats(); s.Leased != 0 || s.Waiting != 0 || s.Calls != int64(tt.callers) {
				t.Fatalf("after: %+v", s)
			}
		})
	}
}

func TestConnectionRequestTimeout(t *testing.T) {
	bs := &blockingServer{release: make(chan struct{})}
	srv := httptest.NewServer(bs)
	defer srv.Close()
	defer close(bs.release)
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := New(life, Config{MaxPerRoute: 1, MaxTotal: 1, ConnectionRequestTimeout: 50 * time.Millisecond})
	defer c.Close()
	go func() { _, _ = c.Get(srv.URL) }()
	waitFor(t, func() bool { return c.Stats().Leased == 1 })
	start := time.Now()
	_, err := c.Get(srv.URL)
	if !errors.Is(err, ErrLeaseTimeout) {
		t.Fatalf("err = %v, want ErrLeaseTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("lease timeout took %s", d)
	}
}

// silentListener accepts connections and never answers: a hung server.
func silentListener(t *testing.T) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return "http://" + ln.Addr().String(), func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
}

func TestSocketTimeout(t *testing.T) {
	url, stop := silentListener(t)
	defer stop()
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := New(life, Config{MaxPerRoute: 2, MaxTotal: 20, SocketTimeout: 100 * time.Millisecond})
	defer c.Close()
	start := time.Now()
	_, err := c.Get(url)
	if err == nil {
		t.Fatal("a server that never answers gave a response")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("socket timeout took %s", d)
	}
	if s := c.Stats(); s.Leased != 0 {
		t.Fatalf("lease not returned after the timeout: %+v", s)
	}
}

// Without a socket timeout, a call to a hung server waits until the app stops, not before:
// the incident's setting.
func TestNoTimeoutWaitsForAppLife(t *testing.T) {
	url, stop := silentListener(t)
	defer stop()
	life, cancel := context.WithCancel(context.Background())
	c := New(life, Config{MaxPerRoute: 2, MaxTotal: 20})
	defer c.Close()
	errc := make(chan error, 1)
	go func() { _, err := c.Get(url); errc <- err }()
	select {
	case err := <-errc:
		t.Fatalf("call to a hung server returned early: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case <-errc:
	case <-time.After(2 * time.Second):
		t.Fatal("call did not end when the app stopped")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// HttpClient sets no SO_KEEPALIVE unless its SocketConfig says so; Go's Dialer would (15 s).
// The pool's connections come from the transport's dialer, read here with getsockopt.
func TestTCPKeepAlive(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want int
	}{
		{"off by default, as HttpClient", Config{MaxPerRoute: 2, MaxTotal: 20}, 0},
		{"off with a socket timeout too", Config{MaxPerRoute: 2, MaxTotal: 20, SocketTimeout: time.Second}, 0},
		{"on with tcp_keepalive", Config{MaxPerRoute: 2, MaxTotal: 20, TCPKeepAlive: true}, 1},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			life, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := New(life, tt.cfg)
			defer c.Close()
			nc, err := c.transport.DialContext(life, "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if sc, ok := nc.(*soTimeoutConn); ok {
				nc = sc.Conn
			}
			rc, err := nc.(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var got int
			var gerr error
			if err := rc.Control(func(fd uintptr) {
				got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			}); err != nil || gerr != nil {
				t.Fatal(err, gerr)
			}
			if got != tt.want {
				t.Fatalf("SO_KEEPALIVE on the self-call's socket = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestNoPool: without a pool every call dials its own connection, which the server closes after
// its answer; nothing is leased, so calls beyond max_per_route do not wait. With the pool the
// same sequential calls reuse one connection.
func TestNoPool(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noPool    bool
		wantConns int64
	}{
		{"pool", false, 1},
		{"no pool", true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte("ok"))
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			life, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := New(life, Config{MaxPerRoute: 2, MaxTotal: 20, NoPool: tc.noPool})
			defer c.Close()
			for i := range 4 {
				if _, err := c.Get(srv.URL); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if got := conns.Load(); got != tc.wantConns {
				t.Errorf("4 calls on %d connections, want %d", got, tc.wantConns)
			}
		})
	}
	// Beyond max_per_route: without a pool, 6 calls reach the server at once with a limit of 2.
	bs := &blockingServer{release: make(chan struct{})}
	srv := httptest.NewServer(bs)
	defer srv.Close()
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := New(life, Config{MaxPerRoute: 2, MaxTotal: 20, NoPool: true})
	defer c.Close()
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := c.Get(srv.URL); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, func() bool { return bs.activeNow() == 6 })
	// All 6 hold a connection of their own (the app's stats count them as inside a self-call),
	// none waits for one.
	if s := c.Stats(); s.Leased != 6 || s.Waiting != 0 {
		t.Errorf("no pool: stats %+v, want 6 calls holding their own connection, none waiting", s)
	}
	close(bs.release)
	wg.Wait()
	if s := c.Stats(); s.Leased != 0 {
		t.Errorf("no pool, after the calls: %d still counted in flight", s.Leased)
	}
}

// TestRetries: with Retries (Net::HTTP's max_retries) a call whose first try timed out reading
// is sent once more on a new connection; the server here stays silent on its first request
// and answers the second. Without retries the call fails; with one retry and a server silent
// twice it fails after two timeouts.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name             string
		retries, silent  int
		wantOK           bool
		wantReqs, wantRt int64
	}{
		{"no retry", 0, 1, false, 1, 0},
		{"one retry", 1, 1, true, 2, 1},
		{"one retry, silent twice", 1, 2, false, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reqs, conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if reqs.Add(1) <= int64(tc.silent) {
					<-r.Context().Done() // silent until the client gives up and closes
					return
				}
				_, _ = w.Write([]byte("ok"))
			}))
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			life, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := New(life, Config{NoPool: true, MaxPerRoute: 2, MaxTotal: 20, SocketTimeout: 100 * time.Millisecond, Retries: tc.retries})
			defer c.Close()
			_, err := c.Get(srv.URL + "/x")
			if (err == nil) != tc.wantOK {
				t.Fatalf("err = %v, want ok %v", err, tc.wantOK)
			}
			if got := reqs.Load(); got != tc.wantReqs {
				t.Errorf("server saw %d requests, want %d", got, tc.wantReqs)
			}
			if got := conns.Load(); got != tc.wantReqs {
				t.Errorf("%d connections for %d requests: a retry must dial anew", got, tc.wantReqs)
			}
			if got := c.Stats().Retried; got != tc.wantRt {
				t.Errorf("retried %d, want %d", got, tc.wantRt)
			}
		})
	}
}

// TestRetryNotOnConnect: a failed connect is not retried (Net::OpenTimeout, ECONNREFUSED).
func TestRetryNotOnConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the connect is refused
	life, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := New(life, Config{NoPool: true, SocketTimeout: 100 * time.Millisecond, Retries: 1})
	defer c.Close()
	if _, err := c.Get("http://" + addr + "/x"); err == nil {
		t.Fatal("a refused connect succeeded")
	}
	if got := c.Stats().Retried; got != 0 {
		t.Fatalf("retried a refused connect %d times", got)
	}
}
