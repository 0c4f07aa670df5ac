package planner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// tailHazard is a closed-form stand-in for the model's hazard: arrivals at rate λ, each page
// holding a worker for hold seconds, hang whenever a Poisson(λ·hold) count of pages in flight
// reaches n, at λ such moments a second: 3600 · λ · P(X ≥ n) per hour. It rises with the rate,
// falls with the pool size, and spans decades, like the real one.
func tailHazard(n int, rate, hold float64) float64 {
	m := rate * hold
	if m <= 0 {
		return 0
	}
	// Sum the tail from k = n up, each term from the last, starting at the log of the first.
	lg, _ := math.Lgamma(float64(n) + 1)
	term := math.Exp(-m + float64(n)*math.Log(m) - lg)
	sum := 0.0
	for k := n; k < n+2000 && term > sum*1e-17; k++ {
		sum += term
		term *= m / float64(k+1)
	}
	return 3600 * rate * math.Min(sum, 1)
}

// upper is the fake interval's width: [h / upper, h × upper].
const upper = 1.25

// fakeEstimator estimates tailHazard exactly, with an interval of a factor upper either side, and
// judges rates by its upper end like the real one. It is safe for concurrent use, as the planner
// may plan rows at once.
type fakeEstimator struct {
	hold  float64
	err   error
	mu    sync.Mutex
	calls int
}

func (f *fakeEstimator) Hazard(_ context.Context, cfg app.Config, rate float64) (Estimate, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.err != nil {
		return Estimate{}, f.err
	}
	h := tailHazard(cfg.MaxThreads, rate, f.hold)
	return Estimate{PerHour: h, CI: results.Interval{Lo: h / upper, Hi: upper * h, Level: 0.95}, Method: "closed form"}, nil
}

func (f *fakeEstimator) RateAt(ctx context.Context, cfg app.Config, perHour float64) (float64, Estimate, error) {
	lo, hi := 0.0, 2*float64(cfg.MaxThreads)/f.hold
	for range 60 {
		mid := (lo + hi) / 2
		if upper*tailHazard(cfg.MaxThreads, mid, f.hold) <= perHour {
			lo = mid
		} else {
			hi = mid
		}
	}
	est, err := f.Hazard(ctx, cfg, lo)
	return lo, est, err
}

// modelRun is a server that deadlocks evenly paced at share × Little's law and misses the SLO
// above sloShare × it: enough to check the searches, not the server.
func modelRun(share, sloShare float64, calls *[]string) RunFunc {
	var mu sync.Mutex
	return func(_ context.Context, topology string, p *loadprofiles.Profile, name, dir string) (results.Summary, error) {
		mu.Lock()
		*calls = append(*calls, name)
		mu.Unlock()
		threads, _ := p.Server.Int("max_threads")
		work, _ := p.Server.Duration("work_time")
		pred := Predicted(threads, work, 0)
		st := p.Stages[0]
		s := results.Summary{Requests: 1000, OK: 1000, P99MS: 210}
		if st.Mode == loadprofiles.ModeRamp {
			if st.Target >= share*pred {
				onset := share * pred
				s.Collapse, s.Hang, s.OnsetRateRPS = true, true, &onset
			}
			return s, nil
		}
		if st.Target > sloShare*pred {
			s.P99MS, s.OK = 1000, 500
		}
		return s, nil
	}
}

const hold = 0.2 // work_time of the tests, s; their self-call takes no time

var budget = results.BudgetPerHour(DefaultHorizon.Seconds(), DefaultRisk)

func TestPlanSelfPoissonRiskOverHorizon(t *testing.T) {
	est := &fakeEstimator{hold: hold}
	p, err := Plan(context.Background(), Options{
		Topology: app.Self, MaxThreads: []int{16, 8}, Arrivals: []string{Poisson}, DeadlockOnly: true, Estimator: est,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.HorizonS != 86400 || p.Risk != 0.01 || math.Abs(p.BudgetPerHour-4.1876e-4) > 1e-7 {
		t.Errorf("budget: horizon %v s, risk %v, %v per hour; want 86400, 0.01, -ln(0.99)/24", p.HorizonS, p.Risk, p.BudgetPerHour)
	}
	if len(p.Rows) != 2 || len(p.Curves) != 2 {
		t.Fatalf("%d rows, %d curves; want 2 and 2", len(p.Rows), len(p.Curves))
	}
	for _, r := range p.Rows {
		if r.Basis != results.BasisRisk || r.HazardPerHour == nil || r.HazardCI == nil || r.RiskRPS == nil {
			t.Fatalf("row %+v: want a risk-based rate with its hazard", r)
		}
		// The highest rate within the budget, judged by the interval's upper end.
		if h := upper * tailHazard(r.MaxThreads, r.SafeRPS, hold); h > budget || upper*tailHazard(r.MaxThreads, r.SafeRPS*1.001, hold) <= budget {
			t.Errorf("%d workers: safe %.3f rps has hazard %.3g; want the highest rate with at most %.3g", r.MaxThreads, r.SafeRPS, h, budget)
		}
		if r.SafeRPS >= r.PredictedRPS/2 {
			t.Errorf("%d workers: safe %.1f rps, Little's law %.1f: the risk should bind far below the bound", r.MaxThreads, r.SafeRPS, r.PredictedRPS)
		}
		if r.HorizonS != p.HorizonS || r.Risk != p.Risk || r.SustainedRPS != nil || r.DeadlockRPS != nil {
			t.Errorf("row %+v: want the plan's budget and nothing measured", r)
		}
	}
	if p.Rows[0].MaxThreads != 16 || p.Rows[0].SafeRPS <= p.Rows[1].SafeRPS {
		t.Errorf("rows %d, %d: want the order asked for, and more workers to allow more rate", p.Rows[0].MaxThreads, p.Rows[1].MaxThreads)
	}
	for _, c := range p.Curves {
		if len(c.Points) != curvePoints+1 {
			t.Errorf("%d workers: %d curve points", c.MaxThreads, len(c.Points))
		}
		for i := 1; i < len(c.Points); i++ {
			a, b := c.Points[i-1], c.Points[i]
			if b.RateRPS <= a.RateRPS || b.HazardPerHour <= a.HazardPerHour {
				t.Errorf("%d workers: curve not rising at %v -> %v", c.MaxThreads, a, b)
			}
		}
		if last := c.Points[len(c.Points)-1]; last.HazardPerHour < 60 {
			t.Errorf("%d workers: curve ends at %.3g per hour; want it to reach hangs within a minute", c.MaxThreads, last.HazardPerHour)
		}
	}
	for _, want := range []string{
		"cannot make a self-call topology without timeouts safe, only make its hang rare",
		"one hang in " + strings.TrimPrefix(results.HangEvery(budget), "about "),
		"split", "timeouts", "bulkhead", "async", "in process",
	} {
		if !strings.Contains(p.Recommendation, want) {
			t.Errorf("recommendation lacks %q:\n%s", want, p.Recommendation)
		}
	}
	for i, para := range p.Explanation {
		if len(para) > 600 {
			t.Errorf("explanation paragraph %d is %d characters: want short paragraphs", i, len(para))
		}
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings %q for a Poisson plan", p.Warnings)
	}
}

func TestPlanUniformIsABestCaseBesidePoisson(t *testing.T) {
	var calls []string
	p, err := Plan(context.Background(), Options{
		Topology: app.Self, MaxThreads: []int{16}, DeadlockOnly: true, // default arrivals: both
		Run: modelRun(0.95, 0.8, &calls), Estimator: &fakeEstimator{hold: hold},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rows) != 2 || len(calls) != 1 {
		t.Fatalf("%d rows, runs %v: want a uniform and a Poisson row, one evenly paced ramp", len(p.Rows), calls)
	}
	u, q := p.Rows[0], p.Rows[1]
	if u.Arrivals != Uniform || u.Basis != results.BasisThreshold || u.DeadlockRPS == nil || math.Abs(*u.DeadlockRPS-76) > 1e-9 || u.SafeRPS != *u.DeadlockRPS {
		t.Errorf("uniform row %+v: want the evenly paced threshold, 0.95 × 80 rps", u)
	}
	if u.HazardPerHour != nil || u.SustainedRPS != nil {
		t.Errorf("uniform row %+v: want no hazard and no SLO rate", u)
	}
	if math.Abs(u.Ratio-0.95) > 1e-9 {
		t.Errorf("uniform ratio %.3f, want 0.95", u.Ratio)
	}
	if q.Arrivals != Poisson || q.Basis != results.BasisRisk || q.SafeRPS >= u.SafeRPS/2 {
		t.Errorf("poisson row %+v: want a risk-based rate far below the evenly paced %.0f", q, u.SafeRPS)
	}
	if !strings.Contains(p.Recommendation, "Plan from the Poisson rows") || !strings.Contains(p.Recommendation, "keep the average rate at or below "+rps(q.SafeRPS)+" rps") {
		t.Errorf("recommendation does not plan from the Poisson row (%.2f rps):\n%s", q.SafeRPS, p.Recommendation)
	}
	if strings.Contains(p.Recommendation, rps(u.SafeRPS)+" rps") {
		t.Errorf("recommendation names the evenly paced rate as safe:\n%s", p.Recommendation)
	}
}

func TestPlanUniformOnlyWarns(t *testing.T) {
	var calls []string
	p, err := Plan(context.Background(), Options{
		Topology: app.Self, MaxThreads: []int{8}, Arrivals: []string{Uniform}, DeadlockOnly: true,
		Run: modelRun(0.95, 0.8, &calls), Estimator: &fakeEstimator{hold: hold},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "best case") || !strings.Contains(p.Warnings[0], "--arrivals poisson") {
		t.Errorf("warnings %q: want one that says the rate is a best case and how to plan from Poisson", p.Warnings)
	}
	if !strings.Contains(p.Recommendation, "not safe") || !strings.Contains(p.Recommendation, "only make its hang rare") {
		t.Errorf("recommendation:\n%s", p.Recommendation)
	}
	if len(p.Curves) != 0 {
		t.Errorf("curves %v for a uniform-only plan", p.Curves)
	}
}

func TestPlanSLOBindsBeforeRisk(t *testing.T) {
	// The SLO fails above 5 % of Little's law (4 rps for 16 workers), below the risk's rate.
	var calls []string
	est := &fakeEstimator{hold: hold}
	p, err := Plan(context.Background(), Options{
		Topology: app.Self, MaxThreads: []int{16}, Arrivals: []string{Poisson}, Run: modelRun(0.95, 0.05, &calls), Estimator: est,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Rows[0]
	if r.SustainedRPS == nil || r.RiskRPS == nil || *r.RiskRPS <= *r.SustainedRPS {
		t.Fatalf("row %+v: want an SLO rate below the risk's", r)
	}
	// The lower bound, half the risk's rate (about 6 rps), already misses: nothing sustained.
	if *r.SustainedRPS != 0 || r.Basis != results.BasisSLO || r.SafeRPS != 0 {
		t.Errorf("row: sustained %v, basis %s, safe %v; want 0, slo, 0", *r.SustainedRPS, r.Basis, r.SafeRPS)
	}
	if len(calls) != 1 {
		t.Errorf("runs %v: want only the lower bound once it misses", calls)
	}

	calls = nil
	p, err = Plan(context.Background(), Options{
		Topology: app.Self, MaxThreads: []int{16}, Arrivals: []string{Poisson}, Run: modelRun(0.95, 0.3, &calls), Estimator: est,
	})
	if err != nil {
		t.Fatal(err)
	}
	r = p.Rows[0]
	if r.Basis == results.BasisSLO {
		if r.SafeRPS != *r.SustainedRPS || math.Abs(*r.HazardPerHour-tailHazard(16, r.SafeRPS, hold)) > 1e-12 {
			t.Errorf("row %+v: the hazard must be the one at the SLO's rate", r)
		}
	} else if r.SafeRPS != *r.RiskRPS || *r.SustainedRPS < r.SafeRPS {
		t.Errorf("row %+v: the risk binds, so the SLO rate must be above it", r)
	}
}

func TestPlanSplitByCapacity(t *testing.T) {
	var calls []string
	p, err := Plan(context.Background(), Options{Topology: app.Split, MaxThreads: []int{16}, Arrivals: []string{Uniform}, Run: modelRun(10, 1.0, &calls)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if strings.HasSuffix(c, "ramp") {
			t.Fatalf("split ran a deadlock ramp: %v", calls)
		}
	}
	r := p.Rows[0]
	if r.Basis != results.BasisCapacity || r.SustainedRPS == nil || r.SafeRPS != *r.SustainedRPS || r.HazardPerHour != nil || r.DeadlockRPS != nil {
		t.Fatalf("row %+v: want the SLO capacity and no hazard", r)
	}
	// A server that meets the SLO above Little's law in short holds: capped at the bound.
	calls = nil
	p, err = Plan(context.Background(), Options{Topology: app.Split, MaxThreads: []int{16}, Arrivals: []string{Uniform}, Run: modelRun(10, 1.3, &calls)})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Rows[0]; *got.SustainedRPS <= got.PredictedRPS || got.SafeRPS != got.PredictedRPS {
		t.Errorf("row %+v: want the SLO rate above Little's law and the safe rate capped at it", got)
	}
	r = p.Rows[0]
	// Bisection between 0.25 and 1.5 of Little's law, 5 steps: the SLO rate within 1.25/32 above 1.3 × it.
	if r.Ratio > 1.3 || r.Ratio < 1.3-1.25/32-1e-9 {
		t.Errorf("measured/predicted %.3f, want just under 1", r.Ratio)
	}
	if p.HorizonS != 0 || len(p.Curves) != 0 || !strings.Contains(p.Recommendation, "does not hang") {
		t.Errorf("split plan: horizon %v, %d curves, recommendation %q", p.HorizonS, len(p.Curves), p.Recommendation)
	}
}

func TestPlanPeakRateFewestWorkers(t *testing.T) {
	const peak = 40.0
	p, err := Plan(context.Background(), Options{
		Topology: app.Self, MaxThreads: []int{16}, Arrivals: []string{Poisson}, DeadlockOnly: true, PeakRate: peak, Estimator: &fakeEstimator{hold: hold},
	})
	if err != nil {
		t.Fatal(err)
	}
	pk := p.Peak
	if pk == nil || pk.Basis != results.BasisRisk || pk.Workers == 0 || pk.HazardPerHour == nil {
		t.Fatalf("peak %+v", pk)
	}
	if h := upper * tailHazard(pk.Workers, peak, hold); h > budget {
		t.Errorf("%d workers at %v rps: hazard up to %.3g above the budget %.3g", pk.Workers, peak, h, budget)
	}
	if h := upper * tailHazard(pk.Workers-1, peak, hold); h <= budget {
		t.Errorf("%d workers would do (hazard %.3g): %d is not the fewest", pk.Workers-1, h, pk.Workers)
	}
	if !strings.Contains(p.Recommendation, fmt.Sprintf("at least %d workers", pk.Workers)) {
		t.Errorf("recommendation does not give the workers:\n%s", p.Recommendation)
	}

	// Beyond every pool the search allows: none.
	p, err = Plan(context.Background(), Options{
		Topology: app.Self, MaxThreads: []int{16}, Arrivals: []string{Poisson}, DeadlockOnly: true, PeakRate: 1e5, Estimator: &fakeEstimator{hold: hold},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Peak.Workers != 0 || !strings.Contains(p.Recommendation, "no pool of up to 1024 workers") {
		t.Errorf("peak %+v, recommendation %q", p.Peak, p.Recommendation)
	}
}

func TestFewest(t *testing.T) {
	for _, tt := range []struct {
		lo, hi, answer, want int
	}{
		{1, 1024, 1, 1}, {1, 1024, 2, 2}, {1, 1024, 37, 37}, {5, 1024, 1024, 1024}, {5, 1024, 2000, 0}, {10, 5, 7, 0}, {3, 3, 3, 3},
	} {
		var asked []int
		got, err := fewest(tt.lo, tt.hi, func(n int) (bool, error) {
			asked = append(asked, n)
			return n >= tt.answer, nil
		})
		if err != nil || got != tt.want {
			t.Errorf("fewest(%d, %d) with answer %d = %d, %v; want %d", tt.lo, tt.hi, tt.answer, got, err, tt.want)
		}
		if len(asked) > 2*11+2 {
			t.Errorf("fewest(%d, %d): %d probes %v; want O(log n)", tt.lo, tt.hi, len(asked), asked)
		}
	}
	boom := errors.New("boom")
	if _, err := fewest(1, 10, func(int) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
}

func TestPlanVerifyPredictedVsMeasured(t *testing.T) {
	var got *loadprofiles.Profile
	onset := 42.0
	sockets := func(_ context.Context, topology string, p *loadprofiles.Profile, name, dir string) (results.Summary, error) {
		got = p
		return results.Summary{Hang: true, Collapse: true, HangOnsetS: &onset}, nil
	}
	p, err := Plan(context.Background(), Options{
		Topology: app.Self, MaxThreads: []int{32, 16}, Arrivals: []string{Poisson}, DeadlockOnly: true, Estimator: &fakeEstimator{hold: hold}, Verify: sockets,
	})
	if err != nil {
		t.Fatal(err)
	}
	v := p.Verify
	if v == nil || v.MaxThreads != 16 || !v.Hang || v.MeasuredS == nil || *v.MeasuredS != 42 {
		t.Fatalf("verify %+v: want the smallest pool, hung at 42 s", v)
	}
	if math.Abs(v.PredictedPerHour*upper-60) > 0.1 || math.Abs(v.PredictedMeanS-60*upper) > 0.1 || v.PredictedP < 0.98 {
		t.Errorf("verify predicted %.3g per hour, mean %.1f s, P %.3f; want a hang a minute", v.PredictedPerHour, v.PredictedMeanS, v.PredictedP)
	}
	if got == nil || got.Arrivals != loadprofiles.ArrivalsPoisson || len(got.Stages) != 1 || got.Stages[0].Mode != loadprofiles.ModeHold ||
		got.Stages[0].Target != v.RateRPS || got.Stages[0].Duration != VerifyHold || !slices.Contains(got.Server.Flags(), "--max-threads=16") {
		t.Errorf("verify profile %+v: want one Poisson hold at %.2f rps for %s on 16 workers", got, v.RateRPS, VerifyHold)
	}
}

func TestPlanParallelIsDeterministic(t *testing.T) {
	plan := func(parallel int) *results.Plan {
		var calls []string
		p, err := Plan(context.Background(), Options{
			Topology: app.Self, MaxThreads: []int{8, 16, 32}, Run: modelRun(0.95, 0.8, &calls), Estimator: &fakeEstimator{hold: hold}, Parallel: parallel,
		})
		if err != nil {
			t.Fatal(err)
		}
		p.StartedAt, p.FinishedAt = "", ""
		return p
	}
	a, b := plan(1), plan(4)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("a plan in parallel differs from one in series:\n%+v\n%+v", a.Rows, b.Rows)
	}
	var order []string
	for _, r := range b.Rows {
		order = append(order, fmt.Sprintf("%d/%s", r.MaxThreads, r.Arrivals))
	}
	if want := []string{"8/uniform", "8/poisson", "16/uniform", "16/poisson", "32/uniform", "32/poisson"}; !slices.Equal(order, want) {
		t.Errorf("rows %v, want %v", order, want)
	}
}

func TestPlanErrors(t *testing.T) {
	boom := errors.New("estimator broke")
	_, err := Plan(context.Background(), Options{Topology: app.Self, MaxThreads: []int{8}, Arrivals: []string{Poisson}, DeadlockOnly: true, Estimator: &fakeEstimator{hold: hold, err: boom}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "8 workers") {
		t.Errorf("err %v: want the estimator's error, naming the pool size", err)
	}
	if _, err := Plan(context.Background(), Options{Topology: app.Self, MaxThreads: []int{8}}); !errors.Is(err, ErrNoEstimator) {
		t.Errorf("err %v, want ErrNoEstimator", err)
	}
	if _, err := Plan(context.Background(), Options{Topology: app.Split, MaxThreads: []int{8}}); !errors.Is(err, ErrNoRun) {
		t.Errorf("err %v, want ErrNoRun", err)
	}
	if _, err := Plan(context.Background(), Options{Topology: app.Split}); !errors.Is(err, ErrNoRows) {
		t.Errorf("err %v, want ErrNoRows", err)
	}
	// A failed run stops the plan: the rows after it do not run, and the error is the run's.
	var calls int
	failing := func(context.Context, string, *loadprofiles.Profile, string, string) (results.Summary, error) {
		calls++
		return results.Summary{}, boom
	}
	_, err = Plan(context.Background(), Options{Topology: app.Split, MaxThreads: []int{8, 16, 32}, Arrivals: []string{Uniform}, Run: failing})
	if !errors.Is(err, boom) || errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("err %v after %d runs: want the run's error after one run", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Plan(ctx, Options{Topology: app.Self, MaxThreads: []int{8}, Arrivals: []string{Poisson}, DeadlockOnly: true, Estimator: &fakeEstimator{hold: hold}}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v after cancel, want context.Canceled", err)
	}
}

// TestPlanSelfCallIntoLittlesLaw: a run's measured self-call time replaces the configured one.
func TestPlanSelfCallIntoLittlesLaw(t *testing.T) {
	run := func(_ context.Context, topology string, p *loadprofiles.Profile, name, dir string) (results.Summary, error) {
		return results.Summary{Requests: 10, OK: 10, P99MS: 200, SelfcallMeanMS: 50}, nil
	}
	p, err := Plan(context.Background(), Options{Topology: app.Split, MaxThreads: []int{10}, Arrivals: []string{Uniform}, SelfCall: 5 * time.Millisecond, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	if p.SelfCallS != 0.05 || math.Abs(p.Rows[0].PredictedRPS-40) > 1e-9 {
		t.Errorf("self-call %v s, predicted %.2f; want 0.05 s and 10 / 0.25 s = 40", p.SelfCallS, p.Rows[0].PredictedRPS)
	}
}
