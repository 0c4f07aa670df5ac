package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/simdev/sim/simulator/model"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// countingListener counts the connections its server accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// upstream starts a server on loopback for h; it is closed with the test.
func upstream(t *testing.T, h http.Handler) (string, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(cl) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), cl
}

// start starts a proxy to up; it is closed with the test.
func start(t *testing.T, up string, read time.Duration) *Proxy {
	t.Helper()
	p, err := Start("127.0.0.1:0", Config{Upstream: up, ReadTimeout: read})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve() }()
	t.Cleanup(func() {
		p.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return p
}

// waitFor waits up to d for cond.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestForwardsOnNewUpstreamConnections: the client's connection to the proxy is kept alive
// across requests, and each request goes upstream on a connection of its own (nginx's FastCGI
// per request).
func TestForwardsOnNewUpstreamConnections(t *testing.T) {
	up, counted := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "fragment "+r.URL.Path)
	}))
	p := start(t, up, time.Minute)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	reused := 0
	for i := range 3 {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				reused++
			}
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, "http://"+p.Addr().String()+"/static/page.html", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "fragment /static/page.html" || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("request %d: %d %q (%s)", i, resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
	}
	if reused != 2 || counted.n.Load() != 3 {
		t.Fatalf("client connections reused %d times, upstream connections %d; want 2 (keep-alive) and 3 (one per request)", reused, counted.n.Load())
	}
	if s := p.Stats(); s.Requests != 3 || s.InFlight != 0 || s.Timeouts+s.ClientClosed+s.Errors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// blocked is an upstream that never answers: it counts the requests whose connection the proxy
// closed (the request's context ends when the server sees the FIN).
type blocked struct{ started, closed atomic.Int64 }

func (b *blocked) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.started.Add(1)
	<-r.Context().Done()
	b.closed.Add(1)
}

// TestReadTimeout504: an upstream that does not answer gets the proxy's 504 after the read
// timeout, and the proxy closes the upstream connection; no retry.
func TestReadTimeout504(t *testing.T) {
	b := &blocked{}
	up, counted := upstream(t, b)
	const read = 300 * time.Millisecond
	p := start(t, up, read)
	t0 := time.Now()
	resp, err := http.Get("http://" + p.Addr().String() + "/page")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(t0)
	if resp.StatusCode != http.StatusGatewayTimeout || took < read || took > 10*read {
		t.Fatalf("status %d after %v; want 504 after about %v", resp.StatusCode, took, read)
	}
	waitFor(t, 3*time.Second, "the upstream connection closed", func() bool { return b.closed.Load() == 1 })
	if s := p.Stats(); s.Timeouts != 1 || counted.n.Load() != 1 || b.started.Load() != 1 {
		t.Fatalf("504s %d, upstream connections %d, requests upstream %d; want 1 each (no retry)", s.Timeouts, counted.n.Load(), b.started.Load())
	}
}

// TestClientLeftClosesUpstream: a client that gives up makes the proxy close its upstream
// connection at once (nginx's 499), long before the read timeout.
func TestClientLeftClosesUpstream(t *testing.T) {
	b := &blocked{}
	up, _ := upstream(t, b)
	p := start(t, up, time.Minute)
	client := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	if _, err := client.Get("http://" + p.Addr().String() + "/page"); err == nil {
		t.Fatal("the client got an answer from an upstream that never answers")
	}
	waitFor(t, 3*time.Second, "the upstream connection closed after the client left", func() bool {
		return b.closed.Load() == 1 && p.Stats().ClientClosed == 1
	})
	if s := p.Stats(); s.Timeouts != 0 || s.InFlight != 0 {
		t.Fatalf("stats %+v: want no 504 and nothing in flight", s)
	}
}

// TestRefused502: nothing listening upstream is a 502, not a 504.
func TestRefused502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := start(t, addr, time.Minute)
	resp, err := http.Get("http://" + p.Addr().String() + "/page")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || p.Stats().Errors != 1 {
		t.Fatalf("status %d, errors %d; want 502 and 1", resp.StatusCode, p.Stats().Errors)
	}
}

// TestTimersMatchModel: the model's front proxy uses the same nginx defaults.
func TestTimersMatchModel(t *testing.T) {
	if ConnectTimeout != model.ProxyConnectTimeout || IdleTimeout != model.ProxyIdleTimeout {
		t.Fatalf("sockets: connect %v, idle %v; model: connect %v, idle %v", ConnectTimeout, IdleTimeout, model.ProxyConnectTimeout, model.ProxyIdleTimeout)
	}
}
