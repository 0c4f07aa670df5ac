package results

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// onePacer lets vegeta send exactly one request.
type onePacer struct{}

func (onePacer) Pace(_ time.Duration, hits uint64) (time.Duration, bool) { return 0, hits >= 1 }
func (onePacer) Rate(time.Duration) float64                              { return 1 }

var _ vegeta.Pacer = onePacer{}

// hit sends one real request with vegeta and returns its result, so the tests see the error
// texts vegeta really stores rather than texts we believe it stores.
func hit(t *testing.T, url string, opts ...func(*vegeta.Attacker)) *vegeta.Result {
	t.Helper()
	// No keep-alive: an idle pooled connection would outlive the test as goroutines.
	a := vegeta.NewAttacker(append([]func(*vegeta.Attacker){vegeta.KeepAlive(false)}, opts...)...)
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
	var res *vegeta.Result
	for r := range a.Attack(tr, onePacer{}, 0, "classify") {
		res = r
	}
	if res == nil {
		t.Fatal("vegeta returned no result")
	}
	return res
}

// listener is a loopback listener whose accepted connections get handle; it is closed, with
// its connections, when the test ends.
func listener(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); handle(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String() + "/"
}

// readRequest reads until the end of the request headers, so the client is waiting for a
// response when the handler acts.
func readRequest(c net.Conn) {
	buf := make([]byte, 4096)
	var got []byte
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil || len(got) >= 4 && string(got[len(got)-4:]) == "\r\n\r\n" {
			return
		}
	}
}

// closedPort returns a loopback URL nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/"
}

func TestClassifyRealFailures(t *testing.T) {
	const timeout = 100 * time.Millisecond
	silent := func(c net.Conn) { readRequest(c); _, _ = c.Read(make([]byte, 1)) } // never answers
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	// A read deadline on the client's connection gives net's own "i/o timeout".
	deadlineClient := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				err = c.SetReadDeadline(time.Now().Add(timeout))
			}
			return c, err
		},
	}}
	headerTimeoutClient := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true, ResponseHeaderTimeout: timeout,
	}}

	tests := []struct {
		name string
		url  func() string
		opts []func(*vegeta.Attacker)
		want string
	}{
		{"200", func() string { return status(http.StatusOK) }, nil, KindOK},
		{"204", func() string { return status(http.StatusNoContent) }, nil, KindOK},
		{"500", func() string { return status(http.StatusInternalServerError) }, nil, "http_500"},
		{"404", func() string { return status(http.StatusNotFound) }, nil, "http_404"},
		{"302 not followed", func() string { return status(http.StatusFound) }, []func(*vegeta.Attacker){vegeta.Redirects(vegeta.NoFollow)}, "http_302"},
		{"closed port", func() string { return closedPort(t) }, nil, KindRefused},
		{"client timeout, server never answers", func() string { return listener(t, silent) }, []func(*vegeta.Attacker){vegeta.Timeout(timeout)}, KindTimeout},
		{"read deadline", func() string { return listener(t, silent) }, []func(*vegeta.Attacker){vegeta.Client(deadlineClient)}, KindTimeout},
		{"response header timeout", func() string { return listener(t, silent) }, []func(*vegeta.Attacker){vegeta.Client(headerTimeoutClient)}, KindTimeout},
		{"server closes without answer", func() string {
			return listener(t, func(c net.Conn) { readRequest(c); c.Close() })
		}, nil, KindReset},
		{"server resets", func() string {
			return listener(t, func(c net.Conn) {
				readRequest(c)
				// Linger 0 makes Close send RST instead of FIN.
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close()
			})
		}, nil, KindReset},
		{"server cuts the body", func() string {
			return listener(t, func(c net.Conn) {
				readRequest(c)
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
				c.Close()
			})
		}, nil, KindReset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hit(t, tt.url(), tt.opts...)
			if got := Classify(r); got != tt.want {
				t.Errorf("Classify(code %d, error %q) = %q, want %q", r.Code, r.Error, got, tt.want)
			}
		})
	}
}

// TestClassifyTexts covers texts that are hard to provoke on loopback; they are Go's own
// error texts as vegeta stores them.
func TestClassifyTexts(t *testing.T) {
	tests := []struct {
		code uint16
		err  string
		want string
	}{
		{200, "", KindOK},
		{200, "some wrapper error", "http_200"},
		{301, "", "http_301"},
		{502, "502 Bad Gateway", "http_502"},
		{503, "503 Service Unavailable", "http_503"},
		{504, "504 Gateway Timeout", "http_504"}, // a status, not a client timeout
		{0, `Get "http://127.0.0.1:8080/page": context deadline exceeded (Client.Timeout or context cancellation while reading body)`, KindTimeout},
		{0, `Get "https://127.0.0.1:8443/": net/http: TLS handshake timeout`, KindTimeout},
		{0, `Get "http://10.0.0.1/": dial tcp 10.0.0.1:80: i/o timeout`, KindTimeout},
		{0, `Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:8080: connect: connection refused`, KindRefused},
		{0, `Get "http://127.0.0.1:8080/": read tcp 127.0.0.1:5000->127.0.0.1:8080: read: connection reset by peer`, KindReset},
		{0, `Post "http://127.0.0.1:8080/": write tcp 127.0.0.1:5000->127.0.0.1:8080: write: broken pipe`, KindReset},
		{0, `Get "http://127.0.0.1:8080/": EOF`, KindReset},
		{0, "unexpected EOF", KindReset},
		{0, `Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:8080: socket: too many open files`, KindOther},
		{0, `Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:8080: connect: cannot assign requested address`, KindOther},
		{0, `Get "http://127.0.0.1:8080/": context canceled`, KindOther},
		{0, "", KindOther},
	}
	for _, tt := range tests {
		r := &vegeta.Result{Code: tt.code, Error: tt.err}
		if got := Classify(r); got != tt.want {
			t.Errorf("Classify(code %d, error %q) = %q, want %q", tt.code, tt.err, got, tt.want)
		}
	}
}

// TestHTTPKind: a status kind names its status, reads back, and counts as an HTTP error; the
// other kinds, and an old record's bare "http", have no status.
func TestHTTPKind(t *testing.T) {
	if got := HTTPKind(503); got != "http_503" {
		t.Errorf("HTTPKind(503) = %q, want http_503", got)
	}
	for _, tt := range []struct {
		kind   string
		isHTTP bool
		code   int
	}{
		{"http_503", true, 503},
		{"http_502", true, 502},
		{KindHTTP, true, 0},
		{KindTimeout, false, 0},
		{KindOK, false, 0},
		{"http_x", true, 0},
		{"httpx", false, 0},
	} {
		code, ok := HTTPStatus(tt.kind)
		if IsHTTPKind(tt.kind) != tt.isHTTP || code != tt.code || ok != (tt.code != 0) {
			t.Errorf("%q: IsHTTPKind %v, HTTPStatus %d %v; want %v, %d", tt.kind, IsHTTPKind(tt.kind), code, ok, tt.isHTTP, tt.code)
		}
	}
}
