package loadprofiles

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// shardStages has a ramp, a hold, a ramp with its own start rate and a stretch at rate 0: every
// kind of piece a shard must split.
var shardStages = []Stage{
	{Duration: 6 * time.Second, From: f64(10), Target: 60, Mode: ModeRamp},
	{Duration: 3 * time.Second, Target: 40, Mode: ModeHold},
	{Duration: 2 * time.Second, Target: 0, Mode: ModeHold},
	{Duration: 4 * time.Second, From: f64(0), Target: 25, Mode: ModeRamp},
}

// Uniform arrivals split across N shards are the unsharded load to the nanosecond: every hit
// the whole profile sends is sent by exactly one shard at the same moment, and each shard's
// own rate curve is 1/N of the whole.
func TestShardUniformUnionIsTheWholeLoad(t *testing.T) {
	whole := &Profile{Stages: shardStages}
	want := arrivals(t, whole.Pacer())
	for _, n := range []int{1, 2, 3, 7} {
		var union []time.Duration
		for i := range n {
			prof, pacer := whole.Shard(Shard{Index: i, Count: n})
			mine := arrivals(t, pacer)
			union = append(union, mine...)
			for _, at := range []time.Duration{0, 3 * time.Second, 7 * time.Second, 10 * time.Second, 14 * time.Second} {
				if got, w := prof.RateAt(at), whole.RateAt(at)/float64(n); math.Abs(got-w) > 1e-9 {
					t.Errorf("shard %d/%d: rate at %v = %g, want %g", i, n, at, got, w)
				}
			}
			if math.Abs(pacer.Hits()-whole.Pacer().Hits()/float64(n)) > 1e-9 {
				t.Errorf("shard %d/%d: expects %g hits, want %g", i, n, pacer.Hits(), whole.Pacer().Hits()/float64(n))
			}
		}
		slices.Sort(union)
		if len(union) != len(want) {
			t.Fatalf("%d shards sent %d hits together, the whole profile %d", n, len(union), len(want))
		}
		for k := range want {
			if d := union[k] - want[k]; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("%d shards: hit %d at %v, the whole profile's at %v", n, k, union[k], want[k])
			}
		}
	}
}

// Poisson arrivals: each shard draws its own sequence (a seed of its own), and the shards
// together are a Poisson process at the whole rate: as many hits as the whole profile within
// chance, exponential gaps. One shard is the profile itself, seed and all.
func TestShardPoissonUnionIsPoissonAtTheWholeRate(t *testing.T) {
	const rate, secs, n = 300.0, 200, 3
	whole := &Profile{Stages: []Stage{{Duration: secs * time.Second, Target: rate, Mode: ModeHold}}, Arrivals: ArrivalsPoisson, Seed: 7}
	var union []time.Duration
	seeds := map[int64]int{}
	for i := range n {
		prof, pacer := whole.Shard(Shard{Index: i, Count: n})
		if prof.Seed < 0 {
			t.Fatalf("shard %d: seed %d, want >= 0", i, prof.Seed)
		}
		seeds[prof.Seed]++
		union = append(union, arrivals(t, pacer)...)
	}
	if len(seeds) != n {
		t.Errorf("shard seeds %v: want %d different ones", seeds, n)
	}
	slices.Sort(union)
	// The count is Poisson with mean rate x secs: 4 standard deviations either way.
	mean := rate * secs
	if got := float64(len(union)); math.Abs(got-mean) > 4*math.Sqrt(mean) {
		t.Errorf("shards sent %.0f hits together, want %.0f ± %.0f", got, mean, 4*math.Sqrt(mean))
	}
	// Kolmogorov–Smirnov at α = 0.01 against Exp(rate), as TestPoissonPacerHold.
	if d, crit := ksExp(gaps(union), rate), 1.628/math.Sqrt(float64(len(union))); d > crit {
		t.Errorf("the union's gaps are not Exp(%v): KS D = %.4f > %.4f", rate, d, crit)
	}

	one, pacer := whole.Shard(Shard{Index: 0, Count: 1})
	if one.Seed != whole.Seed || !slices.Equal(arrivals(t, pacer), arrivals(t, whole.Pacer())) {
		t.Errorf("shard 0/1 differs from the profile itself (seed %d, want %d)", one.Seed, whole.Seed)
	}
}

// Sharding copies: the profile a caller keeps still offers the whole load.
func TestShardLeavesTheProfileAlone(t *testing.T) {
	whole := &Profile{Stages: slices.Clone(shardStages)}
	before := whole.RateAt(time.Second)
	whole.Shard(Shard{Index: 1, Count: 4})
	if whole.RateAt(time.Second) != before || *whole.Stages[0].From != 10 {
		t.Errorf("Shard changed the profile: rate %g (was %g), from %g", whole.RateAt(time.Second), before, *whole.Stages[0].From)
	}
}

func TestShardValidate(t *testing.T) {
	for _, tt := range []struct {
		s    Shard
		want string // "" = valid
	}{
		{Shard{0, 1}, ""},
		{Shard{2, 3}, ""},
		{Shard{MaxShards - 1, MaxShards}, ""},
		{Shard{3, 3}, "0 to 2"},
		{Shard{-1, 3}, "0 to 2"},
		{Shard{0, 0}, "from 1 to"},
		{Shard{0, MaxShards + 1}, "from 1 to"},
	} {
		err := tt.s.Validate("--shard")
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.s, err)
		case tt.want != "" && (!invalid.Is(err) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "--shard: ")):
			t.Errorf("%v: error %v, want one naming --shard and %q", tt.s, err, tt.want)
		}
	}
}
