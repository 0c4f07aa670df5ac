package model

import (
	"math"
	"math/rand/v2"

	"github.com/simdev/sim/internal/serverconf"
)

// workDist draws work times exactly as simulator/app's workTimes does (same formulas, same
// cap, rounded to the nanosecond), so that a generator seeded like the app's draws the same
// sequence.
type workDist struct {
	dist  string
	base  float64 // ns
	sigma float64
	cap   float64 // ns
}

// workPCGStream equals simulator/app's workPCGStream (worktime.go): with it and work_time_seed
// the model draws the work times `sim serve` draws, in the same order.
const workPCGStream = 0xb7e151628aed2a6a

func newWorkDist(c serverconf.Config) workDist {
	w := workDist{dist: c.WorkTimeDist, base: float64(c.WorkTime)}
	var p99 float64
	switch c.WorkTimeDist {
	case serverconf.WorkExponential:
		p99 = float64(int64(float64(c.WorkTime) * math.Log(100)))
	case serverconf.WorkLognormal:
		w.sigma = math.Log(float64(c.WorkTimeP99)/w.base) / z99
		p99 = float64(c.WorkTimeP99)
	}
	w.cap = math.Min(workCapP99s*p99, float64(maxWorkDraw))
	return w
}

// The cap of simulator/app's draws: min(10 × p99, 60 s); z99 is the standard normal's 99th
// percentile.
const (
	workCapP99s = 10
	maxWorkDraw = 60e9
	z99         = 2.3263478740408408
)

// draw returns the next work time in seconds.
func (w workDist) draw(rng *rand.Rand) float64 {
	var d float64
	switch w.dist {
	case serverconf.WorkExponential:
		d = w.base * rng.ExpFloat64()
	case serverconf.WorkLognormal:
		d = w.base * math.Exp(w.sigma*rng.NormFloat64())
	default:
		return w.base / 1e9
	}
	return math.Round(math.Min(d, w.cap)) / 1e9
}

// rest returns a new draw of an exponential work time that has lasted elapsed seconds and not
// ended: by memorylessness, elapsed plus a fresh exponential, under the same cap and rounding
// as draw.
func (w workDist) rest(elapsed float64, rng *rand.Rand) float64 {
	d := elapsed*1e9 + w.base*rng.ExpFloat64()
	return math.Round(math.Min(d, w.cap)) / 1e9
}
