package planner

import (
	"context"

	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// Estimate is a hang hazard (hangs per hour of steady traffic) with its confidence interval.
type Estimate struct {
	PerHour float64
	CI      results.Interval
	// Method names the estimator ("splitting", "brute force").
	Method string
}

// Estimator estimates the hang hazard of a server under steady Poisson arrivals. The cmd layer
// passes one built on the virtual-time model (simulator/model) and the rare-event estimators
// (simulator/hazard); the planner's tests pass a closed form. Implementations are deterministic
// (the same config and rate give the same estimate) and safe for concurrent use.
type Estimator interface {
	// Hazard estimates the hazard of cfg at rate page requests per second.
	Hazard(ctx context.Context, cfg app.Config, rate float64) (Estimate, error)
	// RateAt returns the highest rate whose hazard is at most perHour, judged by the upper end
	// of the interval (so the answer errs low), and the estimate at it.
	RateAt(ctx context.Context, cfg app.Config, perHour float64) (float64, Estimate, error)
}
