package hazard

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

func TestMLE(t *testing.T) {
	tests := []struct {
		name                string
		obs                 []Observation
		perHour, low, upper float64
	}{
		{
			// 3 hangs over 10 h: χ²(0.025; 6)/20 and χ²(0.975; 8)/20.
			name: "three hangs in ten hours",
			obs: []Observation{
				{Time: time.Hour, Hung: true}, {Time: 2 * time.Hour, Hung: true},
				{Time: 3 * time.Hour, Hung: true}, {Time: 4 * time.Hour},
			},
			perHour: 0.3, low: 1.2373 / 20, upper: 17.5345 / 20,
		},
		{
			// No hang in one hour: the upper end is −ln(0.025) ≈ 3.69 per hour.
			name:    "no hang",
			obs:     []Observation{{Time: 30 * time.Minute}, {Time: 30 * time.Minute}},
			perHour: 0, low: 0, upper: -math.Log(0.025),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := MLE(tt.obs, 0)
			if err != nil {
				t.Fatal(err)
			}
			near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-3*want+1e-9 }
			if !near(e.PerHour, tt.perHour) || !near(e.Lower, tt.low) || !near(e.Upper, tt.upper) {
				t.Errorf("got %v, want %.4g [%.4g, %.4g]", e, tt.perHour, tt.low, tt.upper)
			}
			if e.Confidence != DefaultConfidence || e.Method != MethodObserved {
				t.Errorf("confidence %g method %s, want the default 0.95 and %s", e.Confidence, e.Method, MethodObserved)
			}
		})
	}
}

func TestMLERejectsNonsense(t *testing.T) {
	tests := []struct {
		name       string
		obs        []Observation
		confidence float64
	}{
		{"no observation", nil, 0.95},
		{"negative time", []Observation{{Time: -time.Second, Hung: true}}, 0.95},
		{"zero exposure", []Observation{{Time: 0}}, 0.95},
		{"confidence of 1", []Observation{{Time: time.Hour}}, 1},
		{"negative confidence", []Observation{{Time: time.Hour}}, -0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := MLE(tt.obs, tt.confidence); !invalid.Is(err) {
				t.Errorf("got %v, want a user's-mistake error", err)
			}
		})
	}
}

// The calibration in bench/ trusts MLE's interval: on synthetic exponential hang times,
// censored like real runs, the 95 % interval must cover the true hazard about 95 % of the time.
func TestMLECoversTrueRate(t *testing.T) {
	const (
		reps      = 2000
		runs      = 10
		trueRate  = 3.0 // hangs per hour
		runLength = 20 * time.Minute
	)
	rng := rand.New(rand.NewPCG(7, 7))
	for _, censor := range []time.Duration{runLength, 10 * runLength} {
		covered := 0
		for range reps {
			obs := make([]Observation, runs)
			for i := range obs {
				hang := time.Duration(rng.ExpFloat64() / trueRate * float64(time.Hour))
				obs[i] = Observation{Time: min(hang, censor), Hung: hang <= censor}
			}
			e, err := MLE(obs, 0.95)
			if err != nil {
				t.Fatal(err)
			}
			if e.Lower <= trueRate && trueRate <= e.Upper {
				covered++
			}
		}
		share := float64(covered) / reps
		t.Logf("censored at %v: %d of %d intervals covered the true hazard", censor, covered, reps)
		// The exact interval of a discrete count is conservative: at least nominal, not much more.
		if share < 0.92 || share > 0.995 {
			t.Errorf("censored at %v: coverage %.3f, want about 0.95", censor, share)
		}
	}
}

func TestRisk(t *testing.T) {
	e := Estimate{PerHour: 1e-3, Upper: 2e-3}
	if got, want := e.Risk(24*time.Hour), 1-math.Exp(-0.024); math.Abs(got-want) > 1e-12 {
		t.Errorf("risk over a day = %g, want %g", got, want)
	}
	if got, want := e.RiskUpper(24*time.Hour), 1-math.Exp(-0.048); math.Abs(got-want) > 1e-12 {
		t.Errorf("upper risk over a day = %g, want %g", got, want)
	}
	if got := hazardFor(e.Risk(24*time.Hour), 24*time.Hour); math.Abs(got-1e-3) > 1e-12 {
		t.Errorf("hazard for that risk = %g, want back 1e-3", got)
	}
	if got := e.MeanTimeToHang(); got != 1000*time.Hour {
		t.Errorf("mean time to hang = %v, want 1000h", got)
	}
}
