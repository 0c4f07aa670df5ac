package planner

import (
	"context"
	"runtime"
	"testing"

	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// BenchmarkPlan is issue 13's performance target: a plan of 8 pool sizes from 8 to 256 workers
// × uniform and Poisson arrivals with a 24 h horizon, on the model, as `sim plan` runs it (SLO
// search included), in at most 30 s on 2 cores. Run it with
//
//	go test -run '^$' -bench Plan -benchtime 1x ./simulator/planner/
func BenchmarkPlan(b *testing.B) {
	o := Options{
		Topology: app.Self, MaxThreads: []int{8, 16, 24, 32, 48, 64, 128, 256}, Arrivals: []string{Uniform, Poisson},
		Horizon: DefaultHorizon, Risk: DefaultRisk, Run: ModelRun, Parallel: runtime.GOMAXPROCS(0),
	}
	o.Estimator = ModelEstimator{Client: o.PlanClient()}
	for b.Loop() {
		o.Dir = b.TempDir()
		p, err := Plan(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for _, r := range p.Rows {
			if r.Arrivals == Poisson {
				b.Logf("%3d workers: safe %7.1f rps (%s), hazard %s per hour [%s, %s] (%s), Little's law %.0f", r.MaxThreads, r.SafeRPS, r.Basis,
					results.FormatHazard(*r.HazardPerHour), results.FormatHazard(r.HazardCI.Lo), results.FormatHazard(r.HazardCI.Hi), r.HazardMethod, r.PredictedRPS)
			}
		}
		b.StartTimer()
	}
}
