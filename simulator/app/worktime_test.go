package app

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// workConfig is a valid config with the given distribution.
func workConfig(dist string, work, p99 time.Duration, seed int) Config {
	c := Defaults()
	c.WorkTimeDist, c.WorkTime, c.WorkTimeP99, c.WorkTimeSeed = dist, work, p99, seed
	return c
}

func draws(t *testing.T, c Config, n int) []time.Duration {
	t.Helper()
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatalf("config rejected: %v", err)
	}
	w := newWorkTimes(c)
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = w.next()
	}
	return out
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func relErr(got, want time.Duration) float64 {
	return math.Abs(float64(got-want)) / float64(want)
}

func TestWorkTimeDistributions(t *testing.T) {
	const n = 100_000
	t.Run("fixed is exact", func(t *testing.T) {
		for i, d := range draws(t, workConfig(WorkFixed, 200*time.Millisecond, 0, 1), 1000) {
			if d != 200*time.Millisecond {
				t.Fatalf("draw %d = %v, want exactly 200ms", i, d)
			}
		}
	})
	t.Run("exponential mean", func(t *testing.T) {
		mean := 200 * time.Millisecond
		ds := draws(t, workConfig(WorkExponential, mean, 0, 1), n)
		var sum float64
		for _, d := range ds {
			sum += float64(d)
		}
		t.Logf("mean %v, median %v", time.Duration(sum/n), quantile(slices.Sorted(slices.Values(ds)), 0.5))
		if got := time.Duration(sum / n); relErr(got, mean) > 0.03 {
			t.Errorf("mean of %d draws = %v, want %v ± 3%%", n, got, mean)
		}
		// Its shape too: the median of an exponential is mean × ln 2.
		slices.Sort(ds)
		if got, want := quantile(ds, 0.5), time.Duration(float64(mean)*math.Ln2); relErr(got, want) > 0.03 {
			t.Errorf("median = %v, want %v ± 3%%", got, want)
		}
	})
	for _, tt := range []struct{ median, p99 time.Duration }{
		{200 * time.Millisecond, time.Second},
		{10 * time.Millisecond, 500 * time.Millisecond},
		{100 * time.Millisecond, 110 * time.Millisecond},
	} {
		t.Run("lognormal median "+tt.median.String()+" p99 "+tt.p99.String(), func(t *testing.T) {
			ds := draws(t, workConfig(WorkLognormal, tt.median, tt.p99, 1), n)
			slices.Sort(ds)
			t.Logf("median %v, p99 %v", quantile(ds, 0.5), quantile(ds, 0.99))
			if got := quantile(ds, 0.5); relErr(got, tt.median) > 0.03 {
				t.Errorf("median of %d draws = %v, want %v ± 3%%", n, got, tt.median)
			}
			if got := quantile(ds, 0.99); relErr(got, tt.p99) > 0.03 {
				t.Errorf("p99 of %d draws = %v, want %v ± 3%%", n, got, tt.p99)
			}
		})
	}
}

func TestWorkTimeSeed(t *testing.T) {
	for _, dist := range []string{WorkExponential, WorkLognormal} {
		t.Run(dist, func(t *testing.T) {
			c := workConfig(dist, 50*time.Millisecond, 400*time.Millisecond, 7)
			if dist == WorkExponential {
				c.WorkTimeP99 = 0
			}
			a, b := draws(t, c, 1000), draws(t, c, 1000)
			if !slices.Equal(a, b) {
				t.Error("the same seed drew different sequences")
			}
			c.WorkTimeSeed = 8
			if other := draws(t, c, 1000); slices.Equal(a, other) {
				t.Error("seeds 7 and 8 drew the same sequence")
			}
		})
	}
}

func TestWorkTimeCap(t *testing.T) {
	// A median of 1ms with a p99 of 60s (σ ≈ 4.7): 1 % of the draws would exceed 60s, and a few
	// in a thousand would pin a worker for many minutes.
	ds := draws(t, workConfig(WorkLognormal, time.Millisecond, maxWorkDraw, 1), 20_000)
	capped := 0
	for _, d := range ds {
		if d > maxWorkDraw {
			t.Fatalf("draw %v above the %v cap", d, maxWorkDraw)
		}
		if d == maxWorkDraw {
			capped++
		}
	}
	if capped < 100 || capped > 300 {
		t.Errorf("%d of 20000 draws at the cap, want about 1 %% (200)", capped)
	}
	// The cap is 10 × p99 where that is below 60s.
	w := newWorkTimes(workConfig(WorkLognormal, time.Millisecond, 2*time.Millisecond, 1))
	if want := float64(20 * time.Millisecond); w.cap != want {
		t.Errorf("cap = %v, want %v", time.Duration(w.cap), time.Duration(want))
	}
	w = newWorkTimes(workConfig(WorkExponential, 10*time.Millisecond, 0, 1))
	if got, want := time.Duration(w.cap), 10*exponentialP99(10*time.Millisecond); got != want {
		t.Errorf("exponential cap = %v, want 10 × p99 = %v", got, want)
	}
}

func TestValidateWorkTime(t *testing.T) {
	tests := []struct {
		name  string
		field string
		cfg   Config
	}{
		{"unknown distribution", "work_time_dist", workConfig("normal", 100*time.Millisecond, 0, 1)},
		{"lognormal p99 missing", "work_time_p99", workConfig(WorkLognormal, 100*time.Millisecond, 0, 1)},
		{"lognormal p99 below median", "work_time_p99", workConfig(WorkLognormal, 100*time.Millisecond, 50*time.Millisecond, 1)},
		{"lognormal p99 equal to median", "work_time_p99", workConfig(WorkLognormal, 100*time.Millisecond, 100*time.Millisecond, 1)},
		{"lognormal p99 above the cap", "work_time_p99", workConfig(WorkLognormal, 100*time.Millisecond, 61*time.Second, 1)},
		{"lognormal median 0", "work_time", workConfig(WorkLognormal, 0, time.Second, 1)},
		{"exponential mean 0", "work_time", workConfig(WorkExponential, 0, 0, 1)},
		{"exponential p99 over the cap", "work_time", workConfig(WorkExponential, 14*time.Second, 0, 1)},
		{"p99 with exponential", "work_time_p99", workConfig(WorkExponential, 100*time.Millisecond, time.Second, 1)},
		{"p99 with fixed", "work_time_p99", workConfig(WorkFixed, 100*time.Millisecond, time.Second, 1)},
		{"negative seed", "work_time_seed", workConfig(WorkExponential, 100*time.Millisecond, 0, -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Normalize()
			err := tt.cfg.Validate()
			var ie *invalid.Error
			if !errors.As(err, &ie) || ie.Field != tt.field {
				t.Fatalf("Validate() = %v, want an *invalid.Error on %s", err, tt.field)
			}
		})
	}
	for _, c := range []Config{
		workConfig(WorkFixed, 0, 0, DefaultWorkTimeSeed), // a seed other than the default means nothing to fixed: refused
		workConfig(WorkExponential, 13*time.Second, 0, 0),
		workConfig(WorkLognormal, 200*time.Millisecond, time.Second, 123),
		workConfig(WorkLognormal, time.Millisecond, time.Minute, 1),
	} {
		c.Normalize()
		if err := c.Validate(); err != nil {
			t.Errorf("%s %v/%v rejected: %v", c.WorkTimeDist, c.WorkTime, c.WorkTimeP99, err)
		}
	}
}

// TestWorkTimeKeys: the keys reach `sim serve` children, whose flags are rendered from Keys.
func TestWorkTimeKeys(t *testing.T) {
	want := []string{"--work-time-dist=fixed", "--work-time-p99=0s", "--work-time-seed=1"}
	flags := Defaults().Flags()
	for _, f := range want {
		if !slices.Contains(flags, f) {
			t.Errorf("default flags %q lack %s", flags, f)
		}
	}
}

// TestPageWorksTheDrawnTime sends requests one after the other, so that request i draws the
// i-th work time of the seeded sequence: each takes at least that long, and not much more.
func TestPageWorksTheDrawnTime(t *testing.T) {
	cfg := testConfig(Self)
	cfg.WorkTimeDist, cfg.WorkTime, cfg.WorkTimeP99, cfg.WorkTimeSeed = WorkLognormal, 10*time.Millisecond, 100*time.Millisecond, 3
	a := startApp(t, cfg)
	want := draws(t, cfg, 20)
	for i, w := range want {
		began := time.Now()
		if err := get(a.URL()+"/page", 5*time.Second); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		took := time.Since(began)
		// The slack covers the self-call and a loaded machine under -race.
		if took < w || took > w+500*time.Millisecond {
			t.Errorf("request %d took %v, drawn work time %v", i, took, w)
		}
	}
}
