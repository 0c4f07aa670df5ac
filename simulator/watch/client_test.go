//go:build linux

package watch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/simulator/sockets"
)

func newClient(t *testing.T, url, token string, timeout time.Duration) *Client {
	t.Helper()
	c, err := NewClient(url, token, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// The client reads the census of a real agent over HTTP, with the token, and its clock
// offset is within the round trip (agent and reader share this machine's clock).
func TestClientReadsAgent(t *testing.T) {
	sc := scenario{open: 1, clientClosed: 3}
	port := sc.build(t)
	a := startAgent(t, Config{Port: int(port), Addr: DefaultAddr, Token: testToken})
	c := newClient(t, a.URL(), testToken, 5*time.Second)
	deadline := time.Now().Add(settleTimeout)
	for {
		r, err := c.Census(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if serverMatches(r.Census, sc.server()) {
			if r.Process == nil || r.Process.PID != os.Getpid() {
				t.Errorf("process %+v (%s), want this test's pid %d", r.Process, r.ProcessError, os.Getpid())
			}
			if r.Counts().Server[sockets.CloseWait] != sc.clientClosed {
				t.Errorf("Counts() %v, want %d CLOSE_WAIT", r.Counts(), sc.clientClosed)
			}
			rtt := r.Received.Sub(r.Sent)
			if off := r.Offset(); off < -rtt || off > rtt {
				t.Errorf("offset %v on one machine, beyond the round trip %v", off, rtt)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("census %+v", r.Census)
		}
		time.Sleep(10 * time.Millisecond)
	}

	wrong := newClient(t, a.URL(), testToken+"-wrong", 5*time.Second)
	if _, err := wrong.Census(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v, want a 401 error", err)
	} else if strings.Contains(err.Error(), testToken) {
		t.Errorf("error shows the token: %v", err)
	}
}

// A sample that does not come back in time is an error within the timeout, not a zero.
func TestClientTimeout(t *testing.T) {
	s := &slowSampler{block: make(chan struct{})}
	w := newWatcher(t, Options{Port: 9, Sampler: s})
	srv := httptest.NewServer(w.Handler(HandlerOptions{}))
	defer srv.Close()
	defer close(s.block)
	c := newClient(t, srv.URL, "", 100*time.Millisecond)
	start := time.Now()
	_, err := c.Census(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("stuck agent: %v, want a deadline error naming the timeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("gave up after %v, timeout 100ms", took)
	}
}

// The client refuses answers it cannot trust: another schema version, a body beyond the
// bound, something that is not a census.
func TestClientRefuses(t *testing.T) {
	tests := []struct {
		name, want string
		h          http.HandlerFunc
	}{
		{"newer schema", "schema version 2", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"version":2,"port":8080}`))
		}},
		{"too long", "longer than", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"version":1,"process_error":"` + strings.Repeat("x", maxResponseBytes) + `"}`))
		}},
		{"not json", "decode", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html>a proxy's page</html>"))
		}},
		{"error answer", "503 Service Unavailable: netlink says no", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "netlink says no")
		}},
		{"redirect", "302", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example/", http.StatusFound)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			c := newClient(t, srv.URL, "", 5*time.Second)
			if _, err := c.Census(context.Background()); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "127.0.0.1:8082", "ftp://127.0.0.1:8082", "http://", "http://127.0.0.1:8082/?x=1"} {
		if _, err := NewClient(bad, "", time.Second); !invalid.Is(err) || !strings.Contains(err.Error(), "--watch") {
			t.Errorf("NewClient(%q): %v, want an invalid --watch error", bad, err)
		}
	}
	if _, err := NewClient("http://user:secret@127.0.0.1:1/#x", "", time.Second); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("NewClient with credentials: %v, want an error that masks them", err)
	}
}
