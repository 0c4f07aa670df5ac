package hazard

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// Options tunes the estimators; the zero value is usable (Normalize fills the defaults).
type Options struct {
	// Seed makes every estimate reproducible: the same seed gives the same figures whatever the
	// scheduling of the goroutines. Curve and SafeRate use it at every rate (common random
	// numbers, which keeps the curve smooth).
	Seed uint64
	// Confidence of the intervals (default DefaultConfidence).
	Confidence float64
	// Parallel is how many goroutines share the work (default GOMAXPROCS).
	Parallel int
	Brute    BruteOptions
	Split    SplitOptions
	Search   SearchOptions
}

// Normalize fills defaults and reports a value a user could not have meant.
func (o *Options) Normalize() error {
	if o.Confidence == 0 {
		o.Confidence = DefaultConfidence
	}
	if !(o.Confidence > 0 && o.Confidence < 1) {
		return invalid.Field("confidence", o.Confidence, "between 0 and 1")
	}
	if o.Parallel == 0 {
		o.Parallel = runtime.GOMAXPROCS(0)
	}
	if o.Parallel < 0 {
		return invalid.Field("parallel", o.Parallel, ">= 0")
	}
	if err := o.Brute.normalize(); err != nil {
		return err
	}
	if err := o.Split.normalize(); err != nil {
		return err
	}
	return o.Search.normalize()
}

func checkRate(rate float64) error {
	if !(rate > 0) || rate > maxRate {
		return invalid.Field("rate", rate, fmt.Sprintf("> 0 and <= %g requests per second", maxRate))
	}
	return nil
}

// maxRate bounds the rates searched: far beyond what one server process handles on sockets
// (PITFALLS.md measured ~2,000 rps for a bare page), so a search that reaches it has lost its way.
const maxRate = 1e6

// derive mixes a seed with the coordinates of one random stream (estimator, batch, stage,
// trajectory) into an independent seed, by chaining SplitMix64 (Steele, Lea & Flood 2014),
// so that every stream is fixed by the seed alone and never by the order goroutines run in.
func derive(seed uint64, parts ...uint64) uint64 {
	h := splitmix(seed)
	for _, p := range parts {
		h = splitmix(h ^ splitmix(p+0x632be59bd9b4e019))
	}
	return h
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Stream tags for derive: one per kind of random stream.
const (
	tagPilot uint64 = iota + 1
	tagBrute
	tagLongRun
	tagReservoir
	tagStage
)

// ctxEvery is how many steps pass between two looks at the context: a look costs far more than
// a toy step, and 4,096 steps of the real model take a few milliseconds.
const ctxEvery = 1 << 12

// forEach runs job(0..n-1) on up to workers goroutines and returns the error of the lowest
// index that failed (so the error, like the results, does not depend on scheduling). Each job
// writes only its own slot of the caller's results.
func forEach(parent context.Context, n, workers int, job func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := job(ctx, i); err != nil {
					errs[i] = err
					cancel()
				}
			}
		})
	}
	wg.Wait()
	if err := parent.Err(); err != nil {
		return err
	}
	// A job that failed cancelled the others: report its error, not their cancellation.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// seconds converts a virtual duration to the float seconds System.Now speaks.
func seconds(d time.Duration) float64 { return d.Seconds() }

// orDefault gives *v its default def when it is zero (unset), then checks that it is at least
// lo: an option's default and its floor in one line, named as the error names it.
func orDefault[T ~int | ~int64](field string, v *T, def, lo T, allowed string) error {
	if *v == 0 {
		*v = def
	}
	if *v < lo {
		return invalid.Field(field, *v, allowed)
	}
	return nil
}

// firstError returns the first non-nil error of errs.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
