//go:build linux

package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait for a census condition: the children are ready in
// milliseconds, a busy machine stretches it.
const waitTimeout = 20 * time.Second

// childWorkers is the worker pool of the app:TOPOLOGY children.
const childWorkers = 2

// testWarnAfter is the warning threshold in these tests: short, so a hung self-call crosses it
// quickly, and far above the milliseconds a healthy one takes.
const testWarnAfter = 300 * time.Millisecond

// newTestWatcher watches port, recording the lines the Watcher prints.
func newTestWatcher(t *testing.T, port uint16) (*Watcher, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	// Workers is the test apps' pool (2 for sim's app; prefork's own count is larger, and its
	// tests do not look at the pool warning).
	w, err := New(Options{Port: port, WarnAfter: testWarnAfter, Workers: childWorkers, Notify: func(l string) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}

// waitCensus samples until ok holds, and returns that census.
func waitSelfCensus(t *testing.T, w *Watcher, what string, ok func(Census) bool) Census {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := w.Sample(context.Background())
		if err != nil {
			t.Fatalf("sample: %v", err)
		}
		if ok(c) {
			return c
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(c)
			t.Fatalf("no census with %s within %v; last: %s", what, waitTimeout, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getPages sends n concurrent GET /page to url and returns a function that waits for them
// (each bounded by timeout) and returns how many got a 200.
func getPages(t *testing.T, url string, n int, timeout time.Duration) func() int {
	t.Helper()
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(client.CloseIdleConnections)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(url + "/page")
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	t.Cleanup(wg.Wait)
	return func() int { wg.Wait(); return ok }
}

// TestSelfCallTopologies runs sim's app on self, split and inproc with 2 workers and sends 4
// pages at once: on self every worker ends inside a self-call that nothing answers (the
// deadlock), which the census must show as waiting self-calls from the app's one process
// with the warning on and one printed line; split and inproc answer every page and must show
// no self-call at all — the test's own clients to the port are not the app's.
func TestSelfCallTopologies(t *testing.T) {
	for _, topo := range []string{"self", "split", "inproc"} {
		t.Run(topo, func(t *testing.T) {
			ch := startChild(t, "app:"+topo)
			w, lines := newTestWatcher(t, ch.port)
			if topo != "self" {
				if got := getPages(t, ch.url, 4, waitTimeout)(); got != 4 {
					t.Fatalf("%d of 4 pages answered on %s, want 4", got, topo)
				}
				c := waitSelfCensus(t, w, "the process found", func(c Census) bool { return c.Process != nil && c.SelfCall != nil })
				if sc := c.SelfCall; sc.Total() != 0 || sc.Waiting != 0 || sc.Warning || sc.PoolWarning || sc.FirstSeenUnixNano != 0 || sc.RequestsInFlight != 0 {
					t.Errorf("%s: self-calls %+v, want none, no warning and no request in flight once every page is answered", topo, *sc)
				}
				if l := lines(); len(l) != 0 {
					t.Errorf("%s: printed %q, want nothing", topo, l)
				}
				return
			}
			getPages(t, ch.url, 4, 3*time.Second)
			c := waitSelfCensus(t, w, "2 waiting self-calls and the warning", func(c Census) bool {
				return c.SelfCall != nil && c.SelfCall.Waiting >= 2 && c.SelfCall.WaitWarning
			})
			sc := c.SelfCall
			// 4 pages (2 in workers, 2 queued) and the 2 self-calls are in the app's hands,
			// unanswered: the pool (2) is full, so the pool warning is on too.
			if sc.RequestsInFlight < 6 || !sc.PoolWarning || !sc.WaitWarning || sc.PoolRuleOff {
				t.Errorf("self: %d requests in flight, pool warning %v, wait warning %v; want at least 6 and both warnings (pool rule off: %v)", sc.RequestsInFlight, sc.PoolWarning, sc.WaitWarning, sc.PoolRuleOff)
			}
			if sc.Callers != 1 || sc.Processes != 1 || sc.Established() < 2 || sc.FirstSeenUnixNano == 0 || sc.OldestWaitMS < testWarnAfter.Milliseconds() {
				t.Errorf("self: %+v, want 1 caller, 1 process, at least 2 established, first seen, oldest ≥ %v", *sc, testWarnAfter)
			}
			// /metrics serves the same census: the waiting self-calls and the warning.
			rec := httptest.NewRecorder()
			w.Handler(HandlerOptions{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+MetricsPath, nil))
			body := rec.Body.String()
			for _, want := range []string{
				fmt.Sprintf("sim_selfcall_warning{port=\"%d\"} 1\n", ch.port),
				fmt.Sprintf("sim_selfcall_processes{port=\"%d\"} 1\n", ch.port),
				fmt.Sprintf("sim_selfcall_callers{port=\"%d\"} 1\n", ch.port),
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %q:\n%s", want, body)
				}
			}
			if !regexp.MustCompile(fmt.Sprintf(`sim_selfcall_warning_samples_total\{port="%d",rule="wait"\} [1-9]`, ch.port)).MatchString(body) {
				t.Errorf("/metrics: want a count of censuses with the wait warning:\n%s", body)
			}
			if !regexp.MustCompile(fmt.Sprintf(`sim_selfcall_waiting\{port="%d"\} [2-9]`, ch.port)).MatchString(body) {
				t.Errorf("/metrics: want sim_selfcall_waiting of at least 2:\n%s", body)
			}
			l := lines()
			if len(l) != 1 || !strings.Contains(l[0], fmt.Sprintf("process %d (", c.Process.PID)) || !strings.Contains(l[0], fmt.Sprintf("own port %d", ch.port)) {
				t.Errorf("printed %q, want one line naming process %d and port %d", l, c.Process.PID, ch.port)
			}
		})
	}
}

// TestSelfCallPrefork watches a pre-fork server: a master holding the listener and 3 worker
// processes sharing it, each serving one connection at a time. 3 pages at once put each
// worker inside a self-call whose server side waits in the accept queue, as a gunicorn sync
// worker's would: the census must count 3 waiting self-calls, all in the accept queue, from 3
// distinct processes, among the 4 behind the port.
func TestSelfCallPrefork(t *testing.T) {
	const workers = 3
	ch := startChild(t, fmt.Sprintf("prefork:%d", workers))
	w, lines := newTestWatcher(t, ch.port)
	getPages(t, ch.url, workers, 3*time.Second)
	c := waitSelfCensus(t, w, "3 self-calls waiting in the accept queue", func(c Census) bool {
		return c.SelfCall != nil && c.SelfCall.WaitingAcceptQueue == workers && c.SelfCall.Callers == workers
	})
	if sc := c.SelfCall; sc.Waiting != workers || sc.Processes != workers+1 {
		t.Errorf("%+v, want %d waiting from %d processes behind the port", *sc, workers, workers+1)
	}
	// The line is printed at the first census that shows a self-call, which may come before
	// all 3 workers have made theirs: it names one worker process or several.
	line := regexp.MustCompile(fmt.Sprintf(`^self-call seen: process(es)? [0-9]+ \(.*\) calls its own port %d: `, ch.port))
	if l := lines(); len(l) != 1 || !line.MatchString(l[0]) {
		t.Errorf("printed %q, want one line naming the calling process(es) and port %d", l, ch.port)
	}
}

// TestSelfCallThroughProxy is PHP-FPM behind nginx: a pre-fork backend (2 workers) behind a
// proxy, whose page calls the proxy's port. 2 pages hang both workers; the agent watching the
// proxy's port sees no self-call of its own (the proxy makes none), but with the backend's
// port as Upstream it counts both workers' calls as self-calls, waiting, from 2 processes.
func TestSelfCallThroughProxy(t *testing.T) {
	const workers = 2
	file := filepath.Join(t.TempDir(), "backend")
	t.Setenv(childBackendEnv, file)
	front := startChild(t, "proxy")
	t.Setenv(childCallEnv, strings.TrimPrefix(front.url, "http://"))
	back := startChild(t, fmt.Sprintf("prefork:%d", workers))
	if err := os.WriteFile(file, []byte(strings.TrimPrefix(back.url, "http://")), 0o600); err != nil {
		t.Fatal(err)
	}
	plain, _ := newTestWatcher(t, front.port)
	var mu sync.Mutex
	var lines []string
	w, err := New(Options{Port: front.port, Upstream: back.port, WarnAfter: testWarnAfter, Notify: func(l string) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	getPages(t, front.url, workers, 3*time.Second)
	c := waitSelfCensus(t, w, "2 self-calls waiting through the proxy", func(c Census) bool {
		return c.SelfCall != nil && c.SelfCall.Waiting == workers && c.SelfCall.WaitWarning
	})
	if sc := c.SelfCall; sc.Callers != workers || sc.Processes != workers+2 {
		t.Errorf("%+v, want %d callers among %d processes (the proxy, the backend's master and workers)", *sc, workers, workers+2)
	}
	mu.Lock()
	if len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprintf("calls its own port %d", front.port)) || !strings.Contains(lines[0], fmt.Sprintf("to port %d", back.port)) {
		t.Errorf("printed %q, want one line naming port %d and the upstream %d", lines, front.port, back.port)
	}
	mu.Unlock()
	pc, err := plain.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sc := pc.SelfCall; sc == nil || sc.Total() != 0 || sc.Waiting != 0 {
		t.Errorf("without Upstream: %+v (%s), want a census with no self-call: the proxy calls no one on its own port", sc, pc.SelfCallError)
	}
}

// TestSelfCallNetns is the sidecar case: the app and an agent in a network namespace of their
// own, loopback only. The agent inside must see the hung workers' self-calls; the host's
// namespace has no socket of that port at all.
func TestSelfCallNetns(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		skipOrFail(t, "unshare not found: install Debian package util-linux")
	}
	if out, err := exec.Command(unshare, "-rn", "true").CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("unshare -rn refused (%v: %s): user and network namespaces are not allowed here", err, strings.TrimSpace(string(out))))
	}
	ch := startChild(t, "netns:2", unshare, "-rn")
	// The child printed what its agent saw inside the namespace.
	var c Census
	if err := json.Unmarshal([]byte(ch.url), &c); err != nil {
		t.Fatalf("census from inside the namespace: %v (%q)", err, ch.url)
	}
	if sc := c.SelfCall; sc == nil || sc.Waiting != 2 || sc.Callers != 2 || sc.WaitingAcceptQueue != 2 {
		t.Errorf("inside the namespace: %+v (error %q), want 2 waiting self-calls from 2 workers", sc, c.SelfCallError)
	}
	w, _ := newTestWatcher(t, c.Port)
	out, err := w.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Listen.Listening || out.Server["established"] != 0 {
		t.Errorf("the host's namespace sees port %d: %+v", c.Port, out)
	}
}

// skipOrFail skips, or fails when CI=true: a CI machine must run every test.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
