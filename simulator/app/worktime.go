package app

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/simdev/sim/internal/serverconf"
)

// Work time distributions (work_time_dist), as serverconf names them.
const (
	// WorkFixed: every /page works exactly work_time.
	WorkFixed = serverconf.WorkFixed
	// WorkExponential: work times are exponential with mean work_time.
	WorkExponential = serverconf.WorkExponential
	// WorkLognormal: work times are lognormal with median work_time and p99 work_time_p99.
	WorkLognormal = serverconf.WorkLognormal
)

// DefaultWorkTimeSeed seeds the work time draws when no seed is given (serverconf's).
const DefaultWorkTimeSeed = serverconf.DefaultWorkTimeSeed

const (
	// maxWorkDraw is the ceiling of a single draw, which Validate keeps every p99 under.
	maxWorkDraw = serverconf.MaxWorkDraw
	// workCapP99s caps a draw at 10 × the distribution's p99 (below maxWorkDraw): far out in the
	// tail, so the cut changes nothing a run measures (exponential: 10 × p99 is 46 means, a draw
	// beyond it has probability e^-46; lognormal with p99 = 10 × median: 2·z99 σ, 1 in 600,000).
	workCapP99s = 10
	// z99 is the standard normal's 99th percentile: a lognormal's p99 is median × e^(σ·z99).
	z99 = 2.3263478740408408
	// workPCGStream is the second half of the PCG's 128-bit seed, fixed so that work_time_seed
	// alone picks the sequence; any constant would do (the first 64 bits of e's fraction).
	workPCGStream = 0xb7e151628aed2a6a
)

// exponentialP99 is the 99th percentile of an exponential distribution of mean m.
func exponentialP99(m time.Duration) time.Duration { return serverconf.ExponentialP99(m) }

// workTimes draws the work time of each /page. Its generator is a PCG seeded with
// work_time_seed when the app starts, behind a mutex: the sequence of draws, in the order the
// requests make them, is the same from one start to the next. Which request gets which draw
// depends on the order in which workers reach it, which the scheduler decides.
//
// Draws are capped at min(10 × p99, 60 s) so that a pathological draw cannot pin a worker for
// good; Validate keeps the p99 under 60 s, so the cap cuts less than 1 % of the draws and, in
// practice, none.
type workTimes struct {
	dist  string
	base  float64 // work_time in ns: the constant, the mean or the median
	sigma float64 // lognormal: σ of the underlying normal
	cap   float64 // ns

	mu  sync.Mutex
	rng *rand.Rand
}

// newWorkTimes returns the work time source of a validated config.
func newWorkTimes(c Config) *workTimes {
	w := &workTimes{
		dist: c.WorkTimeDist,
		base: float64(c.WorkTime),
		rng:  rand.New(rand.NewPCG(uint64(c.WorkTimeSeed), workPCGStream)),
	}
	var p99 float64
	switch c.WorkTimeDist {
	case WorkExponential:
		p99 = float64(exponentialP99(c.WorkTime))
	case WorkLognormal:
		w.sigma = math.Log(float64(c.WorkTimeP99)/w.base) / z99
		p99 = float64(c.WorkTimeP99)
	}
	w.cap = math.Min(workCapP99s*p99, float64(maxWorkDraw))
	return w
}

// next draws the next work time.
func (w *workTimes) next() time.Duration {
	var d float64
	switch w.dist {
	case WorkExponential:
		w.mu.Lock()
		d = w.base * w.rng.ExpFloat64()
		w.mu.Unlock()
	case WorkLognormal:
		w.mu.Lock()
		d = w.base * math.Exp(w.sigma*w.rng.NormFloat64())
		w.mu.Unlock()
	default:
		return time.Duration(w.base)
	}
	return time.Duration(math.Round(math.Min(d, w.cap)))
}
