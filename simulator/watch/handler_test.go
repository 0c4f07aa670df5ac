//go:build linux

package watch

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/simdev/sim/simulator/sockets"
)

const testToken = "0123456789abcdef-test-token"

// get sends a GET with Host and token (when not empty) to h and returns the recorded answer.
func get(h http.Handler, method, path, host, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// parseMetrics parses a /metrics body with Prometheus's own text parser.
func parseMetrics(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return mfs
}

// value returns the value of the series of family name with exactly labels, and whether it
// exists.
func value(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// /metrics parses with Prometheus's parser and carries the census of real CLOSE_WAIT sockets
// under the names and labels a Prometheus user expects, with the agent's own cost.
func TestMetrics(t *testing.T) {
	sc := scenario{open: 2, clientClosed: 6, queued: 1, queuedClosed: 3}
	port := sc.build(t)
	w := newWatcher(t, Options{Port: port})
	waitCensus(t, w, func(c Census) bool { return serverMatches(c, sc.server()) && c.Process != nil })
	h := w.Handler(HandlerOptions{})
	rec := get(h, "GET", MetricsPath, "127.0.0.1:1", "")
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want the Prometheus text format", ct)
	}
	mfs := parseMetrics(t, rec.Body.String())
	p := strconv.Itoa(int(port))
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
		typ    dto.MetricType
	}{
		{"sim_tcp_sockets", map[string]string{"port": p, "state": "close_wait"}, float64(sc.clientClosed + sc.queuedClosed), dto.MetricType_GAUGE},
		{"sim_tcp_sockets", map[string]string{"port": p, "state": "established"}, float64(sc.open + sc.queued), dto.MetricType_GAUGE},
		{"sim_tcp_sockets", map[string]string{"port": p, "state": "time_wait"}, 0, dto.MetricType_GAUGE},
		{"sim_listening", map[string]string{"port": p}, 1, dto.MetricType_GAUGE},
		{"sim_listen_queue_length", map[string]string{"port": p}, float64(sc.queued + sc.queuedClosed), dto.MetricType_GAUGE},
		{"sim_process_max_fds", map[string]string{"port": p}, float64(fdLimit(t)), dto.MetricType_GAUGE},
	} {
		got, ok := value(mfs, tt.name, tt.labels)
		if !ok {
			t.Errorf("no series %s%v", tt.name, tt.labels)
			continue
		}
		if got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
		if typ := mfs[tt.name].GetType(); typ != tt.typ {
			t.Errorf("%s is a %v, want a %v", tt.name, typ, tt.typ)
		}
	}
	if w.Method() == sockets.MethodNetlink {
		if got, _ := value(mfs, "sim_listen_queue_limit", map[string]string{"port": p}); got != testBacklog {
			t.Errorf("sim_listen_queue_limit = %v, want the backlog %d", got, testBacklog)
		}
	}
	if n := len(mfs["sim_tcp_sockets"].GetMetric()); n != len(allStateNames()) {
		t.Errorf("sim_tcp_sockets has %d series, want one per state but LISTEN (%d)", n, len(allStateNames()))
	}
	if fds, ok := value(mfs, "sim_process_open_fds", map[string]string{"port": p}); !ok || fds < float64(1+sc.open+sc.clientClosed) {
		t.Errorf("sim_process_open_fds = %v (present %v), the test holds at least %d", fds, ok, 1+sc.open+sc.clientClosed)
	}
	// The agent's own cost: every sample so far is counted and timed, none failed.
	samples, ok1 := value(mfs, "sim_watch_samples_total", nil)
	timed, ok2 := value(mfs, "sim_watch_sample_duration_seconds", nil)
	failed, ok3 := value(mfs, "sim_watch_sample_errors_total", nil)
	if !ok1 || !ok2 || !ok3 || samples < 2 || timed != samples || failed != 0 {
		t.Errorf("cost: samples %v, timed %v, errors %v; want >= 2 (waitCensus, then the scrape), all timed, 0 errors", samples, timed, failed)
	}
	if typ := mfs["sim_watch_sample_duration_seconds"].GetType(); typ != dto.MetricType_HISTOGRAM {
		t.Errorf("sim_watch_sample_duration_seconds is a %v, want a histogram", typ)
	}
}

func fdLimit(t *testing.T) int {
	t.Helper()
	n, err := maxFDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The JSON census over HTTP is the census the watcher takes.
func TestCensusJSON(t *testing.T) {
	sc := scenario{clientClosed: 4, queuedClosed: 2}
	port := sc.build(t)
	w := newWatcher(t, Options{Port: port})
	h := w.Handler(HandlerOptions{})
	deadline := time.Now().Add(settleTimeout)
	for {
		rec := get(h, "GET", CensusPath, "localhost:1", "")
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("/census: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		var c Census
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if serverMatches(c, sc.server()) && c.Listen.QueueLength == 2 && c.Process != nil && c.Process.PID == os.Getpid() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("census %s", rec.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A failed sample is an error, not zeros: /census answers 503, /metrics leaves the census
// series out and counts the error.
func TestSampleFailure(t *testing.T) {
	s := &slowSampler{err: fmt.Errorf("netlink says no")}
	w := newWatcher(t, Options{Port: 9, Sampler: s})
	h := w.Handler(HandlerOptions{})
	rec := get(h, "GET", CensusPath, "127.0.0.1", "")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "netlink says no") {
		t.Errorf("/census: %d %s, want 503 with the cause", rec.Code, rec.Body)
	}
	rec = get(h, "GET", MetricsPath, "127.0.0.1", "")
	mfs := parseMetrics(t, rec.Body.String())
	if _, ok := mfs["sim_tcp_sockets"]; ok {
		t.Error("/metrics serves socket counts of a failed sample")
	}
	if n, _ := value(mfs, "sim_watch_sample_errors_total", nil); n != 2 {
		t.Errorf("sim_watch_sample_errors_total = %v, want 2", n)
	}
}

// Every response is bounded: a huge error message is cut, and a body beyond the bound is
// refused rather than sent.
func TestResponseBounded(t *testing.T) {
	s := &slowSampler{err: fmt.Errorf("%s", strings.Repeat("x", 1<<20))}
	w := newWatcher(t, Options{Port: 9, Sampler: s})
	rec := get(w.Handler(HandlerOptions{}), "GET", CensusPath, "127.0.0.1", "")
	if rec.Body.Len() > 2*maxErrorLen {
		t.Errorf("an error of 1 MiB made a %d-byte answer", rec.Body.Len())
	}
	var e errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, "bytes in all") {
		t.Errorf("cut error %q (%v) does not say it was cut", e.Error, err)
	}

	big := httptest.NewRecorder()
	writeBody(big, "text/plain", make([]byte, maxResponseBytes+1))
	if big.Code != http.StatusInternalServerError || big.Body.Len() > maxErrorLen {
		t.Errorf("oversized body: %d, %d bytes sent", big.Code, big.Body.Len())
	}
}

// The guard: loopback Host only (unless AnyHost, then no dotted names), GET and HEAD only,
// the bearer token on every path when set.
func TestHandlerGuard(t *testing.T) {
	s := &slowSampler{}
	w := newWatcher(t, Options{Port: 9, Sampler: s})
	tests := []struct {
		name           string
		o              HandlerOptions
		method, path   string
		host, token    string
		want           int
		wantAuthHeader bool
	}{
		{"loopback", HandlerOptions{}, "GET", CensusPath, "127.0.0.1:8082", "", 200, false},
		{"head", HandlerOptions{}, "HEAD", MetricsPath, "[::1]:8082", "", 200, false},
		{"rebinding name", HandlerOptions{}, "GET", CensusPath, "rebind.attacker.example:8082", "", 421, false},
		{"ip without any-host", HandlerOptions{}, "GET", CensusPath, "10.0.0.1:8082", "", 421, false},
		{"ip with any-host", HandlerOptions{AnyHost: true, Token: testToken}, "GET", CensusPath, "10.0.0.1:8082", testToken, 200, false},
		{"service name", HandlerOptions{AnyHost: true, Token: testToken}, "GET", MetricsPath, "watch-self:8082", testToken, 200, false},
		{"dotted with any-host", HandlerOptions{AnyHost: true, Token: testToken}, "GET", CensusPath, "evil.example", testToken, 421, false},
		{"post", HandlerOptions{}, "POST", CensusPath, "127.0.0.1", "", 405, false},
		{"delete", HandlerOptions{}, "DELETE", MetricsPath, "127.0.0.1", "", 405, false},
		{"no token", HandlerOptions{Token: testToken}, "GET", CensusPath, "127.0.0.1", "", 401, true},
		{"wrong token", HandlerOptions{Token: testToken}, "GET", CensusPath, "127.0.0.1", testToken + "x", 401, true},
		{"metrics without token", HandlerOptions{Token: testToken}, "GET", MetricsPath, "127.0.0.1", "", 401, true},
		{"metrics with token", HandlerOptions{Token: testToken}, "GET", MetricsPath, "127.0.0.1", testToken, 200, false},
		{"unknown path", HandlerOptions{}, "GET", "/debug/pprof/", "127.0.0.1", "", 404, false},
		{"unknown path without token", HandlerOptions{Token: testToken}, "GET", "/nothing", "127.0.0.1", "", 401, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(w.Handler(tt.o), tt.method, tt.path, tt.host, tt.token)
			if rec.Code != tt.want {
				t.Fatalf("%s %s Host %q: %d %s, want %d", tt.method, tt.path, tt.host, rec.Code, rec.Body, tt.want)
			}
			if got := rec.Header().Get("WWW-Authenticate") != ""; got != tt.wantAuthHeader {
				t.Errorf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
			}
			if tt.want == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
			if tt.want != 200 && strings.Contains(rec.Body.String(), testToken) {
				t.Errorf("refusal shows the token: %s", rec.Body)
			}
		})
	}
	// The token is compared whole: other schemes and near misses are refused.
	sum := sha256.Sum256([]byte(testToken))
	for _, h := range []string{"Bearer " + testToken, "bearer " + testToken} {
		if !tokenOK(h, &sum) {
			t.Errorf("%q refused", h)
		}
	}
	for _, h := range []string{"", "Basic " + testToken, testToken, "Bearer", "Bearer " + testToken[:len(testToken)-1], "Bearer " + testToken + testToken} {
		if tokenOK(h, &sum) {
			t.Errorf("%q accepted", h)
		}
	}
}

// Beyond maxInFlight requests at once the agent answers 503 at once instead of queueing more.
func TestHandlerInFlightBound(t *testing.T) {
	s := &slowSampler{block: make(chan struct{})}
	w := newWatcher(t, Options{Port: 9, Sampler: s})
	srv := httptest.NewServer(w.Handler(HandlerOptions{}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(s.block)
	// Fill every slot. A filler that meets a poll below in the last slot is refused as busy
	// and tries again, until it holds a slot of its own.
	for range maxInFlight {
		wg.Go(func() {
			for {
				resp, err := (&http.Client{Transport: tr}).Get(srv.URL + CensusPath)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable {
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	// Poll until every slot is taken. A poll that still finds a slot waits behind the stuck
	// sample until its own timeout, and its slot is freed when it gives up.
	poll := &http.Client{Transport: tr, Timeout: 100 * time.Millisecond}
	deadline := time.Now().Add(settleTimeout)
	for {
		resp, err := poll.Get(srv.URL + CensusPath)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
				return
			}
			t.Fatalf("answer %d while the sampler is stuck, want 503 busy", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %d never refused as busy: %v", maxInFlight+1, err)
		}
	}
}
