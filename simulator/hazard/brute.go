package hazard

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BruteOptions tunes BruteForce.
type BruteOptions struct {
	// Systems is how many independent systems run (default DefaultSystems).
	Systems int
	// Censor is the virtual time a system that has not hung is watched for (default
	// DefaultCensor).
	Censor time.Duration
}

// Defaults of BruteForce.
const (
	// DefaultSystems gives ~64 hangs when most systems hang: an interval of about ±25 %.
	DefaultSystems = 64
	// DefaultCensor is an hour of virtual time: hazards well above 1/h are measured with most
	// systems hanging; below it the interval says how little was seen.
	DefaultCensor = time.Hour
)

func (b *BruteOptions) normalize() error {
	return firstError(
		orDefault("brute.systems", &b.Systems, DefaultSystems, 1, ">= 1"),
		orDefault("brute.censor", &b.Censor, DefaultCensor, 1, "> 0"),
	)
}

// errNoEvent is a System that ran out of events, which a steady Poisson source never does.
var errNoEvent = errors.New("system has no event left (a steady Poisson source never runs dry)")

// BruteForce estimates the hazard at rate by running opt.Brute.Systems independent systems
// from empty, each until it hangs (Absorbed) or is censored at opt.Brute.Censor of virtual
// time, and taking the exponential MLE with its exact interval (see MLE). It sees only hazards
// within a few orders of magnitude of 1/Censor: use Split below.
func BruteForce(ctx context.Context, f Factory, rate float64, opt Options) (Estimate, error) {
	if err := opt.Normalize(); err != nil {
		return Estimate{}, err
	}
	if err := checkRate(rate); err != nil {
		return Estimate{}, err
	}
	return bruteForce(ctx, f, rate, opt, opt.Brute.Systems, opt.Brute.Censor)
}

func bruteForce(ctx context.Context, f Factory, rate float64, opt Options, systems int, censor time.Duration) (Estimate, error) {
	obs := make([]Observation, systems)
	steps := make([]int64, systems)
	err := forEach(ctx, systems, opt.Parallel, func(ctx context.Context, i int) error {
		s := f(rate, derive(opt.Seed, tagBrute, uint64(i)))
		end := seconds(censor)
		for !s.Absorbed() && s.Now() < end {
			if steps[i]%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if !s.Step() {
				return fmt.Errorf("brute force system %d at %.3f s: %w", i, s.Now(), errNoEvent)
			}
			steps[i]++
		}
		// A hang whose event fell past the censoring time was not seen within the watch.
		if s.Absorbed() && s.Now() <= end {
			obs[i] = Observation{Time: time.Duration(s.Now() * float64(time.Second)), Hung: true}
		} else {
			obs[i] = Observation{Time: censor}
		}
		return nil
	})
	if err != nil {
		return Estimate{}, fmt.Errorf("brute force at %g rps: %w", rate, err)
	}
	e, err := MLE(obs, opt.Confidence)
	if err != nil {
		return Estimate{}, fmt.Errorf("brute force at %g rps: %w", rate, err)
	}
	e.Rate, e.Method = rate, MethodBruteForce
	for _, n := range steps {
		e.Steps += n
	}
	return e, nil
}
