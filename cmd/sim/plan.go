package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/results/report"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/model"
	"github.com/simdev/sim/simulator/planner"
)

type planFlags struct {
	topology     string
	runtime      string
	maxThreads   []int
	workTime     time.Duration
	sloP99       time.Duration
	sloErrors    string
	arrivals     []string
	stepDuration time.Duration
	steps        int
	rampDuration time.Duration
	deadlockOnly bool
	out          string
	json         bool
	horizon      time.Duration
	risk         string
	peakRate     float64
	engine       string
	verify       bool
	// server are --server key=value settings of the profile server section every run starts
	// from; server, hangs and noHang are read from them by validate: whether the server can
	// hang (planner.CanHang) and, when not, what to say (serverconf.Config.NoHang).
	server []string
	hangs  bool
	noHang string
	over   loadprofiles.Server
}

// Plan bounds: a plan runs one server per step; these keep a typo from running for hours.
const (
	planMaxPools   = 8
	planMaxThreads = 1000
	planMaxSteps   = 10
	// planMinHorizon and planMaxHorizon bound --horizon: from a minute (the verify hold's scale)
	// to a year, whose 1 % budget (1.1e-6 hangs an hour) is already below the hazards the
	// estimators are checked down to (1e-4 an hour, issue 13) by two decades.
	planMinHorizon = time.Minute
	planMaxHorizon = 365 * 24 * time.Hour
	// planMaxRisk bounds --risk: a budget above an even chance of a hang is not a plan.
	planMaxRisk = 0.5
	// planMaxPeakRate bounds --peak-rate: 50 times what one server process sustains on a bare
	// page on this machine kind (~2,000 rps, PITFALLS.md).
	planMaxPeakRate = 100000
)

func newPlanCmd() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Capacity planning: per pool size, the highest rate whose risk of a hang over a horizon stays within a budget",
		Long: `For each pool size and arrival process, the highest average rate whose probability of a
hang within --horizon (default 24h) is at most --risk (default 1%), with the hang hazard there
(hangs per hour of steady traffic) and its 95 % interval, beside Little's law.

Why a risk and not a threshold: the self topology without timeouts has an absorbing state.
The moment every worker holds a page, each page's self-call waits behind them for a worker
that never frees. Random (Poisson) arrivals reach that state at any average rate; the rate only
sets how often. The hazard comes from the virtual-time model of the server, by a rare-event
method (multilevel splitting) where hangs are too rare to see. Evenly paced (uniform) load is
deterministic in the model and hangs only near Little's law, N / (work_time + self-call): a best
case real traffic never gives, so the recommendation is made from the Poisson rows.

Split has no cycle: it is planned by capacity, the highest rate within the SLO.

  --peak-rate R   the reverse question: the fewest workers whose risk at R stays within budget
  --engine        where the measured steps run (the evenly paced threshold ramp, the SLO
                  bisection): model (default, seconds) or sockets (the real server, minutes);
                  the hazard always comes from the model, since no socket run sees a hang a year
  --verify        one real-socket Poisson hold of the smallest pool at the rate where the
                  model predicts a hang about once a minute, predicted vs measured

Writes plan.json, plan.html and plan.md (the answer table, the hazard curve, the explanation)
and every step's run record under runs/YYYYMMDD-HHMMSS-plan/, then prints the table and a
recommendation.`,
		Example: `  sim plan --max-threads 8,16,32 --deadlock-only
  sim plan --max-threads 16 --arrivals poisson --horizon 720h --risk 0.1%
  sim plan --max-threads 16 --peak-rate 40 --deadlock-only
  sim plan --max-threads 16 --arrivals poisson --deadlock-only --verify
  sim plan --topology split --max-threads 16,32 --slo-p99 300ms --slo-errors 0.5%`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPlan(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.topology, "topology", app.Self, topologyUsage())
	fl.StringVar(&f.runtime, "runtime", "", runtimeUsage())
	fl.IntSliceVar(&f.maxThreads, "max-threads", []int{8, 16}, "pool sizes to plan, comma-separated")
	fl.DurationVar(&f.workTime, "work-time", planner.DefaultWorkTime, "work_time of each page")
	fl.DurationVar(&f.sloP99, "slo-p99", planner.DefaultSLOP99, "SLO: highest p99 latency")
	fl.StringVar(&f.sloErrors, "slo-errors", "1%", "SLO: highest error rate (1% or 0.01)")
	fl.StringSliceVar(&f.arrivals, "arrivals", []string{planner.Uniform, planner.Poisson}, "arrival processes to plan: uniform (evenly paced, a best case), poisson")
	fl.DurationVar(&f.stepDuration, "step-duration", planner.DefaultStepDuration, "how long each search step holds its rate")
	fl.IntVar(&f.steps, "steps", planner.DefaultSteps, "bisection steps per pool size")
	fl.DurationVar(&f.rampDuration, "ramp-duration", planner.DefaultRampDuration, "self: length of the evenly paced threshold ramp")
	fl.BoolVar(&f.deadlockOnly, "deadlock-only", false, "self: plan only the hang risk and the evenly paced threshold (skip the SLO search)")
	fl.DurationVar(&f.horizon, "horizon", planner.DefaultHorizon, "self: the horizon of the hang risk (a day, a release, a year)")
	fl.StringVar(&f.risk, "risk", "1%", "self: the highest probability of a hang within --horizon (1% or 0.01)")
	fl.Float64Var(&f.peakRate, "peak-rate", 0, "also answer: the fewest workers whose risk at this rate (requests/s) stays within the budget")
	fl.StringVar(&f.engine, "engine", results.EngineModel, "where the measured steps run: model (the virtual-time model) or sockets (the real server)")
	fl.BoolVar(&f.verify, "verify", false, "self: hold the smallest pool on real sockets at the rate the model says hangs within about a minute, and print predicted vs measured")
	fl.StringVar(&f.out, "out", defaultRunsDir, "folder under which the plan folder is created")
	fl.BoolVar(&f.json, "json", false, "print plan.json instead of the table")
	fl.StringArrayVar(&f.server, "server", nil, "a server key of a profile's server section for every run, key=value (repeatable), e.g. --server admission=reject")
	return cmd
}

func parseFraction(field, s string) (float64, error) {
	t := strings.TrimSpace(s)
	div := 1.0
	if strings.HasSuffix(t, "%") {
		t, div = strings.TrimSuffix(t, "%"), 100
	}
	v, err := strconv.ParseFloat(t, 64)
	// Written so that NaN fails too: it compares false with both bounds.
	if err != nil || !(v/div > 0 && v/div < 1) {
		return 0, &invalid.Error{Field: field, Value: s, Allowed: "a fraction between 0 and 1, as 1% or 0.01"}
	}
	return v / div, nil
}

func (f *planFlags) validate() (float64, error) {
	if err := checkTopology("--topology", f.topology); err != nil {
		return 0, err
	}
	for _, s := range f.server {
		if err := f.over.ParseSetting("--server", s); err != nil {
			return 0, err
		}
	}
	if f.runtime != "" {
		if err := checkRuntime("--runtime", f.runtime); err != nil {
			return 0, err
		}
		if _, set := f.over.Get("runtime"); set {
			return 0, &invalid.Error{Field: "--server", Value: "runtime", Allowed: "a key other than runtime when --runtime is given"}
		}
		if err := f.over.Set("runtime", f.runtime); err != nil {
			return 0, err
		}
	}
	for _, k := range []string{"max_threads", "work_time"} {
		if _, set := f.over.Settings()[k]; set {
			return 0, &invalid.Error{Field: "--server", Value: k, Allowed: "a key other than max_threads and work_time: --max-threads and --work-time set them"}
		}
	}
	cfg := app.Defaults()
	cfg.Topology = f.topology
	f.over.Apply(&cfg)
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	if len(f.maxThreads) == 0 || len(f.maxThreads) > planMaxPools {
		return 0, &invalid.Error{Field: "--max-threads", Value: fmt.Sprint(f.maxThreads), Allowed: fmt.Sprintf("1 to %d pool sizes", planMaxPools)}
	}
	for _, n := range f.maxThreads {
		if n < 1 || n > planMaxThreads {
			return 0, &invalid.Error{Field: "--max-threads", Value: n, Allowed: fmt.Sprintf("pool sizes from 1 to %d", planMaxThreads)}
		}
	}
	var err error
	if f.hangs, err = planner.CanHang(cfg, f.maxThreads); err != nil {
		return 0, err
	}
	cfg.MaxThreads = f.maxThreads[0]
	f.noHang = cfg.NoHang()
	if f.workTime <= 0 || f.workTime > 10*time.Second {
		return 0, &invalid.Error{Field: "--work-time", Value: f.workTime.String(), Allowed: "more than 0, at most 10s"}
	}
	if f.sloP99 <= 0 || f.sloP99 > time.Minute {
		return 0, &invalid.Error{Field: "--slo-p99", Value: f.sloP99.String(), Allowed: "more than 0, at most 1m"}
	}
	for _, a := range f.arrivals {
		if a != "uniform" && a != "poisson" {
			return 0, &invalid.Error{Field: "--arrivals", Value: a, Allowed: "uniform, poisson"}
		}
	}
	if f.stepDuration < time.Second || f.stepDuration > 10*time.Minute {
		return 0, &invalid.Error{Field: "--step-duration", Value: f.stepDuration.String(), Allowed: "1s to 10m"}
	}
	if f.rampDuration < 5*time.Second || f.rampDuration > 30*time.Minute {
		return 0, &invalid.Error{Field: "--ramp-duration", Value: f.rampDuration.String(), Allowed: "5s to 30m"}
	}
	if f.steps < 1 || f.steps > planMaxSteps {
		return 0, &invalid.Error{Field: "--steps", Value: f.steps, Allowed: fmt.Sprintf("1 to %d", planMaxSteps)}
	}
	if f.deadlockOnly && !f.hangs {
		return 0, &invalid.Error{Field: "--deadlock-only", Value: true, Allowed: "only with a topology that can hang (" + serverconf.HangingTopologies() + "): " + f.noHang + " has no deadlock"}
	}
	return parseFraction("--slo-errors", f.sloErrors)
}

func runPlan(cmd *cobra.Command, f planFlags) error {
	sloErrors, err := f.validate()
	if err != nil {
		return err
	}
	if err := f.checkFlags(cmd.Flags()); err != nil {
		return err
	}
	risk, err := f.checkPlan(cmd.Flags())
	if err != nil {
		return err
	}
	dir := results.NewRunDir(f.out, "plan", time.Now())
	sess, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer sess.close()
	// A run on sockets ends its load once it has hung: a step that hangs misses the SLO, and
	// the verify hold measures the time to hang, whatever comes after.
	sess.stopOnHang = true
	sockets := func(ctx context.Context, topology string, p *loadprofiles.Profile, name, rdir string) (results.Summary, error) {
		out, err := sess.run(topology, p, name, rdir, nil)
		if err != nil {
			return results.Summary{}, runError(out, err)
		}
		return out.Summary, nil
	}
	logf := func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", args...) }
	o := planner.Options{
		Topology:     f.topology,
		Server:       f.over,
		MaxThreads:   f.maxThreads,
		WorkTime:     f.workTime,
		Arrivals:     f.arrivals,
		Horizon:      f.horizon,
		Risk:         risk,
		PeakRate:     f.peakRate,
		Engine:       f.engine,
		SLOP99:       f.sloP99,
		SLOErrors:    sloErrors,
		StepDuration: f.stepDuration,
		Steps:        f.steps,
		RampDuration: f.rampDuration,
		DeadlockOnly: f.deadlockOnly,
		// Little's law before any run measures the self-call: the model's calibrated figures.
		SelfCall: model.SelfCallTime + model.PageOverhead,
		Dir:      dir,
		Run:      sockets,
		Log:      logf,
	}
	o.Estimator = planner.ModelEstimator{Client: o.PlanClient()}
	if f.engine == results.EngineModel {
		// The model's runs are independent and single-threaded: one row per core.
		o.Run, o.Parallel = planner.ModelRun, runtime.GOMAXPROCS(0)
	}
	if f.verify {
		o.Verify = sockets
	}
	for _, w := range planWarnings(f) {
		logf("warning: %s", w)
	}
	p, planErr := planner.Plan(cmd.Context(), o)
	var ee *exitError
	if planErr != nil && !errors.As(planErr, &ee) {
		// Not the user's input (checked above): a failed estimate or run is a failure.
		planErr = &exitError{code: exitFailed, err: fmt.Errorf("plan: %w", planErr)}
	}
	if p == nil {
		return planErr
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return &exitError{code: exitFailed, err: errors.Join(fmt.Errorf("write plan: %w", err), planErr)}
	}
	if err := results.WriteFileAtomic(dir, results.PlanFile, append(data, '\n')); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if planErr != nil {
		return planErr
	}
	for _, w := range p.Warnings {
		logf("warning: %s", w)
	}
	files, err := report.WritePlan(dir, p)
	if f.json {
		fmt.Fprintln(cmd.OutOrStdout(), string(data))
	} else {
		if err := report.PlanTable(cmd.OutOrStdout(), p); err != nil {
			return err
		}
		printFiles(cmd, dir, files)
	}
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("write plan report: %w", err)}
	}
	return nil
}

// checkPlan checks the flags of the hang risk, the peak rate, the engine and --verify, and
// returns --risk as a fraction.
func (f planFlags) checkPlan(fs *pflag.FlagSet) (float64, error) {
	if f.horizon < planMinHorizon || f.horizon > planMaxHorizon {
		return 0, &invalid.Error{Field: "--horizon", Value: f.horizon.String(), Allowed: fmt.Sprintf("%s to %s (a day is 24h)", planMinHorizon, planMaxHorizon)}
	}
	risk, err := parseFraction("--risk", f.risk)
	if err != nil {
		return 0, err
	}
	if !(risk > 0 && risk <= planMaxRisk) {
		return 0, &invalid.Error{Field: "--risk", Value: f.risk, Allowed: fmt.Sprintf("more than 0, at most %g%%, as 1%% or 0.01", 100*planMaxRisk)}
	}
	if fs.Changed("peak-rate") && !(f.peakRate > 0 && f.peakRate <= planMaxPeakRate) {
		return 0, &invalid.Error{Field: "--peak-rate", Value: fs.Lookup("peak-rate").Value.String(), Allowed: fmt.Sprintf("a rate in requests/s, more than 0, at most %d", planMaxPeakRate)}
	}
	if f.engine != results.EngineModel && f.engine != results.EngineSockets {
		return 0, &invalid.Error{Field: "--engine", Value: f.engine, Allowed: "model (the virtual-time model) or sockets (the real server)"}
	}
	selfOnly := "only with a topology that can hang (" + serverconf.HangingTopologies() + "): " + f.noHang + " has no hang to risk"
	return risk, checkNeeds(fs,
		needs{"horizon", f.hangs, selfOnly},
		needs{"risk", f.hangs, selfOnly},
		needs{"verify", f.hangs, selfOnly},
	)
}

// planWarnings are what the user asked for that weakens the plan, said before it runs.
func planWarnings(f planFlags) []string {
	if f.hangs && !slices.Contains(f.arrivals, planner.Poisson) && f.peakRate > 0 {
		return []string{"--peak-rate with evenly paced arrivals only sizes the pool by Little's law, a best case; add --arrivals poisson to size it for a hang risk"}
	}
	return nil
}
