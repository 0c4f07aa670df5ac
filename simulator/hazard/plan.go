package hazard

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// SearchOptions tunes SafeRate.
type SearchOptions struct {
	// Start is the first rate tried; the search doubles or halves from it to bracket the answer
	// (default DefaultStart).
	Start float64
	// Min is the lowest rate tried before the search gives up (default DefaultMinRate).
	Min float64
	// RelTol stops the search when the bracket [safe, unsafe] is narrower than RelTol × safe
	// (default DefaultRelTol).
	RelTol float64
}

// Defaults of SafeRate.
const (
	// DefaultStart is a rate every pool of a few workers handles; the search doubles from it.
	DefaultStart = 4.0
	// DefaultMinRate: a server that is not safe at one page every 1,000 s is hung by design.
	DefaultMinRate = 1e-3
	// DefaultRelTol: the hazard grows like rate^N, so 1 % in rate is already ~16 % in hazard
	// for 16 workers — inside the estimate's own interval.
	DefaultRelTol = 0.01

	// bruteHangs: a pilot that hangs this often shows hangs within seconds to minutes, where
	// brute force is cheaper and simpler than splitting.
	bruteHangs = 3
	// bruteCensorFactor × the pilot's mean time to hang lets all but e^-10 of the brute-force
	// systems hang.
	bruteCensorFactor = 10
)

func (s *SearchOptions) normalize() error {
	if s.Start == 0 {
		s.Start = DefaultStart
	}
	if err := checkRate(s.Start); err != nil {
		return fmt.Errorf("search start: %w", err)
	}
	if s.Min == 0 {
		s.Min = DefaultMinRate
	}
	if !(s.Min > 0) || s.Min > s.Start {
		return invalid.Field("search.min", s.Min, fmt.Sprintf("> 0 and <= the start rate %g", s.Start))
	}
	if s.RelTol == 0 {
		s.RelTol = DefaultRelTol
	}
	if !(s.RelTol > 0 && s.RelTol < 1) {
		return invalid.Field("search.rel_tol", s.RelTol, "between 0 and 1")
	}
	return nil
}

// At estimates the hazard at rate with the estimator that suits it: a pilot run decides. If
// the pilot hangs bruteHangs times or more, hangs come within seconds to minutes and BruteForce
// runs, censored at ten times the pilot's mean time to hang; otherwise Split (which reuses the
// pilot to place its levels).
func At(ctx context.Context, f Factory, rate float64, opt Options) (Estimate, error) {
	if err := opt.Normalize(); err != nil {
		return Estimate{}, err
	}
	if err := checkRate(rate); err != nil {
		return Estimate{}, err
	}
	p, err := runPilot(ctx, f, rate, opt)
	if err != nil {
		return Estimate{}, err
	}
	if p.hangs >= bruteHangs {
		censor := time.Duration(bruteCensorFactor * p.exposure / float64(p.hangs) * float64(time.Second))
		e, err := bruteForce(ctx, f, rate, opt, opt.Brute.Systems, censor)
		e.Steps += p.total
		return e, err
	}
	return split(ctx, f, rate, opt, p)
}

// Curve is the hazard at each rate (At), in the order given, all from opt.Seed.
func Curve(ctx context.Context, f Factory, rates []float64, opt Options) ([]Estimate, error) {
	out := make([]Estimate, 0, len(rates))
	for _, r := range rates {
		e, err := At(ctx, f, r, opt)
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Safe is the answer of SafeRate.
type Safe struct {
	// Rate is the highest rate found whose risk, at the upper end of the hazard's interval,
	// is within the budget.
	Rate float64 `json:"rate"`
	// Estimate is the hazard at Rate.
	Estimate Estimate `json:"estimate"`
	// Horizon and Risk are the budget: P(hang within Horizon) ≤ Risk.
	Horizon time.Duration `json:"horizon"`
	Risk    float64       `json:"risk"`
	// Limit is the highest hazard per hour the budget allows, −ln(1 − Risk) / Horizon.
	Limit float64 `json:"limit"`
	// Unsafe is the estimate at the lowest rate found over the budget (the bracket's top).
	Unsafe Estimate `json:"unsafe"`
	// Tried counts the rates estimated, rough and full; Steps is what they cost in events.
	Tried int   `json:"tried"`
	Steps int64 `json:"steps"`
	// Evaluated are the estimates made, in order, rough ones included (their intervals are
	// wider): points a hazard curve can reuse.
	Evaluated []Estimate `json:"evaluated,omitempty"`
}

// SafeRate is the highest rate whose probability of a hang within horizon, 1 − exp(−hazard ×
// horizon), is at most risk. It judges each rate by the upper end of the hazard's interval,
// not the point estimate: a rate is called safe only when the estimate is confident it is, so
// the answer errs low (each single judgement holds with probability (1 + Confidence)/2; the
// several looks near the limit make the final one a little less sure).
//
// The hazard grows monotonically and very steeply with the rate (about like rate^N for N
// workers), so the search first brackets the answer with rough estimates (At with a quarter of
// the effort: their intervals are wider but as honest), doubling or halving from
// opt.Search.Start and then halving the bracket while a rough estimate still lies clearly on
// one side of the limit, down to a bracket of 25 %. It then narrows it, still with rough
// estimates, by bisection on log hazard — the next rate is interpolated between the bracket's ends on
// log(upper hazard) against log(rate), kept inside the middle 80 % of the bracket, and plain
// halving when one end held twice — until it is within opt.Search.RelTol, and makes a full
// estimate at the low end (stepping down by RelTol, 2 × RelTol, 4 × … while it is over the
// budget). Every rate uses
// opt.Seed (common random numbers). Unless opt.Split.Floor is set, estimates stop resolving
// hazards a hundred times below the limit (see SplitOptions.Floor).
func SafeRate(ctx context.Context, f Factory, horizon time.Duration, risk float64, opt Options) (Safe, error) {
	if horizon <= 0 {
		return Safe{}, invalid.Field("horizon", horizon, "> 0")
	}
	if !(risk > 0 && risk < 1) {
		return Safe{}, invalid.Field("risk", risk, "between 0 and 1 (exclusive)")
	}
	out := Safe{Horizon: horizon, Risk: risk, Limit: hazardFor(risk, horizon)}
	if opt.Split.Floor == 0 {
		opt.Split.Floor = out.Limit / floorBelowLimit
	}
	if err := opt.Normalize(); err != nil {
		return Safe{}, err
	}
	rough := roughOptions(opt)
	type point struct {
		e       Estimate
		precise bool
	}
	eval := func(r float64, precise bool) (point, error) {
		o := rough
		if precise {
			o = opt
		}
		e, err := At(ctx, f, r, o)
		out.Tried++
		out.Steps += e.Steps
		if err != nil {
			return point{}, fmt.Errorf("safe rate: %w", err)
		}
		out.Evaluated = append(out.Evaluated, e)
		return point{e, precise}, nil
	}
	safe := func(p point) bool { return p.e.Upper <= out.Limit }
	unsafe := func(p point) bool { return p.e.Lower > out.Limit || (p.precise && !safe(p)) }

	// Bracket with rough estimates: lo clearly within the budget, hi clearly over it.
	var lo, hi point
	p, err := eval(opt.Search.Start, false)
	if err != nil {
		return out, err
	}
	switch {
	case safe(p):
		for lo = p; ; lo = p {
			r := 2 * lo.e.Rate
			if r > maxRate {
				return out, fmt.Errorf("safe rate: still within the budget at %g rps: %w", lo.e.Rate, errNoBracket)
			}
			if p, err = eval(r, false); err != nil {
				return out, err
			}
			if !safe(p) {
				hi = p
				break
			}
		}
	default:
		for hi = p; ; hi = p {
			r := hi.e.Rate / 2
			if r < opt.Search.Min {
				return out, fmt.Errorf("safe rate: over the budget even at %g rps: %w", hi.e.Rate, errNoBracket)
			}
			if p, err = eval(r, false); err != nil {
				return out, err
			}
			if safe(p) {
				lo = p
				break
			}
		}
	}
	for hi.e.Rate > roughBracket*lo.e.Rate {
		if p, err = eval(math.Sqrt(lo.e.Rate*hi.e.Rate), false); err != nil {
			return out, err
		}
		if safe(p) {
			lo = p
		} else if unsafe(p) {
			hi = p
		} else {
			break // the limit is inside this estimate's interval: time for full estimates
		}
	}

	// Bisect with rough estimates too: a rough interval is wider, so a rate it calls safe
	// errs low, and a full estimate at every step cost the planner minutes per pool size.
	lastLow := 0 // +n: the low end moved the last n times; -n: the high end
	for hi.e.Rate-lo.e.Rate > opt.Search.RelTol*lo.e.Rate {
		if p, err = eval(nextRate(lo.e, hi.e, out.Limit, lastLow), false); err != nil {
			return out, err
		}
		if safe(p) {
			lo = p
			lastLow = max(lastLow, 0) + 1
		} else {
			hi = p
			lastLow = min(lastLow, 0) - 1
		}
	}
	// The answer is a full estimate, within the budget.
	for tries := 0; ; tries++ {
		if p, err = eval(lo.e.Rate, true); err != nil {
			return out, err
		}
		if safe(p) {
			lo = p
			break
		}
		if tries == maxBacktrack {
			return out, fmt.Errorf("safe rate: full estimates over the budget down to %g rps: %w", p.e.Rate, errNoBracket)
		}
		hi, lo.e.Rate = p, lo.e.Rate/(1+float64(int(1)<<tries)*opt.Search.RelTol)
	}
	out.Rate, out.Estimate, out.Unsafe = lo.e.Rate, lo.e, hi.e
	return out, nil
}

// Tuning of SafeRate's search.
const (
	// floorBelowLimit: hazards a hundred times under the limit need no precise value.
	floorBelowLimit = 100
	// roughBracket is the bracket, as a ratio of rates, that rough estimates narrow the answer
	// to; for 16 workers it spans about 35 × in hazard.
	roughBracket = 1.25
	// maxBacktrack bounds the steps down when a full estimate contradicts a rough one.
	maxBacktrack = 8
	// roughShare is the share of the effort a rough estimate spends.
	roughShare = 4
)

// roughOptions are opt with about a quarter of the effort: half the batches, half the
// trajectories per stage and fewer successes required, a quarter of the brute-force systems.
func roughOptions(opt Options) Options {
	r := opt
	r.Split.Batches = max(opt.Split.Batches/2, 4)
	r.Split.Effort = max(opt.Split.Effort/2, 10)
	r.Split.Successes = max(opt.Split.Successes/roughShare, 5)
	r.Split.MaxEffort = max(opt.Split.MaxEffort/roughShare, r.Split.Effort)
	r.Split.Entrances = max(opt.Split.Entrances/2, 10)
	r.Brute.Systems = max(opt.Brute.Systems/roughShare, 8)
	return r
}

// errNoBracket is a search that found no rate on one side of the budget.
var errNoBracket = fmt.Errorf("no rate brackets the budget")

// nextRate interpolates log(upper hazard) against log(rate) between the bracket's ends to the
// limit, kept in the middle 80 % of the bracket; it halves when an end has held twice in a row
// (false position stalls on a curved function otherwise) or an end's hazard is zero.
func nextRate(lo, hi Estimate, limit float64, lastLow int) float64 {
	mid := (lo.Rate + hi.Rate) / 2
	if lastLow >= 2 || lastLow <= -2 || !(lo.Upper > 0) || !(hi.Upper > lo.Upper) {
		return mid
	}
	x0, x1 := math.Log(lo.Rate), math.Log(hi.Rate)
	y0, y1 := math.Log(lo.Upper), math.Log(hi.Upper)
	r := math.Exp(x0 + (x1-x0)*(math.Log(limit)-y0)/(y1-y0))
	width := hi.Rate - lo.Rate
	return math.Min(math.Max(r, lo.Rate+0.1*width), hi.Rate-0.1*width)
}

// Pool is one candidate size of the worker pool and the model of the server with it.
type Pool struct {
	Workers int
	Factory Factory
}

// Sizing is the answer of FewestWorkers.
type Sizing struct {
	// Found reports that some pool keeps the risk within the budget; Workers is the smallest.
	Found   bool `json:"found"`
	Workers int  `json:"workers"`
	// Estimate is the hazard of that pool at the peak rate (of the largest pool when none
	// was found).
	Estimate Estimate `json:"estimate"`
	// Limit is the highest hazard per hour the budget allows.
	Limit float64 `json:"limit"`
}

// FewestWorkers answers the planner's reverse question: of the given pool sizes, the fewest
// workers whose probability of a hang within horizon at the peak rate stays within risk, judged
// like SafeRate by the upper end of the hazard's interval. More workers never raise the hazard,
// so it bisects over the sizes sorted by Workers.
func FewestWorkers(ctx context.Context, pools []Pool, peak float64, horizon time.Duration, risk float64, opt Options) (Sizing, error) {
	if err := opt.Normalize(); err != nil {
		return Sizing{}, err
	}
	if len(pools) == 0 {
		return Sizing{}, invalid.Field("pools", "none", "at least one pool size")
	}
	if horizon <= 0 {
		return Sizing{}, invalid.Field("horizon", horizon, "> 0")
	}
	if !(risk > 0 && risk < 1) {
		return Sizing{}, invalid.Field("risk", risk, "between 0 and 1 (exclusive)")
	}
	sorted := slices.Clone(pools)
	slices.SortFunc(sorted, func(a, b Pool) int { return a.Workers - b.Workers })
	out := Sizing{Limit: hazardFor(risk, horizon)}
	est := make(map[int]Estimate)
	judge := func(i int) (bool, error) {
		e, err := At(ctx, sorted[i].Factory, peak, opt)
		if err != nil {
			return false, fmt.Errorf("fewest workers: %d workers: %w", sorted[i].Workers, err)
		}
		est[i] = e
		return e.Upper <= out.Limit, nil
	}
	// Invariant: every pool below lo is over the budget; hi is within it (or len: none known).
	lo, hi := 0, len(sorted)
	for lo < hi {
		m := (lo + hi) / 2
		ok, err := judge(m)
		if err != nil {
			return out, err
		}
		if ok {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if hi == len(sorted) {
		last := len(sorted) - 1
		if _, done := est[last]; !done {
			if _, err := judge(last); err != nil {
				return out, err
			}
		}
		out.Workers, out.Estimate = sorted[last].Workers, est[last]
		return out, nil
	}
	out.Found, out.Workers, out.Estimate = true, sorted[hi].Workers, est[hi]
	return out, nil
}
