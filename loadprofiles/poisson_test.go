package loadprofiles

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// arrivals plays vegeta's attack loop against any pacer, never falling behind: Pace, advance
// the clock by the wait, send a hit. It returns the send time of every hit.
func arrivals(t *testing.T, p vegeta.Pacer) []time.Duration {
	t.Helper()
	return attacker{}.run(t, p)
}

func gaps(times []time.Duration) []float64 {
	out := make([]float64, 0, len(times))
	var prev time.Duration
	for _, at := range times {
		out = append(out, (at - prev).Seconds())
		prev = at
	}
	return out
}

// ksExp returns the Kolmogorov–Smirnov statistic of xs against Exp(rate).
func ksExp(xs []float64, rate float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := float64(len(s))
	d := 0.0
	for i, x := range s {
		f := 1 - math.Exp(-rate*x)
		d = max(d, f-float64(i)/n, float64(i+1)/n-f)
	}
	return d
}

func TestPoissonPacerHold(t *testing.T) {
	const rate, secs = 100.0, 1000
	stages := []Stage{{Duration: secs * time.Second, Target: rate, Mode: ModeHold}}
	for _, seed := range []int64{1, 2, 3} {
		times := arrivals(t, NewPoissonPacer(stages, seed))
		n := float64(len(times))
		if got := n / secs; math.Abs(got-rate)/rate > 0.02 {
			t.Errorf("seed %d: mean rate %.2f rps over %ds, want %v ± 2%%", seed, got, secs, rate)
		}
		if last := times[len(times)-1]; last > secs*time.Second {
			t.Errorf("seed %d: hit at %v, after the end", seed, last)
		}
		xs := gaps(times)
		// Kolmogorov–Smirnov at α = 0.01: reject if D > 1.628/√n. Evenly spaced hits give D ≈ 0.63.
		if d, crit := ksExp(xs, rate), 1.628/math.Sqrt(n); d > crit {
			t.Errorf("seed %d: gaps are not Exp(%v): KS D = %.4f > %.4f", seed, rate, d, crit)
		}
		// The same in words: an exponential's sd equals its mean, and e^-1 of the gaps are
		// longer than the mean.
		var sum, sq float64
		for _, x := range xs {
			sum += x
		}
		mean := sum / n
		above := 0
		for _, x := range xs {
			sq += (x - mean) * (x - mean)
			if x > mean {
				above++
			}
		}
		sd := math.Sqrt(sq / (n - 1))
		t.Logf("seed %d: %.0f hits, %.3f rps; KS D %.5f (crit %.5f); sd/mean %.4f; P(gap > mean) %.4f",
			seed, n, n/secs, ksExp(xs, rate), 1.628/math.Sqrt(n), sd/mean, float64(above)/n)
		if math.Abs(sd/mean-1) > 0.02 {
			t.Errorf("seed %d: gap sd %.5fs, mean %.5fs; want equal ± 2%%", seed, sd, mean)
		}
		if frac := float64(above) / n; math.Abs(frac-math.Exp(-1)) > 0.01 {
			t.Errorf("seed %d: %.4f of the gaps above the mean, want e^-1 = %.4f ± 0.01", seed, frac, math.Exp(-1))
		}
	}
}

func TestPoissonPacerRampFollowsIntegral(t *testing.T) {
	stages := []Stage{
		{Duration: 100 * time.Second, Target: 400, From: f64(20)},
		{Duration: 20 * time.Second, Target: 0, Mode: ModeHold},
		{Duration: 40 * time.Second, Target: 0, From: f64(300)},
	}
	sp := NewStagePacer(stages)
	h := func(at time.Duration) float64 { // the integral of the rate from 0 to at
		if at >= sp.total {
			return sp.hits
		}
		return sp.segs[sp.index(at)].integral(at)
	}
	const step = 10 * time.Second
	for _, seed := range []int64{1, 2, 3} {
		times := arrivals(t, NewPoissonPacer(stages, seed))
		for from := time.Duration(0); from < sp.Duration(); from += step {
			got := 0
			for _, at := range times {
				if at > from && at <= from+step {
					got++
				}
			}
			want := h(from+step) - h(from)
			// A Poisson count has sd √want: 4 sd, or exactly none where the rate is 0.
			if math.Abs(float64(got)-want) > 4*math.Sqrt(want) {
				t.Errorf("seed %d: %d hits in (%v, %v], integral %.1f", seed, got, from, from+step, want)
			}
		}
	}
}

func TestPoissonPacerSeed(t *testing.T) {
	stages := []Stage{{Duration: 30 * time.Second, Target: 150, From: f64(5)}}
	a := arrivals(t, NewPoissonPacer(stages, 1))
	b := arrivals(t, NewPoissonPacer(stages, 1))
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different arrival times")
	}
	c := arrivals(t, NewPoissonPacer(stages, 2))
	if slices.Equal(a[:100], c[:100]) {
		t.Error("seeds 1 and 2 gave the same arrival times")
	}
	// Profile.Pacer starts each pacer over.
	p := &Profile{Stages: stages, Arrivals: ArrivalsPoisson, Seed: 1}
	if d := arrivals(t, p.Pacer()); !slices.Equal(a, d) {
		t.Error("Profile.Pacer with seed 1 differs from NewPoissonPacer(stages, 1)")
	}
	if d := arrivals(t, p.Pacer()); !slices.Equal(a, d) {
		t.Error("a second Profile.Pacer did not start the sequence over")
	}
}

func TestPoissonPacerRepeatedHits(t *testing.T) {
	stages := []Stage{{Duration: 10 * time.Second, Target: 50, Mode: ModeHold}}
	ref := arrivals(t, NewPoissonPacer(stages, 5))
	p := NewPoissonPacer(stages, 5)
	// vegeta may ask again with the same hits (and a later elapsed): the same arrival is due.
	for _, k := range []uint64{0, 0, 1, 1, 1, 7, 7, 30, 29, 3, 30} {
		for _, elapsed := range []time.Duration{0, ref[k] / 2} {
			wait, stop := p.Pace(elapsed, k)
			if stop || elapsed+wait != ref[k] {
				t.Fatalf("Pace(%v, %d) = %v, %v; want arrival %d at %v", elapsed, k, wait, stop, k+1, ref[k])
			}
		}
	}
	// Behind schedule: catch up at once.
	if wait, stop := p.Pace(ref[40]+time.Millisecond, 10); wait != 0 || stop {
		t.Errorf("behind: Pace = %v, %v; want 0, false", wait, stop)
	}
}

func TestPoissonPacerStops(t *testing.T) {
	stages := []Stage{{Duration: 2 * time.Second, Target: 10, Mode: ModeHold}}
	p := NewPoissonPacer(stages, 1)
	n := uint64(len(arrivals(t, NewPoissonPacer(stages, 1))))
	tests := []struct {
		name     string
		elapsed  time.Duration
		hits     uint64
		wantStop bool
	}{
		{"at the start", 0, 0, false},
		{"last arrival", 0, n - 1, false},
		{"after the last arrival", 0, n, true},
		{"far beyond, at once", 0, 1 << 40, true},
		{"back to the start", 0, 0, false},
		{"at the end", 2 * time.Second, 0, true},
		{"past the end", time.Hour, 0, true},
	}
	for _, tt := range tests {
		if _, stop := p.Pace(tt.elapsed, tt.hits); stop != tt.wantStop {
			t.Errorf("%s: Pace(%v, %d) stop = %v, want %v", tt.name, tt.elapsed, tt.hits, stop, tt.wantStop)
		}
	}
	if _, stop := NewPoissonPacer(nil, 1).Pace(0, 0); !stop {
		t.Error("an empty pacer must stop at once")
	}
}

func TestPoissonPacerZeroRate(t *testing.T) {
	stages := []Stage{
		{Duration: 2 * time.Second, Target: 50, Mode: ModeHold},
		{Duration: 2 * time.Second, Target: 0, Mode: ModeHold},
		{Duration: 2 * time.Second, Target: 50, Mode: ModeHold},
	}
	for _, seed := range []int64{1, 2, 3} {
		p := NewPoissonPacer(stages, seed)
		for _, at := range arrivals(t, p) {
			if at > 2*time.Second && at <= 4*time.Second {
				t.Fatalf("seed %d: hit at %v, inside the zero-rate stage", seed, at)
			}
		}
		// Behind in the zero stretch: wait for the load to resume, not catch up at once.
		if wait, stop := p.Pace(3*time.Second, 50); stop || wait != time.Second {
			t.Errorf("seed %d: Pace(3s, 50) = %v, %v; want 1s until the rate resumes", seed, wait, stop)
		}
	}
}

func TestPoissonPacerDoesNotAllocate(t *testing.T) {
	p := NewPoissonPacer([]Stage{{Duration: 20 * time.Second, Target: 160, From: f64(10)}}, 1)
	hits := uint64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		p.Pace(time.Second, hits)
		p.Rate(time.Second)
		hits++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
}

// TestPoissonPacerDrivesVegeta runs a real vegeta attack at 200 rps for 3s: about 600 hits,
// and the attack ends by itself.
func TestPoissonPacerDrivesVegeta(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
	}))
	defer srv.Close()

	p := &Profile{Stages: []Stage{{Duration: 3 * time.Second, Target: 200, Mode: ModeHold}}, Arrivals: ArrivalsPoisson, Seed: 1}
	pacer := p.Pacer()
	if _, ok := pacer.(*PoissonPacer); !ok {
		t.Fatalf("Pacer() = %T, want *PoissonPacer", pacer)
	}
	atk := vegeta.NewAttacker(vegeta.Timeout(time.Second))
	defer atk.Stop()
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: srv.URL})

	began := time.Now()
	var n int
	deadline := time.After(15 * time.Second)
	results := atk.Attack(tr, pacer, 0, "poisson")
loop:
	for {
		select {
		case r, ok := <-results:
			if !ok {
				break loop
			}
			n++
			if r.Error != "" {
				t.Errorf("hit %d: %s", n, r.Error)
			}
		case <-deadline:
			t.Fatal("the attack did not end by itself")
		}
	}
	took := time.Since(began)
	t.Logf("%d hits in %v", n, took.Round(time.Millisecond))
	if took > 4*time.Second {
		t.Errorf("the attack took %v, want about 3s", took)
	}
	if n < 510 || n > 690 || served.Load() != int64(n) {
		t.Errorf("%d results, %d served; want 600 ± 15%%", n, served.Load())
	}
}

func TestParseArrivals(t *testing.T) {
	const stages = "stages: [{duration: 10s, target: 40}]\n"
	tests := []struct {
		name     string
		yaml     string
		arrivals Arrivals
		seed     int64
		field    string // the error's field, if the profile is refused
	}{
		{"defaults", stages, ArrivalsUniform, DefaultSeed, ""},
		{"poisson", stages + "arrivals: poisson\nseed: 42\n", ArrivalsPoisson, 42, ""},
		{"seed 0", stages + "arrivals: poisson\nseed: 0\n", ArrivalsPoisson, 0, ""},
		{"explicit uniform", stages + "arrivals: uniform\n", ArrivalsUniform, DefaultSeed, ""},
		{"unknown process", stages + "arrivals: gaussian\n", "", 0, "arrivals"},
		{"not a string", stages + "arrivals: [poisson]\n", "", 0, "arrivals"},
		{"negative seed", stages + "arrivals: poisson\nseed: -3\n", "", 0, "seed"},
		{"fractional seed", stages + "seed: 1.5\n", "", 0, "seed"},
		{"seed as a string", stages + "seed: 'x'\n", "", 0, "seed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("arr.yaml", []byte(tt.yaml))
			if tt.field != "" {
				var ie *invalid.Error
				if !errors.As(err, &ie) || ie.Field != tt.field || ie.Source != "arr.yaml" {
					t.Fatalf("Parse = %v, want an *invalid.Error on %s from arr.yaml", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Arrivals != tt.arrivals || p.Seed != tt.seed {
				t.Errorf("arrivals %q seed %d, want %q %d", p.Arrivals, p.Seed, tt.arrivals, tt.seed)
			}
			switch pacer := p.Pacer().(type) {
			case *StagePacer:
				if tt.arrivals != ArrivalsUniform {
					t.Errorf("Pacer() = %T for %s arrivals", pacer, tt.arrivals)
				}
			case *PoissonPacer:
				if tt.arrivals != ArrivalsPoisson || pacer.Seed() != tt.seed {
					t.Errorf("Pacer() = PoissonPacer seed %d for %s arrivals, seed %d", pacer.Seed(), tt.arrivals, tt.seed)
				}
			default:
				t.Errorf("Pacer() = %T", pacer)
			}
		})
	}
	// Validate catches the same in a profile built in code.
	p := &Profile{Stages: []Stage{{Duration: time.Second, Target: 1}}, Arrivals: "Poisson"}
	p.Normalize()
	var ie *invalid.Error
	if err := p.Validate(); !errors.As(err, &ie) || ie.Field != "arrivals" {
		t.Errorf("Validate(arrivals Poisson) = %v, want an error on arrivals", err)
	}
}

func TestServerWorkTimeKeys(t *testing.T) {
	p, err := Parse("w.yaml", []byte(`stages: [{duration: 10s, target: 40}]
server: {work_time: 200ms, work_time_dist: lognormal, work_time_p99: 1s, work_time_seed: 9}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--work-time=200ms", "--work-time-dist=lognormal", "--work-time-p99=1s", "--work-time-seed=9"}
	if got := p.Server.Flags(); !slices.Equal(got, want) {
		t.Errorf("Flags() = %q, want %q", got, want)
	}
	for yaml, field := range map[string]string{
		"server: {work_time_dist: normal}":  "server.work_time_dist",
		"server: {work_time_p99: -1s}":      "server.work_time_p99",
		"server: {work_time_seed: -1}":      "server.work_time_seed",
		"server: {work_time_p99: 10}":       "server.work_time_p99",
		"server: {work_time_seed: seventh}": "server.work_time_seed",
	} {
		_, err := Parse("w.yaml", []byte("stages: [{duration: 10s, target: 40}]\n"+yaml+"\n"))
		var ie *invalid.Error
		if !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s: Parse = %v, want an *invalid.Error on %s", yaml, err, field)
		}
	}
}
