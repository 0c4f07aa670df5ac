//go:build linux

package watch

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/simulator/sockets"
)

// TestPeakInFlight: the peak is rebuilt from each server-side socket's last request in and
// answer out, within the window since the census before.
func TestPeakInFlight(t *testing.T) {
	const port = 8080
	ms := time.Millisecond
	// server returns a server-side socket of port whose last request came in recv ago and
	// whose answer went out sent ago (sent < 0: not answered yet).
	n := uint16(40000)
	server := func(recv, sent time.Duration) sockets.Socket {
		n++
		s := sockets.Socket{State: sockets.Established, Info: true,
			Local:      netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port),
			Remote:     netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), n),
			DataSegsIn: 1, LastDataRecv: recv, LastDataSent: time.Hour}
		if sent >= 0 {
			s.DataSegsOut, s.LastDataSent = 1, sent
		}
		return s
	}
	client := server(10*ms, 5*ms)
	client.Local, client.Remote = client.Remote, client.Local // the other end: not the port's
	listener := sockets.Socket{State: sockets.Listen, Local: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)}
	for _, tc := range []struct {
		name  string
		list  []sockets.Socket
		since time.Duration
		want  int
	}{
		{"none", []sockets.Socket{listener}, time.Second, 0},
		// Three requests that overlapped between 200 and 150 ms ago, all answered now: the
		// snapshot sees none of them.
		{"burst between censuses", []sockets.Socket{listener, server(300*ms, 150*ms), server(250*ms, 100*ms), server(200*ms, 50*ms)}, time.Second, 3},
		// One after the other: never two at once.
		{"in turn", []sockets.Socket{listener, server(300*ms, 250*ms), server(200*ms, 150*ms), server(100*ms, 50*ms)}, time.Second, 1},
		// An answer and the next request in the same jiffy do not overlap.
		{"touching", []sockets.Socket{listener, server(300*ms, 200*ms), server(200*ms, 100*ms)}, time.Second, 1},
		// Answered before the window: not counted; started before it and still open: counted.
		{"window", []sockets.Socket{listener, server(900*ms, 600*ms), server(900*ms, -1), server(100*ms, -1)}, 500 * time.Millisecond, 2},
		// The port's client sockets (the app's own calls, the other end) are not its requests.
		{"client side", []sockets.Socket{listener, client}, time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := peakInFlight(tc.list, port, tc.since); got != tc.want {
				t.Errorf("peak %d, want %d", got, tc.want)
			}
		})
	}
}

// TestPeakSeesBurstBetweenCensuses: 2 pages at once on split (2 workers, 100 ms each), both
// answered before the next census: the snapshot counts no request in flight, the peak counts
// both, and with 2 workers and no self-call the pool warning stays off.
func TestPeakSeesBurstBetweenCensuses(t *testing.T) {
	ch := startChild(t, "app:split")
	w, _ := newTestWatcher(t, ch.port)
	waitSelfCensus(t, w, "the process found", func(c Census) bool { return c.Process != nil && c.SelfCall != nil })
	// Kept-alive connections: a closed server socket leaves the dump (TIME_WAIT has no
	// tcp_info), an idle kept-alive one keeps its last request's times.
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Timeout: waitTimeout, Transport: tr}
	var wg sync.WaitGroup
	for range childWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := cl.Get(ch.url + "/page")
			if err != nil {
				t.Errorf("page: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	c, err := w.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sc := c.SelfCall
	if sc == nil {
		t.Fatalf("no self-call census: %s", c.SelfCallError)
	}
	if sc.RequestsInFlight != 0 || sc.RequestsInFlightPeak < childWorkers || sc.PoolWarning {
		t.Errorf("in flight %d, peak %d, pool warning %v; want 0, at least %d (the pages answered since the census before), off (no self-call)",
			sc.RequestsInFlight, sc.RequestsInFlightPeak, sc.PoolWarning, childWorkers)
	}
}

// TestPoolRuleOffOnAsync: sim's app on async (2 workers, 100 ms a page) releases its worker
// during the self-call, so 4 clients sending pages back to back keep it holding more requests
// than workers while its self-calls are answered (each waits behind at most the pages queued
// before it): the census must turn the pool rule off and say so in one line, with no wait
// warning, and every page must be answered. (On self the same load is the deadlock, where
// TestSelfCallTopologies holds the pool rule on.)
func TestPoolRuleOffOnAsync(t *testing.T) {
	ch := startChild(t, "app:async")
	w, lines := newTestWatcher(t, ch.port)
	const clients = 2 * childWorkers
	// Long enough for the rule's span (poolOffWaits x testWarnAfter) several times over.
	const span = 2 * time.Second
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Timeout: waitTimeout, Transport: tr}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent, failed := 0, 0
	stop := time.Now().Add(span)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				resp, err := cl.Get(ch.url + "/page")
				ok := err == nil
				if ok {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = resp.StatusCode == http.StatusOK
				}
				mu.Lock()
				sent++
				if !ok {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	var off *SelfCalls
	for running := true; running; {
		select {
		case <-finished:
			running = false
		case <-time.After(20 * time.Millisecond):
		}
		c, err := w.Sample(context.Background())
		if err != nil {
			t.Fatalf("sample: %v", err)
		}
		if sc := c.SelfCall; sc != nil {
			if sc.WaitWarning {
				t.Errorf("wait warning on async: %+v", *sc)
			}
			if sc.PoolRuleOff && off == nil {
				off = sc
			}
		}
	}
	if failed != 0 || sent < clients {
		t.Errorf("%d of %d pages failed on async, want none", failed, sent)
	}
	if off == nil || off.PoolWarning {
		t.Fatalf("pool rule never turned off on async (or warned once off): %+v", off)
	}
	if l := lines(); len(l) != 2 || !strings.HasPrefix(l[1], "pool rule off: port ") {
		t.Errorf("printed %q, want the self-call line, then the pool rule's", l)
	}
}
