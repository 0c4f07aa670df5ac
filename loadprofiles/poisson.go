package loadprofiles

import (
	"math/rand/v2"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

var _ vegeta.Pacer = (*PoissonPacer)(nil)

// pcgStream is the second half of the PCG's 128-bit seed. It is fixed so that the profile's seed
// alone picks the sequence; any constant would do, this one is the first 64 bits of π's
// fraction.
const pcgStream = 0x243f6a8885a308d3

// PoissonPacer is a vegeta.Pacer whose hits arrive as a non-homogeneous Poisson process whose
// rate at each moment is the stages' rate (the same curve as StagePacer's). Real users arrive
// independently of each other, so their requests bunch up and leave gaps; evenly spaced hits
// never do, and a deadlock that needs a moment when every worker is busy at once shows up
// later with them.
//
// It works by time rescaling: with H(t) the integral of the rate, the arrival numbered k (from
// 1) is due when H reaches S_k = E_1 + … + E_k, where the E_i are independent Exp(1) draws
// from a PCG seeded with seed, so the same seed gives the same arrival times. The hits over the
// whole profile are therefore Poisson distributed with mean H(end) (Hits), not exactly H(end).
//
// As with StagePacer, an attacker that fell behind is told to catch up at once (wait 0), except
// where the rate is 0, and Pace returns stop=true at the end or once the next arrival falls
// after it.
//
// Only the next arrival's S is kept: vegeta asks with hits growing one at a time, and a repeated
// call with the same hits gets the same answer. A call with fewer hits than an earlier one
// replays the sequence from the seed (cost proportional to hits); vegeta never makes one.
//
// A PoissonPacer is safe for concurrent use; Pace and Rate do not allocate.
type PoissonPacer struct {
	curve *StagePacer
	seed  int64

	mu  sync.Mutex
	pcg *rand.PCG
	rng *rand.Rand
	n   uint64  // the hits that s belongs to: s is S_{n+1}, when arrival n+1 is due
	s   float64 // S_{n+1}
}

// NewPoissonPacer returns a Poisson pacer for stages (which should be validated) whose arrival
// sequence is determined by seed.
func NewPoissonPacer(stages []Stage, seed int64) *PoissonPacer {
	p := &PoissonPacer{curve: NewStagePacer(stages), seed: seed, pcg: rand.NewPCG(uint64(seed), pcgStream)}
	p.rng = rand.New(p.pcg)
	p.restart()
	return p
}

// restart rewinds the arrival sequence to its first arrival.
func (p *PoissonPacer) restart() {
	p.pcg.Seed(uint64(p.seed), pcgStream)
	p.n, p.s = 0, p.rng.ExpFloat64()
}

// Seed returns the seed of the arrival sequence.
func (p *PoissonPacer) Seed() int64 { return p.seed }

// Duration returns the total duration of the stages.
func (p *PoissonPacer) Duration() time.Duration { return p.curve.Duration() }

// Hits returns the expected number of hits over the whole profile: the integral of the rate.
func (p *PoissonPacer) Hits() float64 { return p.curve.Hits() }

// Pace implements vegeta.Pacer: it returns how long to wait before the arrival numbered hits+1,
// given the time elapsed since the attack began.
func (p *PoissonPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if elapsed >= p.curve.total {
		return 0, true
	}
	p.mu.Lock()
	due := p.arrival(hits)
	p.mu.Unlock()
	return p.curve.paceTo(elapsed, due)
}

// arrival returns S_{hits+1}, or some S beyond the end of the curve when that arrival would fall
// after it. The caller holds mu.
func (p *PoissonPacer) arrival(hits uint64) float64 {
	if hits < p.n {
		p.restart()
	}
	// Once S is past the end every later one is too (the E_i are positive), so there is no need
	// to draw up to a hits count far beyond the profile's.
	for p.n < hits && p.s <= p.curve.hits {
		p.s += p.rng.ExpFloat64()
		p.n++
	}
	return p.s
}

// Rate implements vegeta.Pacer: the instantaneous rate of the process (requests/second) at
// elapsed, the stages' rate; it agrees with Profile.RateAt.
func (p *PoissonPacer) Rate(elapsed time.Duration) float64 { return p.curve.Rate(elapsed) }
