package model

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"go.uber.org/goleak"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/hazard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serverConfig is the config the tests run: 16 workers × 200 ms, the case.
func serverConfig(topology string, change func(*app.Config)) app.Config {
	c := app.Defaults()
	c.Topology = topology
	c.MaxThreads = 16
	c.WorkTime = 200 * time.Millisecond
	if change != nil {
		change(&c)
	}
	return c
}

// steadyFactory is Steady's factory for c, or, for a topology that cannot hang (which Steady
// refuses), the same systems without the check.
func steadyFactory(t testing.TB, c app.Config, client loadprofiles.Client) hazard.Factory {
	t.Helper()
	opt := SteadyOptions{Client: client}
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.CanHang() {
		return factory(c, opt)
	}
	f, err := Steady(c, opt)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// census checks that every page the load client sent is accounted for, on both sides: the
// client has an answer (2xx or 502), gave up, or still waits; the server answered or dropped it,
// or still holds it (on a worker, in the queue, in the accept queue).
func census(t *testing.T, e *engine) {
	t.Helper()
	free := map[int32]bool{}
	for _, id := range e.reqs.free {
		free[id] = true
	}
	held, waiting := int64(0), int64(0)
	for id := range e.reqs.all {
		r := &e.reqs.all[id]
		if free[int32(id)] || r.kind != kindPage {
			continue
		}
		if r.state != rsDone {
			held++
		}
		if r.waiting {
			waiting++
		}
	}
	answered := e.client.statuses.total()
	if got := answered + e.client.timedOut + waiting; got != e.client.arrivals {
		t.Errorf("client side: %d answered + %d timed out + %d waiting = %d, want the %d sent", answered, e.client.timedOut, waiting, got, e.client.arrivals)
	}
	if int64(e.client.inflight) != waiting {
		t.Errorf("in flight %d, but %d pages have a waiting client", e.client.inflight, waiting)
	}
	if got := e.client.pagesDone + held; got != e.client.arrivals {
		t.Errorf("server side: %d done + %d held = %d, want the %d sent", e.client.pagesDone, held, got, e.client.arrivals)
	}
	if e.app.workers.held < 0 || e.app.workers.held > e.p.workers || e.page.pages > e.app.workers.held {
		t.Errorf("workers: %d busy of %d, %d held by pages", e.app.workers.held, e.p.workers, e.page.pages)
	}
}

func TestConservation(t *testing.T) {
	client := loadprofiles.Client{Timeout: time.Second, Keepalive: true, Connections: 10000}
	cases := []struct {
		name   string
		cfg    app.Config
		rate   float64
		client loadprofiles.Client
	}{
		{"self hangs", serverConfig(app.Self, nil), 60, client},
		{"split saturated", serverConfig(app.Split, nil), 100, client},
		{"self with timeouts", serverConfig(app.Self, func(c *app.Config) {
			c.SocketTimeout, c.ConnectionRequestTimeout = 300*time.Millisecond, 100*time.Millisecond
		}), 90, client},
		{"self honors client close", serverConfig(app.Self, func(c *app.Config) { c.HonorClientClose = true }), 90, client},
		{"self at the fd limit", serverConfig(app.Self, func(c *app.Config) { c.NoFile = 128; c.AcceptCount = 10 }), 60, client},
		{"bio split, no keep-alive", serverConfig(app.Split, func(c *app.Config) { c.Connector = "bio" }), 70,
			loadprofiles.Client{Timeout: time.Second, Connections: 10}},
		{"exponential work, worker cap", serverConfig(app.Self, func(c *app.Config) {
			c.WorkTimeDist = app.WorkExponential
			c.SocketTimeout = time.Second
		}), 50, loadprofiles.Client{Timeout: 2 * time.Second, Keepalive: true, Connections: 100, MaxWorkers: 40}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := steadyFactory(t, tc.cfg, tc.client)(tc.rate, 3).(*steady)
			for s.Now() < 120 && s.Step() {
			}
			if s.e.client.arrivals < 1000 {
				t.Fatalf("only %d arrivals in %.0f s at %g rps", s.e.client.arrivals, s.Now(), tc.rate)
			}
			census(t, s.e)
		})
	}
}

// TestAbsorbingState: in the self topology without timeouts the system is hung for good exactly
// when every worker holds a page, and stays so; in split it never is, however overloaded.
func TestAbsorbingState(t *testing.T) {
	t.Run("self", func(t *testing.T) {
		c := serverConfig(app.Self, nil)
		s := steadyFactory(t, c, loadprofiles.Client{Timeout: 2 * time.Second, Keepalive: true})(40, 1)
		var at float64 = -1
		for s.Now() < 3600 && s.Step() {
			if s.Absorbed() != (s.Level() == c.MaxThreads) {
				t.Fatalf("at %.3f s: absorbed %v with %d of %d workers held by pages", s.Now(), s.Absorbed(), s.Level(), c.MaxThreads)
			}
			if s.Absorbed() {
				at = s.Now()
				break
			}
		}
		if at < 0 {
			t.Fatalf("no hang within an hour at 40 rps")
		}
		e := s.(*steady).e
		okBefore := e.client.statuses.get(200)
		for s.Now() < at+120 && s.Step() {
			if !s.Absorbed() || s.Level() != c.MaxThreads {
				t.Fatalf("at %.3f s, %.3f s after the hang: absorbed %v, level %d", s.Now(), s.Now()-at, s.Absorbed(), s.Level())
			}
		}
		// A page already past its self-call may still answer; nothing after that.
		if got := e.client.statuses.get(200) - okBefore; got > int64(c.MaxThreads) {
			t.Errorf("%d pages answered after the hang", got)
		}
		if e.app.workers.waiting < 1000 {
			t.Errorf("queue %d two minutes after the hang at 40 rps: arrivals should pile up", e.app.workers.waiting)
		}
		census(t, e)
	})
	t.Run("split", func(t *testing.T) {
		c := serverConfig(app.Split, nil)
		// 120 rps is 1.5 times split's capacity (16 / 0.2015 s): it saturates.
		s := steadyFactory(t, c, loadprofiles.Client{Timeout: 2 * time.Second, Keepalive: true})(120, 1)
		full := 0.0
		for s.Now() < 600 && s.Step() {
			if s.Absorbed() {
				t.Fatalf("split absorbed at %.3f s", s.Now())
			}
			if s.Level() == c.MaxThreads {
				full = s.Now()
			}
		}
		e := s.(*steady).e
		if full < 590 {
			t.Errorf("split at 1.5 times its capacity: last moment with every worker on a page %.1f s, want the end", full)
		}
		// Saturated, it still serves its capacity: 600 s × ~79 rps.
		if ok := e.client.pagesDone; ok < 40000 {
			t.Errorf("split served %d pages in 600 s", ok)
		}
		census(t, e)
	})
}

func TestSameSeedSameRun(t *testing.T) {
	f := steadyFactory(t, serverConfig(app.Self, func(c *app.Config) { c.WorkTimeDist = app.WorkLognormal; c.WorkTimeP99 = time.Second }),
		loadprofiles.Client{Timeout: time.Second, Keepalive: true})
	a, b, other := f(30, 42), f(30, 42), f(30, 43)
	diverged := false
	for i := 0; i < 200000; i++ {
		a.Step()
		b.Step()
		other.Step()
		if a.Now() != b.Now() || a.Level() != b.Level() || a.Absorbed() != b.Absorbed() {
			t.Fatalf("step %d: same seed, different states: %.9f/%d vs %.9f/%d", i, a.Now(), a.Level(), b.Now(), b.Level())
		}
		diverged = diverged || a.Now() != other.Now()
	}
	if !diverged {
		t.Error("seeds 42 and 43 gave the same run")
	}

	prof, err := loadprofiles.Load("quick")
	if err != nil {
		t.Fatal(err)
	}
	prof.Arrivals = loadprofiles.ArrivalsPoisson
	var recs []*results.Record
	for i := range 2 {
		dir := filepath.Join(t.TempDir(), "run")
		if _, err := Run(context.Background(), Options{Topology: app.Self, Profile: prof, ProfileName: "quick", RecordDir: dir}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		rec, err := results.Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if !reflect.DeepEqual(recs[0].Timeline, recs[1].Timeline) || !reflect.DeepEqual(recs[0].Probes, recs[1].Probes) {
		t.Error("two runs of one profile and seed recorded different timelines")
	}
	s0, s1 := recs[0].Summary, recs[1].Summary
	if s0.Verdict != s1.Verdict || s0.OK != s1.OK || s0.PeakCloseWait != s1.PeakCloseWait || s0.P99MS != s1.P99MS {
		t.Errorf("two runs of one profile and seed: %+v vs %+v", s0, s1)
	}
}

func TestCloneIndependence(t *testing.T) {
	f := steadyFactory(t, serverConfig(app.Self, func(c *app.Config) { c.WorkTimeDist = app.WorkExponential }),
		loadprofiles.Client{Timeout: time.Second, Keepalive: true})
	orig, twin := f(35, 5), f(35, 5)
	for i := 0; i < 5000; i++ {
		orig.Step()
		twin.Step()
	}
	c1, c2, c3 := orig.Clone(9), orig.Clone(9), orig.Clone(10)
	if c1.Now() != orig.Now() || c1.Level() != orig.Level() {
		t.Fatalf("clone at %.6f/%d of a system at %.6f/%d", c1.Now(), c1.Level(), orig.Now(), orig.Level())
	}
	diverged := false
	for i := 0; i < 100000; i++ {
		c1.Step()
		c2.Step()
		c3.Step()
		if c1.Now() != c2.Now() || c1.Level() != c2.Level() {
			t.Fatalf("step %d: clones with one seed differ: %.9f/%d vs %.9f/%d", i, c1.Now(), c1.Level(), c2.Now(), c2.Level())
		}
		diverged = diverged || c1.Now() != c3.Now()
	}
	if !diverged {
		t.Error("clones seeded 9 and 10 evolved identically")
	}
	// The original is untouched by its clones: it goes on exactly as its uncloned twin.
	for i := 0; i < 100000; i++ {
		orig.Step()
		twin.Step()
		if orig.Now() != twin.Now() || orig.Level() != twin.Level() {
			t.Fatalf("step %d after cloning: the original left its twin: %.9f/%d vs %.9f/%d", i, orig.Now(), orig.Level(), twin.Now(), twin.Level())
		}
	}
}

func TestSteadyRejectsBadConfig(t *testing.T) {
	c := serverConfig(app.Self, func(c *app.Config) { c.MaxThreads = 0 })
	if _, err := Steady(c, SteadyOptions{}); err == nil {
		t.Fatal("max_threads 0 accepted")
	}
}

func TestRunRecordIsMarkedModel(t *testing.T) {
	prof, err := loadprofiles.Load("quick")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	out, err := Run(context.Background(), Options{Topology: app.Split, Profile: prof, ProfileName: "quick", RecordDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := results.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Summary.Engine != results.EngineModel || out.Summary.Engine != results.EngineModel {
		t.Errorf("engine %q in the record, %q returned; want %q", rec.Summary.Engine, out.Summary.Engine, results.EngineModel)
	}
	if !rec.Summary.Complete || len(rec.Timeline) < 100 || len(rec.Probes) != 17 {
		t.Errorf("complete %v, %d windows, %d probes", rec.Summary.Complete, len(rec.Timeline), len(rec.Probes))
	}
	n := 0
	if err := results.ReadResults(dir, func(*vegeta.Result) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != rec.Summary.Requests {
		t.Errorf("results.bin holds %d results, the summary %d requests", n, rec.Summary.Requests)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, results.ConfigFile))
	if err != nil || !strings.Contains(string(cfg), `"engine": "model"`) {
		t.Errorf("config.json does not say engine model (%v)", err)
	}
}

func TestRunInterrupted(t *testing.T) {
	prof, err := loadprofiles.Load("quick")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := filepath.Join(t.TempDir(), "run")
	out, err := Run(ctx, Options{Topology: app.Self, Profile: prof, ProfileName: "quick", RecordDir: dir})
	if err == nil || out == nil || out.Summary.Complete || out.Summary.Verdict != results.VerdictIncomplete {
		t.Fatalf("cancelled run: err %v, outcome %+v", err, out)
	}
}
