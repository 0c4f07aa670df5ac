package loadprofiles

import (
	"math"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

var _ vegeta.Pacer = (*StagePacer)(nil)

// StagePacer is a vegeta.Pacer that follows a profile's stages exactly: the rate curve is
// piecewise linear, the expected number of hits by time t is its integral H(t), and the hit
// numbered k (from 0) is due when H reaches k+½. Centring each hit on its share of the curve
// keeps the count at any time within half a hit of the integral, so a 1 rps hold of 10 s sends
// 10 hits, and a stage at rate 0 sends none.
//
// Like vegeta's own pacers it is stateless between calls: an attacker that fell behind gets
// wait 0 until it has caught up, except where the rate is 0, where it is told to wait until the
// rate turns positive (wait 0 would mean "as fast as possible" to vegeta).
//
// Pace returns stop=true once elapsed reaches the total duration, and also as soon as no further
// hit is due before the end: vegeta sends a hit after every wait, so waiting out a trailing
// stretch at rate 0 would cost one hit that the profile does not offer. The attack can
// therefore end before Duration (by up to half a hit interval, or a whole trailing stage at
// rate 0); a runner that times phases should use Profile.Duration, not the end of the results.
//
// A StagePacer is safe for concurrent use; Pace and Rate do not allocate.
type StagePacer struct {
	segs  []segment
	total time.Duration
	hits  float64 // H(total)
}

// segment is one stage with its place on the time line, precomputed so that Pace is
// arithmetic only.
type segment struct {
	start, end time.Duration
	r0, r1     float64 // rate at start and end, requests/second
	slope      float64 // requests/second²
	cum        float64 // H(start)
	cumEnd     float64 // H(end)
}

// NewStagePacer returns a pacer for stages. The stages should be validated; a stage with a
// duration <= 0 is skipped and a negative rate counts as 0.
func NewStagePacer(stages []Stage) *StagePacer {
	p := &StagePacer{segs: make([]segment, 0, len(stages))}
	prev := 0.0
	var at time.Duration
	cum := 0.0
	for _, s := range stages {
		r0, r1 := s.rates(prev)
		prev = s.Target
		if s.Duration <= 0 {
			continue
		}
		r0, r1 = clampRate(r0), clampRate(r1)
		d := s.Duration.Seconds()
		seg := segment{start: at, end: at + s.Duration, r0: r0, r1: r1, slope: (r1 - r0) / d, cum: cum}
		cum += (r0 + r1) / 2 * d
		seg.cumEnd = cum
		p.segs = append(p.segs, seg)
		at += s.Duration
	}
	p.total, p.hits = at, cum
	return p
}

// Pacer is a vegeta.Pacer that follows a profile's stages: a StagePacer or a PoissonPacer.
type Pacer interface {
	vegeta.Pacer
	// Duration returns the total duration of the stages.
	Duration() time.Duration
	// Hits returns the expected number of hits over the whole profile: the integral of the
	// rate.
	Hits() float64
}

var (
	_ Pacer = (*StagePacer)(nil)
	_ Pacer = (*PoissonPacer)(nil)
)

// Pacer returns the pacer for the profile's stages and arrivals: a StagePacer for uniform
// arrivals, a PoissonPacer seeded with Seed for poisson. Each call returns a fresh pacer, so a
// PoissonPacer's arrival sequence starts over from the seed.
func (p *Profile) Pacer() Pacer {
	if p.Arrivals == ArrivalsPoisson {
		return NewPoissonPacer(p.Stages, p.Seed)
	}
	return NewStagePacer(p.Stages)
}

// Duration returns the total duration of the stages.
func (sp *StagePacer) Duration() time.Duration { return sp.total }

// Hits returns the expected number of hits over the whole profile: the integral of the rate.
func (sp *StagePacer) Hits() float64 { return sp.hits }

// Pace implements vegeta.Pacer: it returns how long to wait before the next hit, given the time
// elapsed since the attack began and the hits sent so far.
func (sp *StagePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if elapsed >= sp.total {
		return 0, true
	}
	return sp.paceTo(elapsed, float64(hits)+0.5)
}

// paceTo returns the wait from elapsed until the integral of the rate reaches due, the point
// on the curve where the next hit is due: 0 when it is already past (the attacker is behind),
// unless the rate is 0 at elapsed; stop once due lies beyond the end. elapsed must be below the
// total duration.
func (sp *StagePacer) paceTo(elapsed time.Duration, due float64) (time.Duration, bool) {
	if elapsed < 0 {
		elapsed = 0
	}
	if due > sp.hits {
		return 0, true
	}
	i := sp.index(elapsed)
	seg := &sp.segs[i]
	if seg.integral(elapsed) >= due {
		// Behind schedule: catch up now, unless the rate is 0 here.
		if seg.rate(elapsed) > 0 {
			return 0, false
		}
		return sp.untilPositive(i, elapsed)
	}
	// The next hit is in the first segment whose end reaches it; H(elapsed) < due, so the
	// crossing is after elapsed.
	j := i
	for sp.segs[j].cumEnd < due {
		j++
	}
	at := sp.segs[j].crossing(due)
	wait := at - elapsed
	if wait < 0 {
		wait = 0
	}
	return wait, false
}

// untilPositive returns the wait from elapsed, in segment i where the rate is 0, to where the
// rate turns positive.
func (sp *StagePacer) untilPositive(i int, elapsed time.Duration) (time.Duration, bool) {
	for j := i; j < len(sp.segs); j++ {
		s := &sp.segs[j]
		if s.r0 > 0 || s.r1 > 0 {
			if wait := s.start - elapsed; wait > 0 {
				return wait, false
			}
			// At the very start of a ramp up from 0: positive an instant later.
			return time.Nanosecond, false
		}
	}
	return 0, true
}

// Rate implements vegeta.Pacer: the instantaneous rate (requests/second) at elapsed. It is 0
// before the start and from the end on, and agrees with Profile.RateAt.
func (sp *StagePacer) Rate(elapsed time.Duration) float64 {
	if elapsed < 0 || elapsed >= sp.total {
		return 0
	}
	i := sp.index(elapsed)
	return sp.segs[i].rate(elapsed)
}

// index returns the segment holding elapsed, for 0 <= elapsed < total; segments are half-open
// [start, end), so at a boundary the later stage applies.
func (sp *StagePacer) index(elapsed time.Duration) int {
	lo, hi := 0, len(sp.segs)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if elapsed < sp.segs[mid].end {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func (s *segment) rate(t time.Duration) float64 {
	return s.r0 + s.slope*(t-s.start).Seconds()
}

// integral returns H(t) for t in the segment.
func (s *segment) integral(t time.Duration) float64 {
	x := (t - s.start).Seconds()
	return s.cum + s.r0*x + s.slope/2*x*x
}

// crossing returns the time at which H reaches h, for cum < h <= cumEnd. With x the time into
// the segment, H = cum + r0·x + slope/2·x², so x solves a·x² + b·x − c = 0 with a = slope/2,
// b = r0, c = h − cum. The form x = 2c / (b + √(b² + 4ac)) is the usual root rearranged so that
// it does not lose precision when the slope is tiny and stays finite when it is 0.
func (s *segment) crossing(h float64) time.Duration {
	a, b, c := s.slope/2, s.r0, h-s.cum
	disc := b*b + 4*a*c
	if disc < 0 {
		// Only rounding can make it negative: H reaches h within the segment by construction.
		disc = 0
	}
	den := b + math.Sqrt(disc)
	if den <= 0 {
		return s.end
	}
	x := 2 * c / den
	// Round up so that at the returned time the hit is due, never a nanosecond early.
	at := s.start + time.Duration(math.Ceil(x*1e9))
	if at > s.end {
		at = s.end
	}
	return at
}
