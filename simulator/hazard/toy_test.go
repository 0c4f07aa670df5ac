package hazard

import (
	"math"
	"math/rand/v2"
)

// toy is a birth-death chain with an exact answer: page requests arrive as a Poisson process
// of rate lambda, each takes a free worker at once and holds it for an exponential time of
// mean 1/mu, and the system hangs for good when all n workers are held at once.
type toy struct {
	lambda, mu float64
	n          int
	held       int
	now        float64
	rng        *rand.Rand
}

var _ System = (*toy)(nil)

// toyFactory is a Factory of toys with n workers holding pages for 1/mu seconds on average.
func toyFactory(n int, mu float64) Factory {
	return func(rate float64, seed uint64) System {
		return &toy{lambda: rate, mu: mu, n: n, rng: rand.New(rand.NewPCG(seed, toyStream))}
	}
}

// toyStream is the second PCG word of every toy generator; any constant will do.
const toyStream = 0x5eed

func (t *toy) Now() float64   { return t.now }
func (t *toy) Level() int     { return t.held }
func (t *toy) Absorbed() bool { return t.held >= t.n }

func (t *toy) Step() bool {
	if t.Absorbed() {
		// Arrivals keep queueing behind the hung workers; nothing else ever happens.
		t.now += t.rng.ExpFloat64() / t.lambda
		return true
	}
	total := t.lambda + float64(t.held)*t.mu
	t.now += t.rng.ExpFloat64() / total
	if t.rng.Float64()*total < t.lambda {
		t.held++
	} else {
		t.held--
	}
	return true
}

func (t *toy) Clone(seed uint64) System {
	c := *t
	c.rng = rand.New(rand.NewPCG(seed, toyStream))
	return &c
}

// exactMeanTime is the mean time for the toy to go from empty to all n workers held, by the
// birth-death first-passage recursion: with birth rate λ and death rate kμ in state k, the
// mean time Tₖ to go from k to k+1 satisfies Tₖ = 1/(λ+kμ) + kμ/(λ+kμ)·(Tₖ₋₁ + Tₖ), that is
// Tₖ = (1 + kμ·Tₖ₋₁)/λ with T₀ = 1/λ, and the mean time to absorption is Σₖ₌₀ⁿ⁻¹ Tₖ.
func exactMeanTime(lambda, mu float64, n int) float64 {
	sum, prev := 0.0, 0.0
	for k := range n {
		prev = (1 + float64(k)*mu*prev) / lambda
		sum += prev
	}
	return sum
}

// exactHazard is the toy's hazard per hour, 1 / mean time to hang.
func exactHazard(lambda, mu float64, n int) float64 {
	return 3600 / exactMeanTime(lambda, mu, n)
}

// toyRateFor is the rate at which the toy's exact hazard is perHour (bisection on log rate:
// the hazard grows monotonically with the rate).
func toyRateFor(perHour, mu float64, n int) float64 {
	lo, hi := 1e-3, 1e4
	for range 200 {
		mid := math.Sqrt(lo * hi)
		if exactHazard(mid, mu, n) < perHour {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Sqrt(lo * hi)
}

// fixedToy is the toy with fixed holding times: n workers, page requests arriving as a Poisson
// process of rate lambda, each holding a free worker for exactly hold seconds, hung for good
// when all n are held. It is the mechanics of the 16 × 200 ms server without the self-call:
// whether a state hangs soon depends on when its oldest page leaves, not only on the level.
type fixedToy struct {
	lambda, hold float64
	n            int
	ends         []float64 // departure times, oldest first (holds are equal: FIFO)
	now          float64
	rng          *rand.Rand
}

var _ System = (*fixedToy)(nil)

// fixedToyFactory is a Factory of fixedToys.
func fixedToyFactory(n int, hold float64) Factory {
	return func(rate float64, seed uint64) System {
		return &fixedToy{lambda: rate, hold: hold, n: n, rng: rand.New(rand.NewPCG(seed, toyStream))}
	}
}

func (t *fixedToy) Now() float64   { return t.now }
func (t *fixedToy) Level() int     { return len(t.ends) }
func (t *fixedToy) Absorbed() bool { return len(t.ends) >= t.n }

// Step draws the next arrival afresh each time, which the Poisson process's lack of memory
// allows: an arrival drawn beyond the next departure is forgotten, not postponed.
func (t *fixedToy) Step() bool {
	next := t.now + t.rng.ExpFloat64()/t.lambda
	if t.Absorbed() {
		t.now = next
		return true
	}
	if len(t.ends) > 0 && t.ends[0] <= next {
		t.now = t.ends[0]
		t.ends = t.ends[1:]
		return true
	}
	t.now = next
	t.ends = append(t.ends, next+t.hold)
	return true
}

func (t *fixedToy) Clone(seed uint64) System {
	c := *t
	c.ends = append([]float64(nil), t.ends...)
	c.rng = rand.New(rand.NewPCG(seed, toyStream))
	return &c
}
