package loadprofiles

import (
	"math"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func f64(v float64) *float64 { return &v }

// attacker plays vegeta's attack loop against a pacer: Pace, sleep the wait (plus a stall if
// the test injects one), send a hit. It returns the send time of every hit.
type attacker struct {
	// stall, if set, is added to the wait before the hit numbered stallAt.
	stall   time.Duration
	stallAt uint64
}

func (a attacker) run(t *testing.T, sp vegeta.Pacer) []time.Duration {
	t.Helper()
	var times []time.Duration
	var elapsed time.Duration
	for hits := uint64(0); ; hits++ {
		wait, stop := sp.Pace(elapsed, hits)
		if stop {
			return times
		}
		if wait < 0 {
			t.Fatalf("Pace(%v, %d) = %v: negative wait", elapsed, hits, wait)
		}
		// vegeta reads wait 0 as "as fast as possible": never right where no load is offered.
		if wait == 0 && sp.Rate(elapsed) == 0 {
			t.Fatalf("Pace(%v, %d) = 0 where the rate is 0", elapsed, hits)
		}
		elapsed += wait
		if a.stall > 0 && hits == a.stallAt {
			elapsed += a.stall
		}
		times = append(times, elapsed)
		if len(times) > 10_000_000 {
			t.Fatalf("runaway pacer: %d hits by %v", len(times), elapsed)
		}
	}
}

// stageIntegral returns the expected hits of each stage: the area under its rate line.
func stageIntegral(stages []Stage) []float64 {
	out := make([]float64, len(stages))
	prev := 0.0
	for i, s := range stages {
		r0, r1 := s.rates(prev)
		prev = s.Target
		out[i] = (r0 + r1) / 2 * s.Duration.Seconds()
	}
	return out
}

// perStage counts the hits sent within each stage's [start, end).
func perStage(stages []Stage, times []time.Duration) []int {
	counts := make([]int, len(stages))
	for _, at := range times {
		var start time.Duration
		for i, s := range stages {
			if at >= start && at < start+s.Duration {
				counts[i]++
				break
			}
			start += s.Duration
		}
	}
	return counts
}

func TestStagePacerHitsMatchIntegral(t *testing.T) {
	tests := []struct {
		name   string
		stages []Stage
	}{
		{"hold", []Stage{{Duration: 10 * time.Second, Target: 40, Mode: ModeHold}}},
		{"ramp from zero", []Stage{{Duration: 20 * time.Second, Target: 160}}},
		{"quick", []Stage{
			{Duration: 20 * time.Second, Target: 160, From: f64(10)},
			{Duration: 5 * time.Second, Target: 160, Mode: ModeHold},
		}},
		{"ramp down to zero", []Stage{
			{Duration: 3 * time.Second, Target: 90, Mode: ModeHold},
			{Duration: 7 * time.Second, Target: 0},
		}},
		{"fractional rates", []Stage{
			{Duration: 9 * time.Second, Target: 2.5, Mode: ModeHold},
			{Duration: 4 * time.Second, Target: 0.3},
			{Duration: 6 * time.Second, Target: 7.7, From: f64(1.1)},
		}},
		{"zero then positive", []Stage{
			{Duration: 2 * time.Second, Target: 0, Mode: ModeHold},
			{Duration: 3 * time.Second, Target: 30, Mode: ModeHold},
		}},
		{"staircase", []Stage{
			{Duration: 8 * time.Second, Target: 20, Mode: ModeHold},
			{Duration: 8 * time.Second, Target: 40, Mode: ModeHold},
			{Duration: 8 * time.Second, Target: 60, Mode: ModeHold},
		}},
		{"spike", []Stage{
			{Duration: 15 * time.Second, Target: 20, Mode: ModeHold},
			{Duration: 5 * time.Second, Target: 160, Mode: ModeHold},
			{Duration: 15 * time.Second, Target: 20, Mode: ModeHold},
		}},
		{"high rate ramp", []Stage{{Duration: 5 * time.Second, Target: 20000, From: f64(1000)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := NewStagePacer(tt.stages)
			times := attacker{}.run(t, sp)
			want := stageIntegral(tt.stages)
			got := perStage(tt.stages, times)
			total := 0.0
			for i := range want {
				total += want[i]
				if math.Abs(float64(got[i])-want[i]) > 1 {
					t.Errorf("stage %d: %d hits, integral %.2f", i, got[i], want[i])
				}
			}
			// Hits are centred on their share of the curve: the total is the integral rounded.
			if n := len(times); math.Abs(float64(n)-total) > 0.5+1e-9 {
				t.Errorf("total %d hits, integral %.2f", n, total)
			}
			if math.Abs(sp.Hits()-total) > 1e-6 {
				t.Errorf("Hits() = %v, want %v", sp.Hits(), total)
			}
			if last := times[len(times)-1]; last > sp.Duration() {
				t.Errorf("last hit at %v, after the end %v", last, sp.Duration())
			}
		})
	}
}

func TestStagePacerRampFollowsRate(t *testing.T) {
	tests := []struct {
		name  string
		stage Stage
	}{
		{"up from zero", Stage{Duration: 20 * time.Second, Target: 160}},
		{"up from 10", Stage{Duration: 20 * time.Second, Target: 160, From: f64(10)}},
		{"down", Stage{Duration: 10 * time.Second, Target: 5, From: f64(200)}},
		{"gentle", Stage{Duration: 60 * time.Second, Target: 10.5, From: f64(10)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := NewStagePacer([]Stage{tt.stage})
			times := attacker{}.run(t, sp)
			if len(times) < 50 {
				t.Fatalf("only %d hits", len(times))
			}
			for k := 1; k < len(times); k++ {
				dt := times[k] - times[k-1]
				if dt <= 0 {
					t.Fatalf("hit %d at %v, not after hit %d at %v", k, times[k], k-1, times[k-1])
				}
				// Between two hits one hit's worth of the curve passes, so for a linear rate
				// 1/dt is the rate at the midpoint, up to the nanosecond rounding of the times.
				mid := times[k-1] + dt/2
				got, want := 1/dt.Seconds(), sp.Rate(mid)
				if math.Abs(got-want) > 1e-3*want+1e-6 {
					t.Fatalf("between hits %d and %d (t=%v): rate %.4f, curve %.4f", k-1, k, mid, got, want)
				}
			}
		})
	}
}

func TestStagePacerHold(t *testing.T) {
	const rate = 40.0
	sp := NewStagePacer([]Stage{{Duration: 5 * time.Second, Target: rate, Mode: ModeHold}})
	times := attacker{}.run(t, sp)
	if len(times) != 200 {
		t.Fatalf("%d hits, want 200", len(times))
	}
	interval := time.Duration(float64(time.Second) / rate)
	if first := times[0]; absDur(first-interval/2) > time.Nanosecond {
		t.Errorf("first hit at %v, want half an interval in (%v)", first, interval/2)
	}
	for k := 1; k < len(times); k++ {
		if dt := times[k] - times[k-1]; absDur(dt-interval) > time.Nanosecond {
			t.Fatalf("interval %d = %v, want %v", k, dt, interval)
		}
	}
}

func TestStagePacerZeroRate(t *testing.T) {
	t.Run("zero hold then positive", func(t *testing.T) {
		sp := NewStagePacer([]Stage{
			{Duration: 2 * time.Second, Target: 0, Mode: ModeHold},
			{Duration: time.Second, Target: 10, Mode: ModeHold},
		})
		wait, stop := sp.Pace(0, 0)
		if stop || wait != 2050*time.Millisecond {
			t.Fatalf("Pace(0, 0) = %v, %v; want the first hit half an interval into the hold: 2.05s", wait, stop)
		}
		times := attacker{}.run(t, sp)
		if len(times) != 10 || times[0] < 2*time.Second {
			t.Fatalf("hits %v: want 10, none before 2s", times)
		}
	})
	t.Run("ramp from zero starts slowly", func(t *testing.T) {
		// H(t) = 5t² for a ramp 0→100 over 10s: the first hit is due at H = ½, t = √0.1 s.
		sp := NewStagePacer([]Stage{{Duration: 10 * time.Second, Target: 100}})
		wait, _ := sp.Pace(0, 0)
		want := time.Duration(math.Sqrt(0.1) * 1e9)
		if absDur(wait-want) > time.Microsecond {
			t.Fatalf("first wait %v, want %v", wait, want)
		}
	})
	t.Run("behind at zero rate waits for load", func(t *testing.T) {
		stages := []Stage{
			{Duration: 2 * time.Second, Target: 50, Mode: ModeHold},
			{Duration: 2 * time.Second, Target: 0, Mode: ModeHold},
			{Duration: 2 * time.Second, Target: 50, Mode: ModeHold},
		}
		sp := NewStagePacer(stages)
		// The attacker stalls for a second at 1.49s and so is ~25 hits behind in the zero
		// stretch; it must not catch up there, but once the load resumes at 4s.
		times := attacker{stall: time.Second, stallAt: 74}.run(t, sp)
		for _, at := range times {
			if at > 2500*time.Millisecond && at < 4*time.Second {
				t.Fatalf("hit at %v, inside the zero-rate stage", at)
			}
		}
		if n := len(times); n != 200 {
			t.Errorf("%d hits, want all 200 in the end", n)
		}
		wait, stop := sp.Pace(3*time.Second, 50)
		if stop || wait != time.Second {
			t.Errorf("Pace(3s, 50 of 100 hits) = %v, %v; want 1s until the rate resumes", wait, stop)
		}
	})
	t.Run("behind at the start of a ramp from zero", func(t *testing.T) {
		sp := NewStagePacer([]Stage{
			{Duration: time.Second, Target: 10, Mode: ModeHold},
			{Duration: time.Second, Target: 0, Mode: ModeHold},
			{Duration: time.Second, Target: 10},
		})
		if wait, stop := sp.Pace(2*time.Second, 0); stop || wait <= 0 {
			t.Errorf("Pace = %v, %v; want a positive wait at rate 0", wait, stop)
		}
	})
}

func TestStagePacerStops(t *testing.T) {
	stages := []Stage{{Duration: 2 * time.Second, Target: 10, Mode: ModeHold}}
	sp := NewStagePacer(stages)
	tests := []struct {
		name     string
		elapsed  time.Duration
		hits     uint64
		wantStop bool
	}{
		{"at the start", 0, 0, false},
		{"mid-run", time.Second, 10, false},
		{"at the end", 2 * time.Second, 20, true},
		{"at the end, behind", 2 * time.Second, 3, true},
		{"past the end", time.Hour, 0, true},
		{"all hits sent early", time.Second, 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, stop := sp.Pace(tt.elapsed, tt.hits); stop != tt.wantStop {
				t.Errorf("Pace(%v, %d) stop = %v, want %v", tt.elapsed, tt.hits, stop, tt.wantStop)
			}
		})
	}
	if r := sp.Rate(2 * time.Second); r != 0 {
		t.Errorf("Rate at the end = %v, want 0", r)
	}
	t.Run("trailing zero stage ends the attack at the last hit", func(t *testing.T) {
		sp := NewStagePacer(append(stages, Stage{Duration: 10 * time.Second, Target: 0, Mode: ModeHold}))
		times := attacker{}.run(t, sp)
		if len(times) != 20 || times[len(times)-1] > 2*time.Second {
			t.Fatalf("%d hits, last at %v; want 20, none after 2s", len(times), times[len(times)-1])
		}
	})
	t.Run("no stages", func(t *testing.T) {
		if _, stop := NewStagePacer(nil).Pace(0, 0); !stop {
			t.Error("an empty pacer must stop at once")
		}
	})
}

func TestStagePacerRateMatchesProfile(t *testing.T) {
	p := &Profile{Stages: []Stage{
		{Duration: 3 * time.Second, Target: 30},
		{Duration: 2 * time.Second, Target: 90, Mode: ModeHold},
		{Duration: 4 * time.Second, Target: 0, From: f64(120)},
		{Duration: time.Second, Target: 0, Mode: ModeHold},
	}}
	sp := p.Pacer()
	for at := -time.Second; at <= 11*time.Second; at += 7 * time.Millisecond {
		if got, want := sp.Rate(at), p.RateAt(at); math.Abs(got-want) > 1e-9 {
			t.Fatalf("Rate(%v) = %v, Profile.RateAt = %v", at, got, want)
		}
	}
}

func TestStagePacerDoesNotAllocate(t *testing.T) {
	sp := NewStagePacer([]Stage{
		{Duration: 2 * time.Second, Target: 0, Mode: ModeHold},
		{Duration: 20 * time.Second, Target: 160, From: f64(10)},
		{Duration: 5 * time.Second, Target: 160, Mode: ModeHold},
	})
	allocs := testing.AllocsPerRun(1000, func() {
		sp.Pace(7*time.Second, 300)
		sp.Pace(time.Second, 0)
		sp.Rate(9 * time.Second)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
}

func BenchmarkStagePacerPace(b *testing.B) {
	stages := make([]Stage, 0, 12)
	for i := range 12 {
		stages = append(stages, Stage{Duration: 8 * time.Second, Target: float64(20 * (i + 1)), Mode: ModeHold})
	}
	sp := NewStagePacer(stages)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sp.Pace(time.Duration(i%90)*time.Second, uint64(i%5000))
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
