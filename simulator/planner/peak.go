package planner

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

// planPeak answers --peak-rate: the fewest workers whose risk at the peak rate stays within the
// budget (self, Poisson), whose evenly paced threshold is above it (self, uniform only: a best
// case), or that meet the SLO at it (split).
func planPeak(ctx context.Context, o Options, p *results.Plan) (*results.PlanPeak, error) {
	rate := o.PeakRate
	hold := o.WorkTime.Seconds() + p.SelfCallS
	// Little's law: fewer than rate × hold workers cannot carry the mean load at all.
	little := max(1, int(math.Ceil(rate*hold)))
	pk := &results.PlanPeak{RateRPS: rate, Arrivals: Poisson, SearchedMax: MaxPeakWorkers}
	switch {
	case o.canHang && slices.Contains(o.Arrivals, Poisson):
		pk.Basis = results.BasisRisk
		seen := map[int]Estimate{}
		n, err := fewest(little, MaxPeakWorkers, func(n int) (bool, error) {
			cfg, err := o.serverConfig(n)
			if err != nil {
				return false, err
			}
			est, err := o.Estimator.Hazard(ctx, cfg, rate)
			if err != nil {
				return false, fmt.Errorf("peak rate: %d workers: %w", n, err)
			}
			seen[n] = est
			o.Log("peak %.1f rps: %d workers: hazard %s per hour, at most %s (budget %s)", rate, n,
				results.FormatHazard(est.PerHour), results.FormatHazard(est.CI.Hi), results.FormatHazard(p.BudgetPerHour))
			// Judged like the safe rate, by the interval's upper end: the answer errs high.
			return est.CI.Hi <= p.BudgetPerHour, nil
		})
		if err != nil {
			return pk, err
		}
		pk.Workers = n
		if est, ok := seen[n]; ok && n > 0 {
			pk.HazardPerHour, pk.HazardCI = ptr(est.PerHour), &results.Interval{Lo: est.CI.Lo, Hi: est.CI.Hi, Level: est.CI.Level}
		}
	case o.canHang:
		// Evenly paced load is deterministic in the model and hangs only at Little's bound: the
		// fewest workers whose bound is above the rate.
		pk.Arrivals, pk.Basis = Uniform, results.BasisThreshold
		pk.Workers = int(math.Floor(rate*hold)) + 1
		if pk.Workers > MaxPeakWorkers {
			pk.Workers = 0
		}
	default:
		arrivals := Poisson
		if !slices.Contains(o.Arrivals, Poisson) {
			arrivals = Uniform
		}
		pk.Arrivals, pk.Basis = arrivals, results.BasisCapacity
		n, err := fewest(little, MaxPeakWorkers, func(n int) (bool, error) {
			prof := o.profile(n, arrivals, o.Seeds[0], []loadprofiles.Stage{{Duration: o.StepDuration, Target: rate, Mode: loadprofiles.ModeHold}})
			name := fmt.Sprintf("peak-n%d-%s-%.1frps", n, arrivals, rate)
			s, err := o.Run(ctx, o.Topology, prof, name, filepath.Join(o.Dir, "runs", name))
			if err != nil {
				return false, err
			}
			ok := !s.Collapse && !s.Hang && s.P99MS <= float64(o.SLOP99.Milliseconds()) && errRate(s) <= o.SLOErrors
			o.Log("peak %.1f rps: %d workers: p99 %.0f ms, errors %.1f%% -> SLO %v", rate, n, s.P99MS, 100*errRate(s), ok)
			return ok, nil
		})
		if err != nil {
			return pk, err
		}
		pk.Workers = n
	}
	return pk, nil
}

// fewest returns the smallest n in [lo, hi] for which ok holds, ok being false then true as n
// grows (more workers never raise the hazard nor miss an SLO that fewer met), or 0 when ok(hi)
// is false. It gallops up from lo, since the answer is usually a few workers above Little's
// bound, then bisects.
func fewest(lo, hi int, ok func(int) (bool, error)) (int, error) {
	if lo > hi {
		return 0, nil
	}
	bad, n, step := lo-1, lo, 1
	for {
		good, err := ok(n)
		if err != nil {
			return 0, err
		}
		if good {
			break
		}
		if n == hi {
			return 0, nil
		}
		bad, n, step = n, min(hi, n+step), 2*step
	}
	for n-bad > 1 {
		mid := (bad + n) / 2
		good, err := ok(mid)
		if err != nil {
			return 0, err
		}
		if good {
			n = mid
		} else {
			bad = mid
		}
	}
	return n, nil
}

// verify holds, on real sockets, the smallest pool size at the rate where the model predicts a
// hang about once a minute, and sets the measured time to hang beside the prediction.
func verify(ctx context.Context, o Options, p *results.Plan) (*results.PlanVerify, error) {
	n := slices.Min(o.MaxThreads)
	cfg, err := o.serverConfig(n)
	if err != nil {
		return nil, err
	}
	rate, est, err := o.Estimator.RateAt(ctx, cfg, verifyPerHour)
	if err != nil {
		return nil, fmt.Errorf("verify: %d workers: %w", n, err)
	}
	v := &results.PlanVerify{
		MaxThreads: n, RateRPS: rate, Seed: o.Seeds[0], HoldS: VerifyHold.Seconds(),
		PredictedPerHour: est.PerHour, PredictedCI: est.CI,
		PredictedP: results.HangProbability(est.PerHour, VerifyHold.Seconds()),
	}
	if est.PerHour > 0 { // else no mean: JSON has no infinity
		v.PredictedMeanS = 3600 / est.PerHour
	}
	o.Log("verify: %d workers at %.1f rps on real sockets, Poisson seed %d, up to %s: the model predicts a hang in %s",
		n, rate, v.Seed, VerifyHold, results.HangEvery(est.PerHour))
	prof := o.profile(n, Poisson, v.Seed, []loadprofiles.Stage{{Duration: VerifyHold, Target: rate, Mode: loadprofiles.ModeHold}})
	name := fmt.Sprintf("verify-n%d-%.1frps", n, rate)
	v.Record = filepath.Join("runs", name)
	s, err := o.Verify(ctx, o.Topology, prof, name, filepath.Join(o.Dir, v.Record))
	if err != nil {
		return v, fmt.Errorf("verify: %w", err)
	}
	// The hold is the profile's only stage, so its start is the load's.
	at := s.HangAfterStageStartS
	if at == nil {
		at = s.HangOnsetS
	}
	if s.Hang && at != nil {
		v.Hang, v.MeasuredS = true, ptr(*at)
		o.Log("verify: hung after %.0f s (predicted mean %.0f s)", *at, v.PredictedMeanS)
	} else {
		o.Log("verify: no hang within %s (the model gave %.0f %%)", time.Duration(v.HoldS*float64(time.Second)), 100*v.PredictedP)
	}
	return v, nil
}
