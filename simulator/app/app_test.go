package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/simdev/sim/simulator/sockets"
	"github.com/simdev/sim/simulator/static"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// inProcessStatic runs the embedded static server in a goroutine. The real split topology runs
// it as a separate process (tested end to end in cmd/sim); here what matters is that it has its
// own resources.
func inProcessStatic(ctx context.Context, addr string) (static.Server, error) {
	sctx, cancel := context.WithCancel(context.Background())
	urlc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- static.Serve(sctx, addr, func(u string) { urlc <- u }) }()
	select {
	case u := <-urlc:
		return &goStatic{url: u, cancel: cancel, done: done}, nil
	case err := <-done:
		cancel()
		return nil, err
	}
}

type goStatic struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

func (s *goStatic) URL() string { return s.url }
func (s *goStatic) Stop() error { s.cancel(); return <-s.done }

func testConfig(topology string) Config {
	c := Defaults()
	c.Topology = topology
	c.MaxThreads = 4
	c.WorkTime = 100 * time.Millisecond
	c.NoFile = 0
	return c
}

func startApp(t *testing.T, cfg Config) *App {
	t.Helper()
	a, err := Start(context.Background(), cfg, inProcessStatic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a
}

// burst sends n concurrent GET /page whose clients give up after timeout, each on its own
// connection, and returns how many answered 200.
func burst(t *testing.T, url string, n int, timeout time.Duration) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if get(url+"/page", timeout) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ok
}

// get fetches url on a fresh connection that is closed afterwards, as a browser giving up does.
func get(url string, timeout time.Duration) error {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func stats(t *testing.T, a *App) Stats {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Second}).Get(a.AdminURL() + "/stats")
	if err != nil {
		t.Fatalf("admin /stats: %v", err)
	}
	defer resp.Body.Close()
	var s Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func serverCounts(t *testing.T, a *App) sockets.Counts {
	t.Helper()
	s := sockets.New()
	defer s.Close()
	_, portStr, _ := net.SplitHostPort(a.URL()[len("http://"):])
	port, _ := strconv.Atoi(portStr)
	c, err := s.Sample(uint16(port))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The incident on real sockets: 16 concurrent pages against 4 workers, clients giving up
// after 1 s. Every worker ends up waiting for a self-call that waits for a worker.
func TestSelfDeadlocks(t *testing.T) {
	a := startApp(t, testConfig(Self))
	if err := get(a.URL()+"/page", 2*time.Second); err != nil {
		t.Fatalf("idle app does not serve /page: %v", err)
	}
	burst(t, a.URL(), 16, time.Second)

	// Every worker ends up in a page waiting for its self-call, queued behind the others.
	waitFor(t, 5*time.Second, "4 workers busy and some requests queued", func() bool {
		s := stats(t, a)
		return s.WorkersBusy == 4 && s.Queued > 0
	})
	if err := get(a.URL()+"/page", 2*time.Second); err == nil {
		t.Fatal("a /page succeeded after the burst: the self topology did not deadlock")
	}
	// Still hung a while later: nothing has a timeout.
	time.Sleep(time.Second)
	if s := stats(t, a); s.WorkersBusy != 4 {
		t.Fatalf("workers_busy=%d a second later, want still 4", s.WorkersBusy)
	}
	if err := get(a.URL()+"/page", time.Second); err == nil {
		t.Fatal("a /page succeeded a second later")
	}
	waitFor(t, 5*time.Second, "server-side CLOSE_WAIT on the app port", func() bool {
		return serverCounts(t, a).Server[sockets.CloseWait] > 0
	})
}

func TestSplitDoesNotDeadlock(t *testing.T) {
	a := startApp(t, testConfig(Split))
	burst(t, a.URL(), 16, time.Second)
	// The burst drains: 16 pages × 100 ms over 4 workers. Every page is counted, also those
	// whose client gave up first (they may still have been in the backlog when it did).
	waitFor(t, 10*time.Second, "all 16 pages done", func() bool {
		s := stats(t, a)
		return s.WorkersBusy == 0 && s.Queued == 0 && s.PagesOK+s.PagesFailed == 16
	})
	if s := stats(t, a); s.PagesOK != 16 || s.PagesFailed != 0 {
		t.Fatalf("pages_ok=%d pages_failed=%d, want every one of the 16 completed", s.PagesOK, s.PagesFailed)
	}
	if err := get(a.URL()+"/page", 2*time.Second); err != nil {
		t.Fatalf("/page after the burst: %v", err)
	}
	waitFor(t, 5*time.Second, "no CLOSE_WAIT", func() bool {
		return serverCounts(t, a).Server[sockets.CloseWait] == 0
	})
}

// The mitigation: a socket timeout on the self-call breaks the cycle, and the server comes back
// once the burst has drained.
func TestSelfWithSocketTimeoutRecovers(t *testing.T) {
	cfg := testConfig(Self)
	cfg.SocketTimeout = 200 * time.Millisecond
	a := startApp(t, cfg)
	burst(t, a.URL(), 16, time.Second)
	waitFor(t, 15*time.Second, "recovered", func() bool {
		return get(a.URL()+"/page", time.Second) == nil
	})
}

func TestBIOBoundsConnections(t *testing.T) {
	tests := []struct {
		connector string
		wantOpen  int64
	}{
		{"bio", 4},
		{"nio", 10},
	}
	for _, tt := range tests {
		t.Run(tt.connector, func(t *testing.T) {
			cfg := testConfig(Self)
			cfg.Connector = tt.connector
			a := startApp(t, cfg)
			addr := a.URL()[len("http://"):]
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := 0; i < 10; i++ {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			// bio: 4 accepted (one per worker), the 6 others in the kernel's backlog; nio: all.
			wantQueue := 10 - int(tt.wantOpen)
			waitFor(t, 5*time.Second, "connections accepted", func() bool {
				return stats(t, a).ConnectionsOpen == tt.wantOpen && serverCounts(t, a).AcceptQueue == wantQueue
			})
			// And no more are accepted a moment later.
			for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if got := stats(t, a).ConnectionsOpen; got != tt.wantOpen {
					t.Fatalf("connections_open = %d, want %d", got, tt.wantOpen)
				}
			}
		})
	}
}

// accept_count is the real listen() backlog, not somaxconn.
func TestAcceptCountIsTheBacklog(t *testing.T) {
	cfg := testConfig(Self)
	cfg.AcceptCount = 7
	a := startApp(t, cfg)
	if c := serverCounts(t, a); !c.Listening || c.AcceptQueueMax != 7 {
		t.Fatalf("listening=%v accept queue max=%d, want 7", c.Listening, c.AcceptQueueMax)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*Config)
	}{
		{"topology", func(c *Config) { c.Topology = "loop" }},
		{"connector", func(c *Config) { c.Connector = "apr" }},
		{"max_threads", func(c *Config) { c.MaxThreads = 0 }},
		{"max_threads", func(c *Config) { c.MaxThreads = 1_000_000 }},
		{"accept_count", func(c *Config) { c.AcceptCount = -1 }},
		{"work_time", func(c *Config) { c.WorkTime = -time.Second }},
		{"max_per_route", func(c *Config) { c.MaxPerRoute = 0 }},
		{"socket_timeout", func(c *Config) { c.SocketTimeout = -1 }},
		{"nofile", func(c *Config) { c.NoFile = 10 }},
		{"static.server", func(c *Config) { c.Static.Server = "apache" }},
		{"addr", func(c *Config) { c.Addr = "0.0.0.0:8080" }},
		{"admin_addr", func(c *Config) { c.AdminAddr = "10.0.0.1:9" }},
		{"addr", func(c *Config) { c.Addr = "nonsense" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := Defaults()
			tt.mod(&c)
			c.Normalize()
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if got := err.Error(); len(got) < len(tt.field) || got[:len(tt.field)] != tt.field {
				t.Fatalf("error %q does not start with the field %q", got, tt.field)
			}
		})
	}
	c := Defaults()
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}
