package hazard

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// The toy the estimators are checked on: 16 workers holding pages 200 ms on average, the
// shape of the 16 × 200 ms server of issue 13.
const (
	toyWorkers = 16
	toyMu      = 5.0
)

// comparisons are checked at 99 %: each test makes several at once, and at 95 % one in twenty
// would miss by chance.
const testConfidence = 0.99

func TestSplitMatchesExact(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	for _, perHour := range []float64{30, 1, 1e-2, 1e-4, 1e-6, 1e-8} {
		rate := toyRateFor(perHour, toyMu, toyWorkers)
		e, err := Split(context.Background(), f, rate, Options{Seed: 11, Confidence: testConfidence})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%.3f rps: exact %.3g/h, split %v, %d steps, base %d levels %v", rate, perHour, e, e.Steps, e.Split.Base, e.Split.Levels)
		if e.Lower > perHour || perHour > e.Upper {
			t.Errorf("%.3f rps: exact hazard %.3g/h outside the interval %v", rate, perHour, e)
		}
		// An interval that always covers by being huge would be useless to a planner; at 99 %
		// with the default effort it spans a factor of 3–7 (a few % of rate for 16 workers).
		if e.Upper > 10*e.Lower {
			t.Errorf("%.3f rps: interval %v spans more than a factor of 10", rate, e)
		}
		// The climb ends where trajectories hang, at the pool size: the levels follow
		// max_threads without being told it.
		last := e.Split.Stages[len(e.Split.Stages)-1]
		if last.From >= toyWorkers || last.To < toyWorkers || last.Hung == 0 || last.Reached != 0 {
			t.Errorf("%.3f rps: last stage %+v, want one from below %d that only hangs", rate, last, toyWorkers)
		}
	}
}

// A larger pool climbs several levels per stage where single levels would be wasteful, and
// still gets the exact answer.
func TestSplitOfALargerPool(t *testing.T) {
	const workers, perHour = 64, 1e-4
	rate := toyRateFor(perHour, toyMu, workers)
	e, err := Split(context.Background(), toyFactory(workers, toyMu), rate, Options{Seed: 6, Confidence: testConfidence})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.2f rps: exact %g/h, split %v, %d steps, base %d levels %v", rate, perHour, e, e.Steps, e.Split.Base, e.Split.Levels)
	if e.Lower > perHour || perHour > e.Upper {
		t.Errorf("exact hazard %g/h outside the interval %v", perHour, e)
	}
	wide := 0
	for _, st := range e.Split.Stages {
		if st.To-st.From > 1 {
			wide++
		}
	}
	if wide == 0 || len(e.Split.Stages) >= workers-e.Split.Base {
		t.Errorf("%d stages, %d of them wider than a level: the scout did not widen them", len(e.Split.Stages), wide)
	}
}

// The interval is honest: over many independent estimates, the 95 % interval covers the exact
// hazard about 95 % of the time (measured 92–95 % over 400 repetitions; asserted loosely).
func TestSplitIntervalCoverage(t *testing.T) {
	const reps = 100
	f := toyFactory(toyWorkers, toyMu)
	const perHour = 1e-4
	rate := toyRateFor(perHour, toyMu, toyWorkers)
	covered, ratio := 0, 0.0
	for i := range reps {
		e, err := Split(context.Background(), f, rate, Options{Seed: uint64(1000 + i)})
		if err != nil {
			t.Fatal(err)
		}
		if e.Lower <= perHour && perHour <= e.Upper {
			covered++
		}
		ratio += e.PerHour / perHour / reps
	}
	t.Logf("%d of %d intervals covered %g/h; mean estimate / exact = %.3f", covered, reps, perHour, ratio)
	if covered < 85 {
		t.Errorf("coverage %d/%d, want about 95", covered, reps)
	}
	// Unbiased: the mean of 100 estimates with ~25 % error each is within ~3 % of the truth.
	if ratio < 0.9 || ratio > 1.1 {
		t.Errorf("mean estimate is %.3f × the exact hazard, want about 1", ratio)
	}
}

func TestBruteForceMatchesExact(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	for _, perHour := range []float64{300, 30, 3} {
		rate := toyRateFor(perHour, toyMu, toyWorkers)
		e, err := BruteForce(context.Background(), f, rate, Options{Seed: 5, Confidence: testConfidence})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%.3f rps: exact %.3g/h, brute force %v (%d hangs in %.1f h)", rate, perHour, e, e.Hangs, e.ExposureHours)
		if e.Lower > perHour || perHour > e.Upper {
			t.Errorf("%.3f rps: exact hazard %.3g/h outside the interval %v", rate, perHour, e)
		}
		if e.Hangs < 10 {
			t.Errorf("%.3f rps: only %d hangs: the check is too weak", rate, e.Hangs)
		}
	}
}

func TestSplitAgreesWithBruteForce(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	for _, perHour := range []float64{100, 10} {
		rate := toyRateFor(perHour, toyMu, toyWorkers)
		opt := Options{Seed: 9, Confidence: testConfidence}
		s, err := Split(context.Background(), f, rate, opt)
		if err != nil {
			t.Fatal(err)
		}
		b, err := BruteForce(context.Background(), f, rate, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%.3f rps: split %v, brute force %v", rate, s, b)
		if s.Upper < b.Lower || b.Upper < s.Lower {
			t.Errorf("%.3f rps: intervals do not overlap: split %v, brute force %v", rate, s, b)
		}
		if s.Steps >= b.Steps {
			t.Logf("%.3f rps: splitting cost %d steps, brute force %d", rate, s.Steps, b.Steps)
		}
	}
}

// With fixed work times (the server's default) whether a state hangs soon depends on when its
// oldest page leaves, which Level does not see; splitting must still agree with brute force.
func TestSplitOnFixedWorkTimes(t *testing.T) {
	f := fixedToyFactory(toyWorkers, 1/toyMu)
	for _, rate := range []float64{25, 30} {
		opt := Options{Seed: 21, Confidence: testConfidence}
		s, err := Split(context.Background(), f, rate, opt)
		if err != nil {
			t.Fatal(err)
		}
		b, err := BruteForce(context.Background(), f, rate, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%g rps, 16 × 200 ms fixed: split %v, brute force %v (%d hangs)", rate, s, b, b.Hangs)
		if b.Hangs < 20 {
			t.Errorf("%g rps: brute force saw %d hangs: no check", rate, b.Hangs)
		}
		if s.Upper < b.Lower || b.Upper < s.Lower {
			t.Errorf("%g rps: intervals do not overlap: split %v, brute force %v", rate, s, b)
		}
	}
}

// At picks brute force where hangs come within seconds and splitting where they are rare, and
// both give the exact answer.
func TestAtChoosesTheEstimator(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	for _, tt := range []struct {
		perHour float64
		method  Method
	}{{3000, MethodBruteForce}, {1e-3, MethodSplitting}} {
		rate := toyRateFor(tt.perHour, toyMu, toyWorkers)
		e, err := At(context.Background(), f, rate, Options{Seed: 2, Confidence: testConfidence})
		if err != nil {
			t.Fatal(err)
		}
		if e.Method != tt.method {
			t.Errorf("%.3f rps (%.3g/h): method %s, want %s", rate, tt.perHour, e.Method, tt.method)
		}
		if e.Lower > tt.perHour || tt.perHour > e.Upper {
			t.Errorf("%.3f rps: exact hazard %.3g/h outside the interval %v", rate, tt.perHour, e)
		}
	}
}

func TestSameSeedSameEstimate(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	rate := toyRateFor(1e-2, toyMu, toyWorkers)
	for _, est := range []struct {
		name string
		run  func(context.Context, Factory, float64, Options) (Estimate, error)
	}{{"split", Split}, {"brute force", BruteForce}} {
		t.Run(est.name, func(t *testing.T) {
			var got []Estimate
			for _, o := range []Options{{Seed: 4, Parallel: 1}, {Seed: 4, Parallel: 2}, {Seed: 4, Parallel: 5}, {Seed: 5}} {
				o.Brute.Censor = 10 * time.Minute
				e, err := est.run(context.Background(), f, rate, o)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, e)
			}
			if !reflect.DeepEqual(got[0], got[1]) || !reflect.DeepEqual(got[0], got[2]) {
				t.Errorf("same seed, different parallelism, different estimates:\n%v\n%v\n%v", got[0], got[1], got[2])
			}
			if reflect.DeepEqual(got[0], got[3]) {
				t.Errorf("seeds 4 and 5 gave the same estimate %v", got[0])
			}
		})
	}
}

// A system that never hangs (timeouts free its workers, say) gets a zero hazard, with an upper
// bound that says how little could have been missed.
func TestSplitOfASystemThatNeverHangs(t *testing.T) {
	never := func(rate float64, seed uint64) System {
		s := toyFactory(toyWorkers, toyMu)(rate, seed).(*toy)
		s.n = toyWorkers + 1 // Level stops at 16 (the chain below never goes past it), so never absorbed.
		return &capped{toy: s, top: toyWorkers}
	}
	e, err := Split(context.Background(), never, 15, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("never hangs: %v, stages %d", e, len(e.Split.Stages))
	if e.PerHour != 0 || e.Lower != 0 {
		t.Errorf("a system that cannot hang: %v, want zero", e)
	}
	if !(e.Upper > 0) || e.Upper > 1 {
		t.Errorf("upper bound %g/h, want a small positive bound", e.Upper)
	}
}

// capped is a toy whose arrivals are turned away when top workers are held: it never hangs.
type capped struct {
	*toy
	top int
}

func (c *capped) Step() bool {
	if c.held >= c.top {
		c.now += c.rng.ExpFloat64() / (c.lambda + float64(c.held)*c.mu)
		if c.rng.Float64()*(c.lambda+float64(c.held)*c.mu) >= c.lambda {
			c.held--
		}
		return true
	}
	return c.toy.Step()
}

func (c *capped) Clone(seed uint64) System {
	return &capped{toy: c.toy.Clone(seed).(*toy), top: c.top}
}

func TestSplitHonoursLevels(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	rate := toyRateFor(1e-3, toyMu, toyWorkers)
	e, err := Split(context.Background(), f, rate, Options{Seed: 3, Confidence: testConfidence, Split: SplitOptions{Levels: []int{2, 6, 9}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{6, 9, 10, 11, 12, 13, 14, 15}
	if e.Split.Base != 2 || !reflect.DeepEqual(e.Split.Levels, want) {
		t.Errorf("base %d levels %v, want 2 and %v", e.Split.Base, e.Split.Levels, want)
	}
	if e.Lower > 1e-3 || 1e-3 > e.Upper {
		t.Errorf("exact hazard 1e-3/h outside the interval %v", e)
	}
}

func TestOptionsRejectNonsense(t *testing.T) {
	f := toyFactory(toyWorkers, toyMu)
	for _, tt := range []struct {
		name string
		rate float64
		opt  Options
	}{
		{"zero rate", 0, Options{}},
		{"one batch", 10, Options{Split: SplitOptions{Batches: 1}}},
		{"levels not increasing", 10, Options{Split: SplitOptions{Levels: []int{3, 3}}}},
		{"base alone", 10, Options{Split: SplitOptions{Levels: []int{3}}}},
		{"confidence 95", 10, Options{Confidence: 95}},
		{"negative effort", 10, Options{Split: SplitOptions{Effort: -1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Split(context.Background(), f, tt.rate, tt.opt); !invalid.Is(err) {
				t.Errorf("got %v, want a user's-mistake error", err)
			}
		})
	}
}

func TestSplitStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Split(ctx, toyFactory(toyWorkers, toyMu), 10, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}
