package planner

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// The adapters on the real model, where hangs come within a minute (cheap to estimate): the
// estimate's interval is carried over, the rate for a hazard of 60 an hour is below Little's
// law with its interval's upper end within it, and a run through the model leaves a record
// marked as model output and stops at the hang.
func TestModelEstimatorAndRun(t *testing.T) {
	o := Options{Topology: app.Self, Seeds: []int64{1}}
	o.Normalize()
	cfg, err := o.serverConfig(8)
	if err != nil {
		t.Fatal(err)
	}
	m := ModelEstimator{Client: o.PlanClient()}
	ctx := context.Background()
	start := time.Now()
	rate, est, err := m.RateAt(ctx, cfg, 60)
	if err != nil {
		t.Fatal(err)
	}
	pred := Predicted(8, o.WorkTime, 0)
	if !(rate > 0 && rate < pred) || est.CI.Hi > 60*1.0001 || !(est.CI.Lo <= est.PerHour && est.PerHour <= est.CI.Hi) || est.CI.Level != 0.95 || est.Method == "" {
		t.Errorf("RateAt(60/h) = %.2f rps, %+v: want a rate below Little's law %.0f with the interval's upper end at most 60", rate, est, pred)
	}
	again, err := m.Hazard(ctx, cfg, rate)
	if err != nil || again != est {
		t.Errorf("Hazard at the same rate: %+v, %v; want the same estimate %+v (deterministic)", again, err, est)
	}
	t.Logf("8 workers: %.2f rps for 60 hangs an hour (%+v) in %s", rate, est, time.Since(start))

	dir := filepath.Join(t.TempDir(), "run")
	prof := o.profile(8, Poisson, 1, []loadprofiles.Stage{{Duration: 2 * time.Minute, Target: 2 * rate, Mode: loadprofiles.ModeHold}})
	s, err := ModelRun(ctx, app.Self, prof, "hold", dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Engine != results.EngineModel || s.Requests == 0 {
		t.Errorf("summary: engine %q, %d requests", s.Engine, s.Requests)
	}
	// At twice the rate of a hang a minute, two minutes hang (the seed fixes it) and the plan's
	// runs stop there.
	if !s.Hang || !s.StoppedOnHang || s.LoadDurationS >= 120 {
		t.Errorf("summary: hang %v, stopped on hang %v after %.0f s of load", s.Hang, s.StoppedOnHang, s.LoadDurationS)
	}
	if _, err := results.Read(dir); err != nil {
		t.Errorf("the model run left no readable record: %v", err)
	}
}
