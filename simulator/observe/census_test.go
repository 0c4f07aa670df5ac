package observe

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/detect"
	"github.com/simdev/sim/simulator/proxy"
	"github.com/simdev/sim/simulator/sockets"
	"github.com/simdev/sim/simulator/watch"
)

// fakeAgent serves /census as a sim watch agent does, misbehaving on purpose: request i
// (1-based) answers CLOSE_WAIT 100+i, except that every fourth from the second never answers
// (a slow agent) and every fourth from the third repeats the agent time of the answer before
// it (a stale sample). Its clock runs skew ahead of the test's.
type fakeAgent struct {
	skew time.Duration

	mu       sync.Mutex
	n        int
	lastTime int64
}

// wantGap says whether request i is one the observer must record as a gap.
func wantGap(i int) bool { return i%4 == 2 || i%4 == 3 }

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.n++
	i := f.n
	f.mu.Unlock()
	if i%4 == 2 {
		<-r.Context().Done() // the client gives up: no answer in time
		return
	}
	f.mu.Lock()
	t := time.Now().Add(f.skew).UnixNano()
	if i%4 == 3 {
		t = f.lastTime
	}
	f.lastTime = t
	f.mu.Unlock()
	c := watch.Census{
		Version: watch.SchemaVersion, Port: 8080, TimeUnixNano: t, Method: "netlink",
		Server: map[string]int{"close_wait": 100 + i, "established": 1},
		Client: map[string]int{},
		Listen: watch.Listen{Listening: true, QueueLimit: 100},
	}
	_ = json.NewEncoder(w).Encode(c)
}

func profile(t *testing.T, yaml string) *loadprofiles.Profile {
	t.Helper()
	p, err := loadprofiles.Parse("p.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// An agent's census lands in the window it was asked for, on the observer's clock, whatever
// the agent's clock says; a census that does not come back in time, or is not newer than the
// one before by the agent's clock, is a gap: sockets_missing, empty socket cells in
// timeline.csv, no part in peak CLOSE_WAIT. The summary names the agent and counts the gaps,
// and reports the agent's clock an hour ahead.
func TestAgentCensusGaps(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer target.Close()
	fake := &fakeAgent{skew: time.Hour}
	agentSrv := httptest.NewServer(fake)
	defer agentSrv.Close()

	// 400 ms windows: the agent gets 200 ms, far more than a loopback answer needs.
	p := profile(t, `
stages: [{duration: 3s, target: 10, mode: hold}]
client: {timeout: 1s}
recovery: {duration: 400ms, interval: 200ms, timeout: 300ms}
sample_interval: 400ms
`)
	agent, err := NewAgent(agentSrv.URL, "", p.SampleInterval)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	dir := filepath.Join(t.TempDir(), "rec")
	rec, err := results.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := Run(context.Background(), Options{URL: target.URL, Name: "test", Profile: p, Census: agent, Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	var sum results.Summary
	obs.Summarize(&sum, detect.Thresholds{}, p)
	sum.Complete = true
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rec.WriteSummary(sum); err != nil {
		t.Fatal(err)
	}

	if len(obs.Timeline) < 6 {
		t.Fatalf("%d windows in a 3.4 s run of 400 ms windows", len(obs.Timeline))
	}
	gaps, peak := 0, 0
	for k, s := range obs.Timeline {
		i := k + 1 // window k asked for census request k+1
		switch {
		case wantGap(i) && !s.SocketsMissing:
			t.Errorf("window %d (t %.2f): request %d should be a gap, got CLOSE_WAIT %d", k, s.T, i, s.CloseWait)
		case !wantGap(i) && !s.SocketsMissing && s.CloseWait != 100+i:
			t.Errorf("window %d: CLOSE_WAIT %d, want request %d's %d: a census placed in another window", k, s.CloseWait, i, 100+i)
		}
		if s.SocketsMissing {
			gaps++
			if s.CloseWait != 0 {
				t.Errorf("window %d is a gap but keeps CLOSE_WAIT %d", k, s.CloseWait)
			}
		} else {
			peak = max(peak, s.CloseWait)
		}
	}
	if sum.PeakCloseWait != peak {
		t.Errorf("peak CLOSE_WAIT %d, want %d, the most of the windows with a census", sum.PeakCloseWait, peak)
	}
	c := sum.Census
	if c == nil || c.Source != results.CensusAgent || c.URL != agentSrv.URL || c.Port != 8080 || c.Method != "netlink" {
		t.Fatalf("census %+v, want the agent at %s, netlink, port 8080", c, agentSrv.URL)
	}
	if c.Gaps != gaps || c.Windows != len(obs.Timeline) || c.LastGap == "" {
		t.Errorf("census counts %d gaps of %d windows (last %q), the timeline %d of %d", c.Gaps, c.Windows, c.LastGap, gaps, len(obs.Timeline))
	}
	if c.ClockOffsetMS == nil || *c.ClockOffsetMS < 3_599_000 || *c.ClockOffsetMS > 3_601_000 {
		t.Errorf("clock offset %v ms, want the agent's hour (3,600,000 ms)", c.ClockOffsetMS)
	}

	// The record: empty socket cells and sockets_missing=true in a gap's row, and reading it
	// back gives the same gaps.
	f, err := os.Open(filepath.Join(dir, results.TimelineFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cw, miss := slices.Index(rows[0], "close_wait"), slices.Index(rows[0], "sockets_missing")
	if cw < 0 || miss < 0 {
		t.Fatalf("timeline.csv header %v lacks close_wait or sockets_missing", rows[0])
	}
	for k, row := range rows[1:] {
		gap := obs.Timeline[k].SocketsMissing
		if gap != (row[cw] == "") || row[miss] != map[bool]string{true: "true", false: "false"}[gap] {
			t.Errorf("timeline.csv row %d: close_wait %q, sockets_missing %q; gap %v", k+1, row[cw], row[miss], gap)
		}
	}
	back, err := results.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range back.Timeline {
		if s.SocketsMissing != obs.Timeline[k].SocketsMissing {
			t.Errorf("read back: window %d sockets_missing %v, written %v", k, s.SocketsMissing, obs.Timeline[k].SocketsMissing)
		}
	}
	if back.Summary.Census == nil || back.Summary.Census.Gaps != gaps {
		t.Errorf("summary.json census %+v, want %d gaps", back.Summary.Census, gaps)
	}
}

// Without a census source every window is a gap, never zero sockets.
func TestNoCensusIsAGap(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	p := profile(t, `
stages: [{duration: 1s, target: 5, mode: hold}]
client: {timeout: 1s}
recovery: {duration: 200ms, interval: 200ms, timeout: 300ms}
sample_interval: 250ms
`)
	obs, err := Run(context.Background(), Options{URL: target.URL, Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Timeline) == 0 || obs.Census != nil {
		t.Fatalf("%d windows, census %+v", len(obs.Timeline), obs.Census)
	}
	for k, s := range obs.Timeline {
		if !s.SocketsMissing {
			t.Errorf("window %d has a census without a source: %+v", k, s)
		}
	}
}

// TestCensusOfFillsEveryColumn: a census with every state counted fills every census column of
// the timeline, so that a column added to results.SocketCensus and not to CensusOf fails here
// instead of reading zero.
func TestCensusOfFillsEveryColumn(t *testing.T) {
	var c sockets.Counts
	for i := range c.Server {
		c.Server[i], c.Client[i] = 10+i, 100+i
	}
	c.AcceptQueue, c.AcceptQueueMax = 7, 8
	got := reflect.ValueOf(CensusOf(c))
	for i := range got.NumField() {
		if got.Field(i).IsZero() {
			t.Errorf("CensusOf leaves %s zero", got.Type().Field(i).Name)
		}
	}
}

// TestStatsOfFillsEveryColumn: the same for the app's /stats figures.
func TestStatsOfFillsEveryColumn(t *testing.T) {
	st := app.Stats{WorkersBusy: 1, Queued: 2, ConnectionsOpen: 3, SelfcallLeased: 4, SelfcallWaiting: 5, AcceptErrors: 6, FDsOpen: 7, WorkersKilled: 8,
		Stats: proxy.Stats{Timeouts: 9, ClientClosed: 10}}
	got := reflect.ValueOf(statsOf(st))
	for i := range got.NumField() {
		if got.Field(i).IsZero() {
			t.Errorf("statsOf leaves %s zero", got.Type().Field(i).Name)
		}
	}
}

// TestSelfCallsOfFillsEveryColumn: a self-call census with every figure set fills every
// self-call column of the timeline, so that a column added to results.SelfCallCensus and not
// to SelfCallsOf fails here.
func TestSelfCallsOfFillsEveryColumn(t *testing.T) {
	sc := &watch.SelfCalls{Connections: map[string]int{"established": 2}, Waiting: 2, OldestWaitMS: 300, Callers: 1, Warning: true, RequestsInFlight: 6, RequestsInFlightPeak: 7}
	got := reflect.ValueOf(SelfCallsOf(sc))
	for i := range got.NumField() {
		if got.Field(i).IsZero() {
			t.Errorf("SelfCallsOf leaves %s zero", got.Type().Field(i).Name)
		}
	}
}
