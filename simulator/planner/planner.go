// Package planner searches, for each worker-pool size, the highest rate a topology sustains
// within an SLO and, for self, the rate at which it deadlocks, and sets each beside the model.
//
// The model is Little's law: a page holds a worker for work_time + self-call time, so N workers
// serve at most N / (work_time + self-call) pages a second. For split that is the capacity, where
// it saturates (and recovers). For self it is also where in-flight pages fill the pool, leaving
// no worker for the self-calls they wait on: the deadlock. Evenly paced load deadlocks a little
// below it; bursty load far below (a burst is enough), so the plan recommends a margin.
package planner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// Defaults of a plan.
const (
	DefaultWorkTime     = 200 * time.Millisecond
	DefaultSLOP99       = 500 * time.Millisecond
	DefaultSLOErrors    = 0.01
	DefaultStepDuration = 8 * time.Second
	DefaultSteps        = 5
	DefaultRampDuration = 30 * time.Second

	// uniformMargin is the share of the measured deadlock rate recommended as safe under evenly
	// paced load: onsets were measured at 70-100 % of the threshold run to run (PITFALLS.md).
	uniformMargin = 0.7
	// stepRecovery is the recovery window of each search step: long enough to tell a hang from
	// saturation, short enough to keep a plan within minutes.
	stepRecovery = 3 * time.Second
)

// RunFunc performs one run of a topology with a profile into dir and returns its summary.
// The cmd layer passes the real runner; tests may pass a model.
type RunFunc func(ctx context.Context, topology string, p *loadprofiles.Profile, name, dir string) (results.Summary, error)

// Options says what to plan.
type Options struct {
	Topology   string
	MaxThreads []int
	WorkTime   time.Duration
	Arrivals   []string // "uniform" (default), "poisson"
	// Seeds are the Poisson seeds of the deadlock ramp; the row keeps the lowest onset, the
	// burst that came soonest (default 1, 2, 3).
	Seeds     []int64
	SLOP99    time.Duration
	SLOErrors float64
	// StepDuration is how long each search step holds its rate.
	StepDuration time.Duration
	// Steps is the number of bisection steps after the bounds.
	Steps int
	// RampDuration is the length of the self topology's deadlock ramp.
	RampDuration time.Duration
	// DeadlockOnly skips the SLO search (self: only the deadlock ramp).
	DeadlockOnly bool
	// ClientTimeout of the load client; default 4 × SLOP99, at least 1 s.
	ClientTimeout time.Duration
	// Dir is the plan folder; each run's record goes under Dir/runs.
	Dir string
	Run RunFunc
	// Log, if set, is told each step's outcome.
	Log func(format string, args ...any)
}

// Normalize fills defaults.
func (o *Options) Normalize() {
	if o.WorkTime == 0 {
		o.WorkTime = DefaultWorkTime
	}
	if o.SLOP99 == 0 {
		o.SLOP99 = DefaultSLOP99
	}
	if o.SLOErrors == 0 {
		o.SLOErrors = DefaultSLOErrors
	}
	if o.StepDuration == 0 {
		o.StepDuration = DefaultStepDuration
	}
	if o.Steps == 0 {
		o.Steps = DefaultSteps
	}
	if o.RampDuration == 0 {
		o.RampDuration = DefaultRampDuration
	}
	if len(o.Arrivals) == 0 {
		o.Arrivals = []string{"uniform"}
	}
	if len(o.Seeds) == 0 {
		o.Seeds = []int64{1, 2, 3}
	}
	if o.ClientTimeout == 0 {
		o.ClientTimeout = max(time.Second, 4*o.SLOP99)
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
}

// Predicted is the model's rate for n workers: n / (work_time + self-call time).
func Predicted(n int, workTime time.Duration, selfCallS float64) float64 {
	return float64(n) / (workTime.Seconds() + selfCallS)
}

// Plan measures every pool size (and arrival process) and returns the plan. On error the plan
// holds what was measured so far.
func Plan(ctx context.Context, o Options) (*results.Plan, error) {
	o.Normalize()
	p := &results.Plan{
		SchemaVersion: results.PlanSchemaVersion,
		Topology:      o.Topology,
		WorkTimeS:     o.WorkTime.Seconds(),
		SLO:           results.SLO{P99MS: float64(o.SLOP99.Milliseconds()), ErrorRate: o.SLOErrors},
		StartedAt:     time.Now().UTC().Format(time.RFC3339),
	}
	p.Search = searchText(o)
	for _, n := range o.MaxThreads {
		for _, arr := range o.Arrivals {
			row, err := planRow(ctx, o, p, n, arr)
			p.Rows = append(p.Rows, row)
			if err != nil {
				return p, err
			}
		}
	}
	for i := range p.Rows {
		finishRow(&p.Rows[i], p)
	}
	p.Recommendation = recommend(p)
	p.FinishedAt = time.Now().UTC().Format(time.RFC3339)
	return p, nil
}

func searchText(o Options) string {
	s := ""
	if o.Topology == app.Self {
		s = fmt.Sprintf("deadlock: a linear ramp from 0.25x to 1.75x the predicted rate over %s, the rate at hang onset. ", o.RampDuration)
	}
	if !o.DeadlockOnly {
		s += fmt.Sprintf("SLO: bisection over constant rates, %d steps of %s each on a fresh server", o.Steps, o.StepDuration)
	}
	return s
}

func planRow(ctx context.Context, o Options, p *results.Plan, n int, arrivals string) (results.PlanRow, error) {
	row := results.PlanRow{MaxThreads: n, Arrivals: arrivals}
	selfCall := p.SelfCallS
	pred := Predicted(n, o.WorkTime, selfCall)
	hi := 1.5 * pred

	if o.Topology == app.Self {
		seeds := []int64{0}
		if arrivals == "poisson" {
			seeds = o.Seeds
		}
		for _, seed := range seeds {
			prof := o.profile(n, arrivals, seed, []loadprofiles.Stage{{Duration: o.RampDuration, From: ptr(0.25 * pred), Target: 1.75 * pred, Mode: loadprofiles.ModeRamp}})
			name := fmt.Sprintf("n%d-%s-ramp", n, arrivals)
			if arrivals == "poisson" {
				name += fmt.Sprintf("-seed%d", seed)
			}
			s, err := o.Run(ctx, o.Topology, prof, name, filepath.Join(o.Dir, "runs", name))
			if err != nil {
				return row, err
			}
			p.SelfCallS = max(p.SelfCallS, s.SelfcallMeanMS/1000)
			step := results.PlanStep{RateRPS: 1.75 * pred, P99MS: s.P99MS, ErrorRate: errRate(s), Hang: s.Hang, Record: filepath.Join("runs", name)}
			if s.Collapse && s.OnsetRateRPS != nil {
				rate := *s.OnsetRateRPS
				step.OnsetRPS = &rate
				if row.DeadlockRPS == nil || rate < *row.DeadlockRPS {
					row.DeadlockRPS = &rate
				}
				hi = min(hi, rate*1.05)
				o.Log("%d workers, %s arrivals%s: deadlocked at %.1f rps (model %.1f)", n, arrivals, seedText(arrivals, seed), rate, pred)
			} else {
				o.Log("%d workers, %s arrivals%s: no deadlock up to %.1f rps", n, arrivals, seedText(arrivals, seed), 1.75*pred)
			}
			row.Steps = append(row.Steps, step)
		}
	}
	if o.DeadlockOnly {
		return row, nil
	}

	lo := 0.25 * pred
	meets := func(rate float64) (bool, error) {
		prof := o.profile(n, arrivals, o.Seeds[0], []loadprofiles.Stage{{Duration: o.StepDuration, Target: rate, Mode: loadprofiles.ModeHold}})
		name := fmt.Sprintf("n%d-%s-%.1frps", n, arrivals, rate)
		s, err := o.Run(ctx, o.Topology, prof, name, filepath.Join(o.Dir, "runs", name))
		if err != nil {
			return false, err
		}
		p.SelfCallS = max(p.SelfCallS, s.SelfcallMeanMS/1000)
		ok := !s.Collapse && !s.Hang && s.P99MS <= float64(o.SLOP99.Milliseconds()) && errRate(s) <= o.SLOErrors
		st := results.PlanStep{RateRPS: rate, P99MS: s.P99MS, ErrorRate: errRate(s), MeetsSLO: ok, Hang: s.Hang, Record: filepath.Join("runs", name)}
		if s.Hang && s.OnsetRateRPS != nil {
			r := *s.OnsetRateRPS
			st.OnsetRPS = &r
		}
		row.Steps = append(row.Steps, st)
		o.Log("%d workers, %s: %.1f rps: p99 %.0f ms, errors %.1f%%, hang %v -> %s", n, arrivals, rate, s.P99MS, 100*errRate(s), s.Hang, map[bool]string{true: "meets the SLO", false: "misses the SLO"}[ok])
		return ok, nil
	}
	ok, err := meets(lo)
	if err != nil {
		return row, err
	}
	if !ok {
		return row, nil // even the lower bound misses: sustained 0
	}
	best := lo
	for i := 0; i < o.Steps; i++ {
		mid := (best + hi) / 2
		ok, err := meets(mid)
		if err != nil {
			return row, err
		}
		if ok {
			best = mid
		} else {
			hi = mid
		}
	}
	row.SustainedRPS = best
	return row, nil
}

func seedText(arrivals string, seed int64) string {
	if arrivals != "poisson" {
		return ""
	}
	return fmt.Sprintf(" (seed %d)", seed)
}

func (o Options) profile(n int, arrivals string, seed int64, stages []loadprofiles.Stage) *loadprofiles.Profile {
	wt := o.WorkTime
	p := &loadprofiles.Profile{
		Stages:   stages,
		Client:   loadprofiles.Client{Timeout: o.ClientTimeout, Keepalive: true, Connections: loadprofiles.DefaultConnections},
		Recovery: loadprofiles.Recovery{Duration: stepRecovery, Interval: 500 * time.Millisecond, Timeout: o.ClientTimeout},
		Server:   loadprofiles.Server{MaxThreads: &n, WorkTime: &wt},
	}
	if arrivals == "poisson" {
		p.Arrivals, p.Seed = loadprofiles.ArrivalsPoisson, seed
	}
	p.Normalize()
	return p
}

// finishRow fills the prediction (with the self-call time measured over the whole plan), the
// ratio and the safe rate.
func finishRow(r *results.PlanRow, p *results.Plan) {
	r.PredictedRPS = Predicted(r.MaxThreads, time.Duration(p.WorkTimeS*float64(time.Second)), p.SelfCallS)
	measured := r.SustainedRPS
	if r.DeadlockRPS != nil {
		measured = *r.DeadlockRPS
	}
	if r.PredictedRPS > 0 && measured > 0 {
		r.Ratio = measured / r.PredictedRPS
	}
	safe := r.SustainedRPS
	if r.DeadlockRPS != nil {
		margin := uniformMargin * *r.DeadlockRPS
		if safe == 0 || margin < safe {
			safe = margin
		}
	}
	r.SafeRPS = math.Round(safe*10) / 10
}

func recommend(p *results.Plan) string {
	if len(p.Rows) == 0 {
		return ""
	}
	s := ""
	for _, r := range p.Rows {
		if p.Topology == app.Self {
			if r.DeadlockRPS != nil {
				s += fmt.Sprintf("With %d workers and %.0f ms of work per page, the self topology deadlocked at %.0f rps offered (%s arrivals; Little's law predicts %.0f, measured/predicted %.2f)",
					r.MaxThreads, p.WorkTimeS*1000, *r.DeadlockRPS, r.Arrivals, r.PredictedRPS, r.Ratio)
			} else {
				s += fmt.Sprintf("With %d workers the self topology did not deadlock in the searched range (%s arrivals)", r.MaxThreads, r.Arrivals)
			}
			if r.SustainedRPS > 0 {
				s += fmt.Sprintf(" and met the SLO (p99 <= %.0f ms, errors <= %.1f%%) up to %.0f rps", p.SLO.P99MS, 100*p.SLO.ErrorRate, r.SustainedRPS)
			}
			s += fmt.Sprintf("; keep it under %.0f rps. ", r.SafeRPS)
		} else {
			s += fmt.Sprintf("With %d workers the split topology met the SLO up to %.0f rps (%s arrivals; Little's law predicts a capacity of %.0f, measured/predicted %.2f). ",
				r.MaxThreads, r.SustainedRPS, r.Arrivals, r.PredictedRPS, r.Ratio)
		}
	}
	s += burstText(p)
	if p.Topology == app.Self {
		s += fmt.Sprintf("A deadlocked self topology does not recover when the load drops, so the safe rate keeps a margin (%.0f%% of the lowest measured deadlock rate): bursts of real traffic put every worker inside the self-call at once below the threshold. Better than any margin: remove the cycle by serving the static file from a separate server (split), where the same pool only saturates at its capacity and recovers as soon as the load drops, or give the self-call a socket timeout so a stuck worker is freed.", 100*uniformMargin)
	} else {
		s += "Beyond its capacity split saturates: requests queue and time out, but it recovers once the load drops; size the pool for the peak rate with Little's law (workers = rate x time per page) plus headroom."
	}
	return s
}

// burstText explains, per pool size measured under both arrival processes, why Poisson arrivals
// deadlock lower, and which safe rate to use.
func burstText(p *results.Plan) string {
	type pair struct{ uniform, poisson *results.PlanRow }
	byN := map[int]*pair{}
	var order []int
	for i := range p.Rows {
		r := &p.Rows[i]
		if byN[r.MaxThreads] == nil {
			byN[r.MaxThreads] = &pair{}
			order = append(order, r.MaxThreads)
		}
		if r.Arrivals == "poisson" {
			byN[r.MaxThreads].poisson = r
		} else {
			byN[r.MaxThreads].uniform = r
		}
	}
	s := ""
	for _, n := range order {
		pr := byN[n]
		if pr.uniform == nil || pr.poisson == nil || pr.uniform.DeadlockRPS == nil || pr.poisson.DeadlockRPS == nil {
			continue
		}
		u, q := *pr.uniform.DeadlockRPS, *pr.poisson.DeadlockRPS
		safe := min(pr.uniform.SafeRPS, pr.poisson.SafeRPS)
		s += fmt.Sprintf("Why the two arrival processes differ: with %d workers, evenly paced load deadlocked at %.0f rps but Poisson arrivals at %.0f rps (%.0f%% of it). Little's law gives the average number of pages in flight; the deadlock needs only one moment when all %d workers are inside a page at once, and random arrivals bring such bursts at average rates far below the threshold that even pacing never reaches. A plan made with even pacing therefore overstates what is safe: with %d workers plan for at most %.0f rps. ",
			n, u, q, 100*q/u, n, n, safe)
	}
	return s
}

func errRate(s results.Summary) float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Requests-s.OK) / float64(s.Requests)
}

func ptr(f float64) *float64 { return &f }

// ErrNoRows is returned when nothing was asked for.
var ErrNoRows = errors.New("planner: no pool sizes")
