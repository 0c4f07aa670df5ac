package planner

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

// modelRun is a server that deadlocks at share × the predicted rate and misses the SLO above
// sloShare × predicted: enough to check the search, not the server.
func modelRun(share, sloShare float64, calls *[]string) RunFunc {
	return func(_ context.Context, topology string, p *loadprofiles.Profile, name, dir string) (results.Summary, error) {
		*calls = append(*calls, name)
		n := *p.Server.MaxThreads
		pred := Predicted(n, *p.Server.WorkTime, 0)
		st := p.Stages[0]
		s := results.Summary{Requests: 1000, OK: 1000, P99MS: 210, SelfcallMeanMS: 0}
		peak := st.Target
		if st.Mode == loadprofiles.ModeRamp {
			if peak >= share*pred {
				onset := share * pred
				s.Collapse, s.Hang, s.OnsetRateRPS = true, true, &onset
			}
			return s, nil
		}
		if peak > sloShare*pred {
			s.P99MS = 1000
			s.OK = 500
		}
		return s, nil
	}
}

func TestPlanSelf(t *testing.T) {
	var calls []string
	p, err := Plan(context.Background(), Options{
		Topology:   "self",
		MaxThreads: []int{8, 16},
		WorkTime:   200 * time.Millisecond,
		Run:        modelRun(0.9, 0.8, &calls),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rows) != 2 {
		t.Fatalf("rows %d", len(p.Rows))
	}
	for _, r := range p.Rows {
		pred := float64(r.MaxThreads) / 0.2
		if math.Abs(r.PredictedRPS-pred) > 1e-9 {
			t.Errorf("n=%d predicted %.2f, want %.2f", r.MaxThreads, r.PredictedRPS, pred)
		}
		if r.DeadlockRPS == nil || math.Abs(r.Ratio-0.9) > 1e-9 {
			t.Errorf("n=%d deadlock %v ratio %.3f, want 0.9", r.MaxThreads, r.DeadlockRPS, r.Ratio)
		}
		// Bisection between 0.25 and 0.945 of pred, 5 steps: within 1/32 of the range of 0.8.
		if got := r.SustainedRPS / pred; got > 0.8 || got < 0.8-0.7/32-1e-9 {
			t.Errorf("n=%d sustained %.3f of pred, want just under 0.8", r.MaxThreads, got)
		}
		if want := math.Min(r.SustainedRPS, 0.7*0.9*pred); math.Abs(r.SafeRPS-want) > 0.06 {
			t.Errorf("n=%d safe %.2f, want %.2f", r.MaxThreads, r.SafeRPS, want)
		}
		if len(r.Steps) != 1+1+5 {
			t.Errorf("n=%d %d steps, want ramp + lower bound + 5", r.MaxThreads, len(r.Steps))
		}
	}
	if !strings.Contains(p.Recommendation, "deadlocked at") || !strings.Contains(p.Recommendation, "split") {
		t.Errorf("recommendation: %q", p.Recommendation)
	}
}

func TestPlanDeadlockOnly(t *testing.T) {
	var calls []string
	p, err := Plan(context.Background(), Options{Topology: "self", MaxThreads: []int{8}, DeadlockOnly: true, Run: modelRun(0.95, 0.8, &calls)})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || p.Rows[0].DeadlockRPS == nil || p.Rows[0].SustainedRPS != 0 {
		t.Fatalf("calls %v, row %+v", calls, p.Rows[0])
	}
}

func TestPlanSplitHasNoRamp(t *testing.T) {
	var calls []string
	p, err := Plan(context.Background(), Options{Topology: "split", MaxThreads: []int{16}, Run: modelRun(10, 1.0, &calls)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if strings.HasSuffix(c, "ramp") {
			t.Fatalf("split ran a deadlock ramp: %v", calls)
		}
	}
	if r := p.Rows[0]; r.DeadlockRPS != nil || r.Ratio < 0.9 || r.Ratio > 1 {
		t.Fatalf("row %+v", r)
	}
}

func TestPlanPoissonRowsAndExplanation(t *testing.T) {
	var calls []string
	run := func(ctx context.Context, topology string, p *loadprofiles.Profile, name, dir string) (results.Summary, error) {
		share := 0.95
		if p.Arrivals == loadprofiles.ArrivalsPoisson {
			share = 0.4 + 0.1*float64(p.Seed) // seeds 1..3: 0.5, 0.6, 0.7
		}
		return modelRun(share, 0.3, &calls)(ctx, topology, p, name, dir)
	}
	p, err := Plan(context.Background(), Options{Topology: "self", MaxThreads: []int{16}, Arrivals: []string{"uniform", "poisson"}, DeadlockOnly: true, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rows) != 2 || len(calls) != 4 {
		t.Fatalf("rows %d, calls %v: want a uniform ramp and three Poisson seeds", len(p.Rows), calls)
	}
	q := p.Rows[1]
	if q.Arrivals != "poisson" || q.DeadlockRPS == nil || math.Abs(*q.DeadlockRPS-0.5*80) > 1e-9 {
		t.Fatalf("poisson row %+v: want the lowest onset over seeds, 40 rps", q)
	}
	if !strings.Contains(p.Recommendation, "Why the two arrival processes differ") || !strings.Contains(p.Recommendation, "at most 28 rps") {
		t.Fatalf("recommendation: %s", p.Recommendation)
	}
}
