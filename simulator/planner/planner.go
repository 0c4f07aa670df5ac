// Package planner answers the capacity questions of the self-call deadlock, for each
// worker-pool size and arrival process.
//
// For the self topology under random (Poisson) arrivals there is no safe rate, only a rare one:
// with an unbounded FIFO queue and no timeouts the server has an absorbing state (every worker
// holds a page whose self-call waits for a worker), and random arrivals reach it at any average
// rate; the rate only sets the hang hazard, hangs per hour of steady traffic. So the plan gives
// the highest rate whose probability of a hang within a horizon is at most a risk, from the
// hazard that an Estimator (the virtual-time model) computes, and the reverse: the fewest
// workers for a peak rate. Evenly paced load is deterministic in the model and hangs only above
// its threshold, near Little's law, N / (work_time + self-call): a best case that real traffic
// never gives. The split topology has no cycle and is planned by capacity within an SLO.
//
// Measured steps (the evenly paced threshold ramp, the SLO bisection) go through a RunFunc: the
// virtual-time model by default, or the real server on sockets.
package planner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/runner"
)

// Defaults of a plan.
const (
	DefaultWorkTime     = 200 * time.Millisecond
	DefaultSLOP99       = 500 * time.Millisecond
	DefaultSLOErrors    = 0.01
	DefaultStepDuration = 8 * time.Second
	DefaultSteps        = 5
	DefaultRampDuration = 30 * time.Second
	// DefaultHorizon and DefaultRisk are the budget of issue 13: at most a 1 % chance of a hang
	// within a day of steady traffic.
	DefaultHorizon = 24 * time.Hour
	DefaultRisk    = 0.01

	// MaxPeakWorkers is where the fewest-workers search for --peak-rate gives up: four times
	// Tomcat's default max_threads (200), beyond any pool the incident's kind of app runs.
	MaxPeakWorkers = 1024

	// verifyPerHour is the hazard --verify holds at: one hang a minute on average, soon enough to
	// see in one real-socket hold.
	verifyPerHour = 60
	// VerifyHold is the length of --verify's hold: five predicted mean times to hang, within
	// which a right model hangs with probability 1 - e^-5 = 99.3 %.
	VerifyHold = 5 * time.Minute

	// stepRecovery is the recovery window of each measured step: long enough to tell a hang from
	// saturation, short enough to keep a socket plan within minutes.
	stepRecovery = 3 * time.Second
	// curvePoints is the number of rates of each hazard curve above the safe rate: enough for a
	// line on a log scale, few enough that 8 pool sizes stay within seconds. They rise from the
	// safe rate geometrically (the hazard spans decades) to curveHigh × Little's law, where a
	// hang comes within seconds. None lies below the safe rate: there hazards are smallest and
	// dearest to estimate, and the plan never recommends them.
	curvePoints = 5
	curveHigh   = 0.95
)

// Arrival processes, as in --arrivals and a profile's arrivals key.
const (
	Uniform = string(loadprofiles.ArrivalsUniform)
	Poisson = string(loadprofiles.ArrivalsPoisson)
)

// RunFunc performs one run of a topology with a profile into dir and returns its summary: the
// virtual-time model or the real server on sockets. Tests pass a closed form.
type RunFunc func(ctx context.Context, topology string, p *loadprofiles.Profile, name, dir string) (results.Summary, error)

// Options says what to plan.
type Options struct {
	Topology string
	// Server is the profile server section every planned run starts from (the topology's keys,
	// e.g. admission: reject); each row sets max_threads and work_time over it.
	Server     loadprofiles.Server
	MaxThreads []int
	WorkTime   time.Duration
	// Arrivals are the arrival processes to plan: Uniform, Poisson (default both).
	Arrivals []string
	// Horizon and Risk are the budget: at most Risk probability of a hang within Horizon.
	Horizon time.Duration
	Risk    float64
	// PeakRate, if > 0, asks for the fewest workers whose risk at it stays within the budget.
	PeakRate float64
	// Engine names what Run runs on (results.EngineModel or results.EngineSockets), for the
	// plan's record and text.
	Engine string
	// Seeds: the first seeds the Poisson steps of the SLO search and the verify hold.
	Seeds     []int64
	SLOP99    time.Duration
	SLOErrors float64
	// StepDuration is how long each SLO search step holds its rate.
	StepDuration time.Duration
	// Steps is the number of bisection steps after the bounds.
	Steps int
	// RampDuration is the length of the evenly paced threshold ramp.
	RampDuration time.Duration
	// DeadlockOnly skips the SLO search (self: the hang risk and the threshold only).
	DeadlockOnly bool
	// ClientTimeout of the load client; default 4 × SLOP99, at least 1 s.
	ClientTimeout time.Duration
	// SelfCall is the time a page holds its worker beyond its work time, for Little's law (the
	// model's calibrated self-call and page overhead); a run's measured mean self-call time
	// replaces it when longer.
	SelfCall time.Duration
	// Parallel is how many rows are planned at once (default 1). More than 1 only for an engine
	// whose runs may overlap (the model): socket runs share the machine's cores.
	Parallel int
	// Dir is the plan folder; each run's record goes under Dir/runs.
	Dir string
	Run RunFunc
	// Estimator gives the hang hazards (self); required for the self topology.
	Estimator Estimator
	// Verify, if set, runs --verify's hold on real sockets (it should stop at the hang).
	Verify RunFunc
	// Log, if set, is told each step's outcome. It may be called from several goroutines.
	Log func(format string, args ...any)

	// canHang and callHolds are the topology's, with Server's keys (set by Plan): whether it can
	// hang (planned on a hang risk, else on capacity), and whether a page holds its worker
	// during its fragment fetch (Little's law counts the self-call time only then).
	canHang, callHolds bool
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
	if o.Horizon == 0 {
		o.Horizon = DefaultHorizon
	}
	if o.Risk == 0 {
		o.Risk = DefaultRisk
	}
	if len(o.Arrivals) == 0 {
		o.Arrivals = []string{Uniform, Poisson}
	}
	if o.Engine == "" {
		o.Engine = results.EngineModel
	}
	if len(o.Seeds) == 0 {
		o.Seeds = []int64{1, 2, 3}
	}
	if o.ClientTimeout == 0 {
		o.ClientTimeout = max(time.Second, 4*o.SLOP99)
	}
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
}

// Errors of a plan that cannot start.
var (
	// ErrNoRows is returned when nothing was asked for.
	ErrNoRows = errors.New("planner: no pool sizes")
	// ErrNoEstimator is returned for a self plan without an Estimator.
	ErrNoEstimator = errors.New("planner: the self topology needs a hazard estimator")
	// ErrNoRun is returned when a plan needs measured steps and has no RunFunc.
	ErrNoRun = errors.New("planner: no engine to run the measured steps")
)

// Predicted is Little's law: n workers, each held work_time + self-call per page, serve at most
// n / (work_time + self-call) pages a second.
func Predicted(n int, workTime time.Duration, selfCallS float64) float64 {
	return float64(n) / (workTime.Seconds() + selfCallS)
}

// Plan plans every pool size (and arrival process) and returns the plan. On error the plan
// holds what was planned so far.
func Plan(ctx context.Context, o Options) (*results.Plan, error) {
	o.Normalize()
	if len(o.MaxThreads) == 0 {
		return nil, ErrNoRows
	}
	cfg, err := o.serverConfig(o.MaxThreads[0])
	if err != nil {
		return nil, err
	}
	if o.canHang, err = CanHang(cfg, o.MaxThreads); err != nil {
		return nil, err
	}
	mech := topology.Must(o.Topology).Mechanics
	o.callHolds = mech.Fragment != topology.InProcess && !mech.Async
	if !o.callHolds {
		o.SelfCall = 0
	}
	self := o.canHang
	if self && o.Estimator == nil {
		return nil, ErrNoEstimator
	}
	if o.Run == nil && (!self || !o.DeadlockOnly || slices.Contains(o.Arrivals, Uniform)) {
		return nil, ErrNoRun
	}
	p := &results.Plan{
		SchemaVersion: results.PlanSchemaVersion,
		Topology:      o.Topology,
		CanHang:       &o.canHang,
		Engine:        o.Engine,
		WorkTimeS:     o.WorkTime.Seconds(),
		SelfCallS:     o.SelfCall.Seconds(),
		SLO:           results.SLO{P99MS: float64(o.SLOP99.Milliseconds()), ErrorRate: o.SLOErrors},
		StartedAt:     time.Now().UTC().Format(time.RFC3339),
	}
	if m := o.Server.Settings(); len(m) > 0 {
		p.Server = m
	}
	p.Watchdog = topology.Watchdog(cfg.Hang())
	p.NoHang, p.TimerEndsHang = topology.WhyNoHang(cfg.Hang()), topology.TimerEndsHang(cfg.Hang())
	if self {
		p.HorizonS, p.Risk = o.Horizon.Seconds(), o.Risk
		p.BudgetPerHour = results.BudgetPerHour(p.HorizonS, p.Risk)
	}
	p.Search = searchText(o)

	type job struct {
		n        int
		arrivals string
	}
	var jobs []job
	for _, n := range o.MaxThreads {
		for _, a := range o.Arrivals {
			jobs = append(jobs, job{n, a})
		}
	}
	// The first row that fails stops the others (a socket plan's rows take minutes each), and
	// its error is the plan's: the others' then only say they were interrupted.
	rowCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var first error
	var failOnce sync.Once
	outs := make([]rowOut, len(jobs))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-rowCtx.Done():
				outs[i] = rowOut{row: results.PlanRow{MaxThreads: j.n, Arrivals: j.arrivals}, err: rowCtx.Err()}
				return
			}
			defer func() { <-sem }()
			outs[i] = planRow(rowCtx, o, p, j.n, j.arrivals)
			if err := outs[i].err; err != nil {
				failOnce.Do(func() { first = err })
				cancel()
			}
		})
	}
	wg.Wait()
	for _, out := range outs {
		p.Rows = append(p.Rows, out.row)
		if out.curve != nil {
			p.Curves = append(p.Curves, *out.curve)
		}
		if out.selfCallS > p.SelfCallS {
			p.SelfCallS = out.selfCallS
		}
	}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	if first != nil {
		return p, first
	}
	for i := range p.Rows {
		finishRow(&p.Rows[i], p)
	}
	if o.PeakRate > 0 {
		peak, err := planPeak(ctx, o, p)
		p.Peak = peak
		if err != nil {
			return p, err
		}
	}
	if o.Verify != nil && self {
		v, err := verify(ctx, o, p)
		p.Verify = v
		if err != nil {
			return p, err
		}
	}
	p.Warnings = warnings(o, p)
	p.Recommendation = recommend(p)
	p.Explanation = explain(p)
	p.FinishedAt = time.Now().UTC().Format(time.RFC3339)
	return p, nil
}

// rowOut is what planning one row gives.
type rowOut struct {
	row       results.PlanRow
	curve     *results.HazardCurve
	selfCallS float64
	err       error
}

func searchText(o Options) string {
	engine := "the virtual-time model"
	if o.Engine == results.EngineSockets {
		engine = "the real server on loopback sockets, each step on a fresh server"
	}
	s := ""
	if o.canHang {
		s = "Hazard: the virtual-time model under steady Poisson arrivals, a rare-event estimate with a 95 % interval, bisected on the rate. "
		if slices.Contains(o.Arrivals, Uniform) {
			s += fmt.Sprintf("Evenly paced threshold: a linear ramp from 0.25x to 1.75x Little's law over %s on %s, the rate at hang onset. ", o.RampDuration, engine)
		}
	}
	if !o.DeadlockOnly {
		s += fmt.Sprintf("SLO: bisection over constant rates, %d steps of %s each on %s.", o.Steps, o.StepDuration, engine)
	}
	return s
}

// CanHang says whether cfg's server, with each of the pool sizes, can hang (topology.CanHang): a
// plan is of a hang risk or of a capacity, so the pool sizes must agree. They can differ only
// through a connection_request_timeout, which frees a page waiting for a lease only in a pool of
// more workers than leases; then the error is an *invalid.Error on --max-threads.
func CanHang(cfg app.Config, pools []int) (bool, error) {
	var hangs, not []string
	why := ""
	for _, n := range pools {
		cfg.MaxThreads = n
		if w := topology.WhyNoHang(cfg.Hang()); w == "" {
			hangs = append(hangs, strconv.Itoa(n))
		} else {
			not, why = append(not, strconv.Itoa(n)), w
		}
	}
	if len(hangs) > 0 && len(not) > 0 {
		return false, invalid.Field("--max-threads", strings.Join(append(hangs, not...), ","), fmt.Sprintf(
			"pool sizes that all can hang or all cannot, to plan one kind of risk: with these keys %s can hang and %s cannot (%s); plan them separately",
			strings.Join(hangs, ","), strings.Join(not, ","), why))
	}
	return len(hangs) > 0, nil
}

// serverConfig is the server a row plans, exactly as a run of its profile would start it.
func (o Options) serverConfig(n int) (app.Config, error) {
	return runner.ServerConfig(o.Topology, o.profile(n, Uniform, 0, []loadprofiles.Stage{{Duration: time.Second, Target: 1, Mode: loadprofiles.ModeHold}}))
}

func planRow(ctx context.Context, o Options, p *results.Plan, n int, arrivals string) (out rowOut) {
	row := &out.row
	*row = results.PlanRow{MaxThreads: n, Arrivals: arrivals, HorizonS: p.HorizonS, Risk: p.Risk}
	if out.err = ctx.Err(); out.err != nil {
		return out
	}
	pred := Predicted(n, o.WorkTime, p.SelfCallS)
	measured := func(s results.Summary) {
		if o.callHolds {
			out.selfCallS = max(out.selfCallS, s.SelfcallMeanMS/1000)
		}
	}

	// The SLO search's bounds: from a quarter of Little's law (or half the risk's rate, when that
	// is lower, so the search can find an SLO rate below the risk's) to one and a half times it.
	lo, hi := 0.25*pred, 1.5*pred
	if o.canHang {
		switch arrivals {
		case Poisson:
			cfg, err := o.serverConfig(n)
			if err != nil {
				out.err = err
				return out
			}
			rate, est, err := o.Estimator.RateAt(ctx, cfg, p.BudgetPerHour)
			if err != nil {
				out.err = fmt.Errorf("%d workers: safe rate: %w", n, err)
				return out
			}
			row.Basis, row.SafeRPS, row.RiskRPS = results.BasisRisk, rate, ptr(rate)
			setHazard(row, est)
			o.Log("%d workers, poisson: at most %.1f rps for a %s risk of a hang within %s (hazard %s per hour, one hang in %s)",
				n, rate, percent(o.Risk), results.HorizonText(o.Horizon.Seconds()), results.FormatHazard(est.PerHour), results.HangEvery(est.PerHour))
			curve, err := hazardCurve(ctx, o, cfg, n, pred, rate, est)
			if err != nil {
				out.err = fmt.Errorf("%d workers: hazard curve: %w", n, err)
				return out
			}
			out.curve = curve
			lo, hi = min(lo, rate/2), min(hi, 1.05*pred)
		default:
			prof := o.profile(n, arrivals, 0, []loadprofiles.Stage{{Duration: o.RampDuration, From: ptr(0.25 * pred), Target: 1.75 * pred, Mode: loadprofiles.ModeRamp}})
			name := fmt.Sprintf("n%d-%s-ramp", n, arrivals)
			s, err := o.Run(ctx, o.Topology, prof, name, filepath.Join(o.Dir, "runs", name))
			if err != nil {
				out.err = err
				return out
			}
			measured(s)
			step := results.PlanStep{RateRPS: 1.75 * pred, P99MS: s.P99MS, ErrorRate: errRate(s), Hang: s.Hang, Record: filepath.Join("runs", name)}
			row.Basis = results.BasisThreshold
			if s.Collapse && s.OnsetRateRPS != nil {
				rate := *s.OnsetRateRPS
				step.OnsetRPS, row.DeadlockRPS, row.SafeRPS = &rate, ptr(rate), rate
				hi = min(hi, rate*1.05)
				o.Log("%d workers, evenly paced: hangs from %.1f rps (Little's law %.1f)", n, rate, pred)
			} else {
				o.Log("%d workers, evenly paced: no hang up to %.1f rps", n, 1.75*pred)
			}
			row.Steps = append(row.Steps, step)
		}
		if o.DeadlockOnly {
			return out
		}
	}

	sustained, err := sloSearch(ctx, o, row, n, arrivals, lo, hi, measured)
	if err != nil {
		out.err = err
		return out
	}
	row.SustainedRPS = &sustained
	switch {
	case !o.canHang:
		row.Basis, row.SafeRPS = results.BasisCapacity, sustained
	case row.Basis == results.BasisRisk && sustained < row.SafeRPS:
		// The SLO binds before the risk does: the hazard is the one at the SLO's rate.
		cfg, err := o.serverConfig(n)
		if err != nil {
			out.err = err
			return out
		}
		est, err := o.Estimator.Hazard(ctx, cfg, sustained)
		if err != nil {
			out.err = fmt.Errorf("%d workers: hazard at %.1f rps: %w", n, sustained, err)
			return out
		}
		row.Basis, row.SafeRPS = results.BasisSLO, sustained
		setHazard(row, est)
	case row.Basis == results.BasisThreshold && (row.DeadlockRPS == nil || sustained < row.SafeRPS):
		row.Basis, row.SafeRPS = results.BasisSLO, sustained
	}
	return out
}

// sloSearch bisects constant-rate holds between lo and hi for the highest rate that meets the SLO
// without a hang; 0 when even lo misses.
func sloSearch(ctx context.Context, o Options, row *results.PlanRow, n int, arrivals string, lo, hi float64, measured func(results.Summary)) (float64, error) {
	meets := func(rate float64) (bool, error) {
		prof := o.profile(n, arrivals, o.Seeds[0], []loadprofiles.Stage{{Duration: o.StepDuration, Target: rate, Mode: loadprofiles.ModeHold}})
		name := fmt.Sprintf("n%d-%s-%.1frps", n, arrivals, rate)
		s, err := o.Run(ctx, o.Topology, prof, name, filepath.Join(o.Dir, "runs", name))
		if err != nil {
			return false, err
		}
		measured(s)
		ok := !s.Collapse && !s.Hang && s.P99MS <= float64(o.SLOP99.Milliseconds()) && errRate(s) <= o.SLOErrors
		st := results.PlanStep{RateRPS: rate, P99MS: s.P99MS, ErrorRate: errRate(s), MeetsSLO: ok, Hang: s.Hang, Record: filepath.Join("runs", name)}
		if s.Hang && s.OnsetRateRPS != nil {
			st.OnsetRPS = ptr(*s.OnsetRateRPS)
		}
		row.Steps = append(row.Steps, st)
		verdict := "misses the SLO"
		if ok {
			verdict = "meets the SLO"
		}
		o.Log("%d workers, %s: %.1f rps: p99 %.0f ms, errors %.1f%%, hang %v -> %s", n, arrivals, rate, s.P99MS, 100*errRate(s), s.Hang, verdict)
		return ok, nil
	}
	ok, err := meets(lo)
	if err != nil || !ok {
		return 0, err
	}
	best := lo
	for range o.Steps {
		mid := (best + hi) / 2
		ok, err := meets(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			best = mid
		} else {
			hi = mid
		}
	}
	return best, nil
}

// hazardCurve is the safe rate's estimate and the hazard at curvePoints rates above it, spaced
// geometrically up to just below Little's bound.
func hazardCurve(ctx context.Context, o Options, cfg app.Config, n int, pred, safe float64, atSafe Estimate) (*results.HazardCurve, error) {
	c := &results.HazardCurve{MaxThreads: n}
	if !(safe > 0) {
		return c, nil
	}
	point := func(r float64, e Estimate) {
		c.Points = append(c.Points, results.HazardPoint{RateRPS: r, HazardPerHour: e.PerHour, HazardCI: e.CI, Method: e.Method})
	}
	point(safe, atSafe)
	hi := max(curveHigh*pred, 1.5*safe)
	for i := 1; i <= curvePoints; i++ {
		r := safe * math.Pow(hi/safe, float64(i)/curvePoints)
		est, err := o.Estimator.Hazard(ctx, cfg, r)
		if err != nil {
			return nil, err
		}
		point(r, est)
	}
	return c, nil
}

func (o Options) profile(n int, arrivals string, seed int64, stages []loadprofiles.Stage) *loadprofiles.Profile {
	wt := o.WorkTime
	p := &loadprofiles.Profile{
		Stages: stages,
		Client: loadprofiles.Client{Timeout: o.ClientTimeout, Keepalive: true, Connections: loadprofiles.DefaultConnections},
		// No drain extension: a step whose server is still draining has missed the SLO.
		Recovery: loadprofiles.Recovery{Duration: stepRecovery, Interval: 500 * time.Millisecond, Timeout: o.ClientTimeout, DrainMax: new(time.Duration)},
		Server:   o.Server,
	}
	// Both are profile keys of these types (serverconf.Keys), so Set cannot refuse them but
	// for a change of the schema, which every planner test would show.
	if err := errors.Join(p.Server.Set("max_threads", n), p.Server.Set("work_time", wt)); err != nil {
		panic(fmt.Sprintf("planner: %v", err))
	}
	if arrivals == Poisson {
		p.Arrivals, p.Seed = loadprofiles.ArrivalsPoisson, seed
	}
	p.Normalize()
	return p
}

// finishRow fills Little's law (with the self-call time measured over the whole plan) and the
// ratio measured/predicted, and caps split's capacity at Little's bound.
func finishRow(r *results.PlanRow, p *results.Plan) {
	r.PredictedRPS = Predicted(r.MaxThreads, time.Duration(p.WorkTimeS*float64(time.Second)), p.SelfCallS)
	var measured float64
	switch {
	case r.DeadlockRPS != nil:
		measured = *r.DeadlockRPS
	case r.SustainedRPS != nil:
		measured = *r.SustainedRPS
	}
	if r.PredictedRPS > 0 && measured > 0 {
		r.Ratio = measured / r.PredictedRPS
	}
	// Split's capacity is Little's bound at most: a short hold above it can still meet the SLO
	// while its queue grows, and would not for long.
	if r.Basis == results.BasisCapacity && r.PredictedRPS > 0 && r.SafeRPS > r.PredictedRPS {
		r.SafeRPS = r.PredictedRPS
	}
}

func setHazard(r *results.PlanRow, e Estimate) {
	r.HazardPerHour, r.HazardCI, r.HazardMethod = ptr(e.PerHour), &results.Interval{Lo: e.CI.Lo, Hi: e.CI.Hi, Level: e.CI.Level}, e.Method
}

func errRate(s results.Summary) float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Requests-s.OK) / float64(s.Requests)
}

func ptr(f float64) *float64 { return &f }
