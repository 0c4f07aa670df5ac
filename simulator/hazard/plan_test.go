package hazard

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// A day at 1 % risk: the budget sim plan uses by default.
const (
	testHorizon = 24 * time.Hour
	testRisk    = 0.01
)

func TestSafeRateOfTheToy(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	limit := hazardFor(testRisk, testHorizon)
	exact := toyRateFor(limit, toyMu, toyWorkers)
	s, err := SafeRate(context.Background(), f, testHorizon, testRisk, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("safe rate %.3f rps (exact %.3f) hazard %v, limit %.3g/h, unsafe at %.3f rps, %d rates tried",
		s.Rate, exact, s.Estimate, s.Limit, s.Unsafe.Rate, s.Tried)
	if math.Abs(s.Limit-limit) > 1e-15 {
		t.Errorf("limit %g/h, want %g/h", s.Limit, limit)
	}
	// Judged by the upper end of the interval: never above the exact rate for the budget, and
	// not absurdly below it (the interval spans a factor of ~3, a few % of rate at 16 workers).
	if s.Rate > exact {
		t.Errorf("safe rate %.3f rps is above the exact %.3f rps: the budget is broken (exact risk %.3g)",
			s.Rate, exact, riskOf(exactHazard(s.Rate, toyMu, toyWorkers), testHorizon))
	}
	if s.Rate < 0.9*exact {
		t.Errorf("safe rate %.3f rps is more than 10 %% under the exact %.3f rps", s.Rate, exact)
	}
	if s.Estimate.Upper > s.Limit || s.Unsafe.Upper <= s.Limit {
		t.Errorf("bracket does not straddle the limit %.3g: safe %v, unsafe %v", s.Limit, s.Estimate, s.Unsafe)
	}
	if (s.Unsafe.Rate-s.Rate)/s.Rate > DefaultRelTol {
		t.Errorf("bracket [%.4f, %.4f] wider than %g", s.Rate, s.Unsafe.Rate, DefaultRelTol)
	}
}

func TestSafeRateRejectsNonsense(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	for _, tt := range []struct {
		name    string
		horizon time.Duration
		risk    float64
	}{{"zero horizon", 0, 0.01}, {"risk 0", time.Hour, 0}, {"risk 1", time.Hour, 1}, {"risk in percent", time.Hour, 5}} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SafeRate(context.Background(), f, tt.horizon, tt.risk, Options{}); !invalid.Is(err) {
				t.Errorf("got %v, want a user's-mistake error", err)
			}
		})
	}
}

func TestCurveRisesWithRate(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	rates := []float64{6, 10, 14, 18, 22, 26, 30, 40}
	es, err := Curve(context.Background(), f, rates, Options{Seed: 3, Confidence: testConfidence})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		exact := exactHazard(rates[i], toyMu, toyWorkers)
		t.Logf("%4.0f rps: %v exact %.3g", e.Rate, e, exact)
		if e.Rate != rates[i] {
			t.Errorf("point %d is at %g rps, want %g", i, e.Rate, rates[i])
		}
		if e.Lower > exact || exact > e.Upper {
			t.Errorf("%g rps: exact %.3g/h outside %v", rates[i], exact, e)
		}
		if i > 0 && e.PerHour <= es[i-1].PerHour {
			t.Errorf("hazard fell from %.3g at %g rps to %.3g at %g rps", es[i-1].PerHour, rates[i-1], e.PerHour, rates[i])
		}
	}
}

func TestFewestWorkers(t *testing.T) {
	sizes := []int{32, 8, 12, 16, 20, 24} // any order
	var pools []Pool
	for _, n := range sizes {
		pools = append(pools, Pool{Workers: n, Factory: toyFactory(n, toyMu)})
	}
	limit := hazardFor(testRisk, testHorizon)
	for _, peak := range []float64{10, 25, 60} {
		// The exact answer: the smallest size whose exact hazard is within the limit. At these
		// rates neighbouring sizes differ by orders of magnitude, so the estimate cannot
		// honestly land elsewhere.
		want := 0
		for _, n := range []int{8, 12, 16, 20, 24, 32} {
			if exactHazard(peak, toyMu, n) <= limit {
				want = n
				break
			}
		}
		got, err := FewestWorkers(context.Background(), pools, peak, testHorizon, testRisk, Options{Seed: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("peak %g rps: %d workers (found %v) at %v; exact answer %d", peak, got.Workers, got.Found, got.Estimate, want)
		if got.Found != (want != 0) || (want != 0 && got.Workers != want) {
			t.Errorf("peak %g rps: got %d workers (found %v), want %d", peak, got.Workers, got.Found, want)
		}
	}
}
