package hazard_test

// The estimators on the virtual-time model of the server (simulator/model), which imports this
// package for the System interface: an external test package, so that hazard itself never
// imports model.

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/hazard"
	"github.com/simdev/sim/simulator/model"
)

// modelFactory is the server of issue 13: self topology, workers × 200 ms fixed work time,
// every other key at its default (HttpClient pool max_per_route 2, max_total 20, no timeouts),
// load clients that never give up.
func modelFactory(tb testing.TB, workers int) hazard.Factory {
	tb.Helper()
	cfg := app.Defaults()
	cfg.MaxThreads = workers
	cfg.WorkTime = 200 * time.Millisecond
	f, err := model.Steady(cfg, model.SteadyOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// Splitting and brute force agree on the model where both can run: rates at which brute force
// sees hangs within minutes of virtual time.
func TestModelSplittingAgreesWithBruteForce(t *testing.T) {
	f := modelFactory(t, 16)
	for _, rate := range []float64{25, 30, 35} {
		// 99 %: three comparisons at once.
		opt := hazard.Options{Seed: 13, Confidence: 0.99}
		s, err := hazard.Split(context.Background(), f, rate, opt)
		if err != nil {
			t.Fatal(err)
		}
		b, err := hazard.BruteForce(context.Background(), f, rate, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("16 × 200 ms at %g rps: splitting %v (%d steps); brute force %v (%d of %d hung, %d steps)",
			rate, s, s.Steps, b, b.Hangs, hazard.DefaultSystems, b.Steps)
		if b.Hangs < 20 {
			t.Errorf("%g rps: brute force saw only %d hangs: no check", rate, b.Hangs)
		}
		if s.Upper < b.Lower || b.Upper < s.Lower {
			t.Errorf("%g rps: the intervals do not overlap: splitting %v, brute force %v", rate, s, b)
		}
	}
}

// BenchmarkModelCurve prints the hazard curve of the model from 20 to 45 rps for 16 and 8
// workers × 200 ms (run with -bench ModelCurve -benchtime 1x -v).
func BenchmarkModelCurve(b *testing.B) {
	rates := []float64{20, 25, 30, 35, 40, 45}
	for _, workers := range []int{16, 8} {
		f := modelFactory(b, workers)
		b.Run(strconv.Itoa(workers)+"workers", func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				curve, err := hazard.Curve(context.Background(), f, rates, hazard.Options{Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range curve {
					b.Logf("%2d × 200 ms  %4.0f rps  %-58v  mean time to hang %.3g s", workers, e.Rate, e, e.MeanTimeToHang().Seconds())
				}
				b.Logf("%d rates in %v", len(rates), time.Since(start).Round(time.Millisecond))
			}
		})
	}
}

// BenchmarkModelSplit is one splitting estimate on the 16 × 200 ms model at 10 rps, where
// its hazard is near 1e-4/h.
func BenchmarkModelSplit(b *testing.B) {
	f := modelFactory(b, 16)
	var steps int64
	for i := 0; b.Loop(); i++ {
		e, err := hazard.Split(context.Background(), f, 10, hazard.Options{Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		steps += e.Steps
		b.Logf("%v", e)
	}
	b.ReportMetric(float64(steps)/float64(b.N), "steps/op")
}

// BenchmarkModelSafeRate is one SafeRate search (a day at 1 % risk) on the model with 16
// workers × 200 ms.
func BenchmarkModelSafeRate(b *testing.B) {
	f := modelFactory(b, 16)
	var steps int64
	for i := 0; b.Loop(); i++ {
		s, err := hazard.SafeRate(context.Background(), f, 24*time.Hour, 0.01, hazard.Options{Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		steps += s.Steps
		b.Logf("safe %.2f rps: %v (%d rates tried)", s.Rate, s.Estimate, s.Tried)
	}
	b.ReportMetric(float64(steps)/float64(b.N), "steps/op")
}
