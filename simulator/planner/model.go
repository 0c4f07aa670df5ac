package planner

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/hazard"
	"github.com/simdev/sim/simulator/model"
	"github.com/simdev/sim/simulator/run"
)

// ModelEstimator is the Estimator of a real plan: the virtual-time model of the server
// (simulator/model) under steady Poisson arrivals, driven by the rare-event estimators of
// simulator/hazard (brute force where hangs come within minutes, multilevel splitting below).
type ModelEstimator struct {
	// Client is the load client of the model's arrivals, as in the plan's runs (a client that
	// times out closes its connection).
	Client loadprofiles.Client
	// Options tunes the estimators (seed, confidence, effort, goroutines); the zero value is
	// their default. A zero Search.Start is replaced per pool size by a start near the answer.
	Options hazard.Options
}

var _ Estimator = ModelEstimator{}

// PlanClient is the load client of a plan's runs, for ModelEstimator.Client.
func (o Options) PlanClient() loadprofiles.Client {
	o.Normalize()
	return o.profile(1, Poisson, 0, nil).Client
}

// Hazard estimates the hazard of cfg at rate with hazard.At.
func (m ModelEstimator) Hazard(ctx context.Context, cfg app.Config, rate float64) (Estimate, error) {
	f, err := model.Steady(cfg, model.SteadyOptions{Client: m.Client})
	if err != nil {
		return Estimate{}, err
	}
	e, err := hazard.At(ctx, f, rate, m.Options)
	return fromHazard(e), err
}

// RateAt is hazard.SafeRate with a budget whose hazard is perHour: a horizon of 1 / perHour
// hours and a risk of 1 - 1/e, since -ln(1 - risk) / horizon = perHour.
func (m ModelEstimator) RateAt(ctx context.Context, cfg app.Config, perHour float64) (float64, Estimate, error) {
	f, err := model.Steady(cfg, model.SteadyOptions{Client: m.Client})
	if err != nil {
		return 0, Estimate{}, err
	}
	opt := m.Options
	if opt.Search.Start == 0 {
		opt.Search.Start = startRate(cfg)
	}
	horizon := time.Duration(float64(time.Hour) / perHour)
	s, err := hazard.SafeRate(ctx, f, horizon, -math.Expm1(-1), opt)
	if err != nil {
		return 0, Estimate{}, err
	}
	return s.Rate, fromHazard(s.Estimate), nil
}

// startRate is where the safe-rate search starts for cfg: Little's law times 1 - 5/sqrt(N), at
// least a twentieth of it. The share is fitted to the model's safe rates at 1 % in 24 h (8
// workers × 200 ms: 4 % of Little's law, 16: 12 %, 64: about 40 %); pools grow safer in share
// as they grow, like a Poisson count's relative spread, 1/sqrt(N). Starting near the answer
// brackets it in a step or two instead of doubling up from a few requests a second through
// rates where a large pool's hazard is astronomically small and slow to estimate.
func startRate(cfg app.Config) float64 {
	n := float64(cfg.Workers()) // the threads that serve pages (connector_threads serve none)
	hold := (cfg.WorkTime + model.SelfCallTime + model.PageOverhead).Seconds()
	share := max(1.0/20, 1-5/math.Sqrt(n))
	return share * n / hold
}

// ModelRun is a RunFunc on the virtual-time model, the run contract's model.Engine: it writes
// the run's record into dir, marked engine "model", as the socket engine does. Like the plan's
// socket runs it stops the load once the run has hung.
func ModelRun(ctx context.Context, topology string, p *loadprofiles.Profile, name, dir string) (results.Summary, error) {
	out, err := model.Engine{}.Run(ctx, run.Spec{Topology: topology, Profile: p, ProfileName: name, RecordDir: dir, StopOnHang: true})
	if err != nil {
		return results.Summary{}, fmt.Errorf("model run %s: %w", name, err)
	}
	return out.Summary, nil
}

var _ RunFunc = ModelRun

func fromHazard(e hazard.Estimate) Estimate {
	return Estimate{
		PerHour: e.PerHour,
		CI:      results.Interval{Lo: e.Lower, Hi: e.Upper, Level: e.Confidence},
		Method:  string(e.Method),
	}
}
