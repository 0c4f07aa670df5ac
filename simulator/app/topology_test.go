package app

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/simulator/static"
)

// The topologies on real loopback sockets, each with the small server of testConfig (4 workers,
// 100 ms of work per page) and a burst of concurrent pages that hangs self (TestSelfDeadlocks):
// what a user of each fix sees under the same burst.

// noAnswer is the status burstStatuses counts a request under when it got no answer in time.
const noAnswer = -1

// answerTimeout is a client's patience where every request is expected to be answered: far
// longer than the burst takes to drain (16 pages × 100 ms over 4 workers, or a 1 s self-call
// timeout a few times over), so that only a hang runs into it.
const answerTimeout = 15 * time.Second

// burstStatuses sends n concurrent GET /page, each on its own connection whose client gives up
// after timeout, and counts the answers by status (noAnswer for none).
func burstStatuses(t *testing.T, url string, n int, timeout time.Duration) map[int]int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	out := map[int]int{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := status(url+"/page", timeout)
			mu.Lock()
			out[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// status fetches url on a fresh connection and returns the answer's status, or noAnswer.
func status(url string, timeout time.Duration) int {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: timeout}).Get(url)
	if err != nil {
		return noAnswer
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// only reports whether every count in got is under one of the statuses.
func only(got map[int]int, statuses ...int) bool {
	for code := range got {
		found := false
		for _, s := range statuses {
			found = found || code == s
		}
		if !found {
			return false
		}
	}
	return true
}

// drained waits until no worker is busy, nothing is queued and the app has answered want pages
// (ok or failed), then returns the stats.
func drained(t *testing.T, a *App, want int64) Stats {
	t.Helper()
	var s Stats
	waitFor(t, 10*time.Second, "the burst drained", func() bool {
		s = stats(t, a)
		return s.WorkersBusy == 0 && s.Queued == 0 && s.PagesOK+s.PagesFailed == want
	})
	return s
}

// staysHung checks that, a while after the burst, every worker is still held and a new page
// gets no 200: the hang does not end by itself.
func staysHung(t *testing.T, a *App) {
	t.Helper()
	waitFor(t, 5*time.Second, "every worker held", func() bool { return stats(t, a).WorkersBusy == a.cfg.MaxThreads })
	before := stats(t, a)
	time.Sleep(time.Second)
	after := stats(t, a)
	if after.WorkersBusy != a.cfg.MaxThreads || after.PagesOK != before.PagesOK {
		t.Fatalf("a second later workers_busy=%d pages_ok %d→%d, want still %d busy and no page done",
			after.WorkersBusy, before.PagesOK, after.PagesOK, a.cfg.MaxThreads)
	}
	if code := status(a.URL()+"/page", time.Second); code == http.StatusOK {
		t.Fatal("a /page succeeded: the server is not hung")
	}
}

// self-timeout: the self-call gives up after 1 s (the topology's defaults, applied by
// Normalize), so the cycle breaks: every page is answered, 200 or 502, and the server recovers.
func TestSelfTimeoutAnswersAndRecovers(t *testing.T) {
	a := startApp(t, testConfig(topology.SelfTimeout))
	if c := a.Config(); c.SocketTimeout != time.Second || c.ConnectionRequestTimeout != time.Second {
		t.Fatalf("socket_timeout %v connection_request_timeout %v, want the topology's 1s each", c.SocketTimeout, c.ConnectionRequestTimeout)
	}
	got := burstStatuses(t, a.URL(), 16, answerTimeout)
	if !only(got, http.StatusOK, http.StatusBadGateway) {
		t.Fatalf("answers by status %v, want every page answered 200 or 502", got)
	}
	if got[http.StatusBadGateway] == 0 {
		t.Fatalf("answers by status %v: no 502, so the burst never formed the cycle the timeout breaks", got)
	}
	drained(t, a, 16)
	if code := status(a.URL()+"/page", 5*time.Second); code != http.StatusOK {
		t.Fatalf("/page after the burst: %d, want 200 (recovered)", code)
	}
}

// bulkhead: the self-call goes to a second connector with its own pool, so no page waits for
// one of the page pool's workers: every page is served.
func TestBulkheadServesEveryPage(t *testing.T) {
	a := startApp(t, testConfig(topology.Bulkhead))
	if a.StaticURL() == a.URL() || a.StaticURL() == "" {
		t.Fatalf("static URL %q, want the static connector's own port (app %s)", a.StaticURL(), a.URL())
	}
	if code := status(a.URL()+static.PagePath, 2*time.Second); code != http.StatusNotFound {
		t.Fatalf("the app's connector answers %s with %d, want 404: the static connector serves it", static.PagePath, code)
	}
	got := burstStatuses(t, a.URL(), 16, answerTimeout)
	if got[http.StatusOK] != 16 {
		t.Fatalf("answers by status %v, want all 16 pages 200", got)
	}
	s := drained(t, a, 16)
	if s.BulkheadMaxThreads != a.cfg.BulkheadThreads || s.BulkheadWorkersBusy != 0 || s.SelfcallCalls != 16 {
		t.Fatalf("bulkhead_max_threads=%d busy=%d selfcall_calls=%d, want %d, 0, 16",
			s.BulkheadMaxThreads, s.BulkheadWorkersBusy, s.SelfcallCalls, a.cfg.BulkheadThreads)
	}
}

// async: the page gives its worker back during the self-call, so even one worker serves pages
// (self with one worker hangs on the first), and the burst is served in full.
func TestAsyncServesEveryPage(t *testing.T) {
	one := testConfig(topology.Async)
	one.MaxThreads = 1
	a1 := startApp(t, one)
	if code := status(a1.URL()+"/page", 5*time.Second); code != http.StatusOK {
		t.Fatalf("async with 1 worker: /page %d, want 200 (the worker is free for the self-call)", code)
	}

	a := startApp(t, testConfig(topology.Async))
	got := burstStatuses(t, a.URL(), 16, answerTimeout)
	if got[http.StatusOK] != 16 {
		t.Fatalf("answers by status %v, want all 16 pages 200", got)
	}
	if s := drained(t, a, 16); s.AsyncParked != 0 || s.AsyncResuming != 0 || s.PagesFailed != 0 {
		t.Fatalf("async_parked=%d async_resuming=%d pages_failed=%d after the burst, want 0", s.AsyncParked, s.AsyncResuming, s.PagesFailed)
	}
}

// inproc: the page reads the file in process; no self-call at all.
func TestInProcServesEveryPage(t *testing.T) {
	a := startApp(t, testConfig(topology.InProc))
	got := burstStatuses(t, a.URL(), 16, answerTimeout)
	if got[http.StatusOK] != 16 {
		t.Fatalf("answers by status %v, want all 16 pages 200", got)
	}
	if s := drained(t, a, 16); s.SelfcallCalls != 0 {
		t.Fatalf("selfcall_calls=%d, want 0: inproc makes no HTTP call", s.SelfcallCalls)
	}
	body := new(strings.Builder)
	resp, err := http.Get(a.URL() + "/page")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(body, resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), "static-fragment") {
		t.Fatalf("/page lacks the static fragment: %q", body.String())
	}
}

// bounded-queue: a request beyond the queue gets 503 at once, but the cycle is still there.
// Six pages for 4 workers and a queue of 4: 4 take the workers, 2 queue, and the first two
// self-calls (the pool leases 2) fill the queue behind them — every worker holds a page waiting
// for a self-call that waits for a worker. Every later request finds the queue full.
func TestBoundedQueueStillHangs(t *testing.T) {
	cfg := testConfig(topology.BoundedQueue)
	cfg.MaxQueueSize = 4
	a := startApp(t, cfg)
	burstStatuses(t, a.URL(), 6, time.Second)
	waitFor(t, 5*time.Second, "every worker held and the queue full", func() bool {
		s := stats(t, a)
		return s.WorkersBusy == 4 && s.Queued == 4
	})
	start := time.Now()
	got := burstStatuses(t, a.URL(), 8, 5*time.Second)
	if got[http.StatusServiceUnavailable] != 8 {
		t.Fatalf("requests beyond the full queue: answers by status %v, want 8 × 503", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the 503s took %v, want them at once", d)
	}
	if s := stats(t, a); s.QueueRejected < 8 || s.MaxQueueSize != 4 {
		t.Fatalf("queue_rejected=%d max_queue_size=%d, want >= 8 and 4", s.QueueRejected, s.MaxQueueSize)
	}
	staysHung(t, a)
}

// admission-limit with admission wait: the page waits for a permit inside the worker it holds
// (a servlet filter). 3 pages are admitted (4 - reserve 1), the fourth worker holds a page
// waiting for a permit, and the admitted pages' self-calls queue behind the burst: hung.
func TestAdmissionWaitHangs(t *testing.T) {
	cfg := testConfig(topology.AdmissionLimit)
	cfg.Admission = topology.AdmitWait
	a := startApp(t, cfg)
	burstStatuses(t, a.URL(), 16, time.Second)
	waitFor(t, 5*time.Second, "3 pages admitted and one waiting in a worker", func() bool {
		s := stats(t, a)
		return s.AdmissionLimit == 3 && s.AdmissionAdmitted == 3 && s.AdmissionWaiting == 1 && s.WorkersBusy == 4
	})
	staysHung(t, a)
}

// admission-limit with admission reject: a page over the limit is answered 503 and gives its
// worker back, so the reserved worker keeps the self-calls moving and the server recovers.
func TestAdmissionRejectRecovers(t *testing.T) {
	cfg := testConfig(topology.AdmissionLimit)
	cfg.Admission = topology.AdmitReject
	a := startApp(t, cfg)
	got := burstStatuses(t, a.URL(), 16, answerTimeout)
	if !only(got, http.StatusOK, http.StatusServiceUnavailable) || got[http.StatusServiceUnavailable] == 0 || got[http.StatusOK] == 0 {
		t.Fatalf("answers by status %v, want every page answered, some 200 and some 503", got)
	}
	s := drained(t, a, 16)
	if s.AdmissionRejected != int64(got[http.StatusServiceUnavailable]) {
		t.Fatalf("admission_rejected=%d, want the %d 503s the clients saw", s.AdmissionRejected, got[http.StatusServiceUnavailable])
	}
	if code := status(a.URL()+"/page", 5*time.Second); code != http.StatusOK {
		t.Fatalf("/page after the burst: %d, want 200", code)
	}
}

// admission-limit with admission queue: pages over the limit wait before they take a worker,
// so a worker is always left for the self-calls: every page is served.
func TestAdmissionQueueServesEveryPage(t *testing.T) {
	cfg := testConfig(topology.AdmissionLimit)
	cfg.Admission = topology.AdmitQueue
	a := startApp(t, cfg)
	var maxWaiting int
	done := make(chan map[int]int, 1)
	go func() { done <- burstStatuses(t, a.URL(), 16, answerTimeout) }()
	var got map[int]int
	for got == nil {
		select {
		case got = <-done:
		case <-time.After(20 * time.Millisecond):
			s := stats(t, a)
			maxWaiting = max(maxWaiting, s.AdmissionWaiting)
		}
	}
	if got[http.StatusOK] != 16 {
		t.Fatalf("answers by status %v, want all 16 pages 200", got)
	}
	drained(t, a, 16)
	if maxWaiting == 0 {
		t.Fatal("admission_waiting never above 0 during the burst: no page waited at the gate")
	}
}

// /metrics shows the mechanics a topology has, and only those.
func TestMetricsShowTheMechanics(t *testing.T) {
	tests := []struct {
		topology string
		want     []string
	}{
		{topology.Self, nil},
		{topology.BoundedQueue, []string{"sim_queue_max", "sim_queue_rejected_total"}},
		{topology.AdmissionLimit, []string{"sim_admission_limit", "sim_admission_admitted", "sim_admission_waiting", "sim_admission_rejected_total"}},
		{topology.Bulkhead, []string{"sim_bulkhead_workers_max", "sim_bulkhead_workers_busy", "sim_bulkhead_requests_queued", "sim_bulkhead_connections_open"}},
		{topology.Async, []string{"sim_async_parked", "sim_async_resuming"}},
	}
	all := []string{"sim_queue_", "sim_admission_", "sim_bulkhead_", "sim_async_"}
	for _, tt := range tests {
		t.Run(tt.topology, func(t *testing.T) {
			a := startApp(t, testConfig(tt.topology))
			resp, err := http.Get(a.AdminURL() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			for _, name := range tt.want {
				if !strings.Contains(body, "\n"+name+" ") {
					t.Errorf("/metrics lacks %s", name)
				}
			}
			for _, prefix := range all {
				if strings.Contains(body, "\n"+prefix) && !hasPrefix(tt.want, prefix) {
					t.Errorf("/metrics has %s* metrics, which %s does not have", prefix, tt.topology)
				}
			}
		})
	}
}

func hasPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}
