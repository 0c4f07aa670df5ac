package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/results/report"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/planner"
)

type planFlags struct {
	topology     string
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
}

// Plan bounds: a plan runs one server per step; these keep a typo from running for hours.
const (
	planMaxPools   = 8
	planMaxThreads = 1000
	planMaxSteps   = 10
)

func newPlanCmd() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Capacity planning: the highest rate within an SLO and the deadlock rate, per pool size, against Little's law",
		Long: `For each pool size, measure on real sockets:

  - self: the rate at which it deadlocks (a linear ramp from 0.25x to 1.75x the predicted rate;
    the offered rate at hang onset);
  - the highest constant rate that meets the SLO (p99 and error rate, and no hang), by
    bisection, each step on a fresh server;

and print beside each the model's prediction, Little's law: N workers, each held for
work_time + self-call time per page, serve at most N / (work_time + self-call) pages a second;
for self that is also where the in-flight pages fill the pool and the self-calls they wait on
can no longer get a worker. The ratio measured/predicted shows how far the model holds.

Writes plan.json, plan.html and plan.md (with the capacity curve) and every step's run record
under runs/YYYYMMDD-HHMMSS-plan/, then prints the table and a recommendation.`,
		Example: `  sim plan --topology self --max-threads 8,16
  sim plan --topology self --max-threads 8,16 --deadlock-only
  sim plan --topology split --max-threads 16,32 --slo-p99 300ms --slo-errors 0.5%`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPlan(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.topology, "topology", app.Self, "self or split")
	fl.IntSliceVar(&f.maxThreads, "max-threads", []int{8, 16}, "pool sizes to plan, comma-separated")
	fl.DurationVar(&f.workTime, "work-time", planner.DefaultWorkTime, "work_time of each page")
	fl.DurationVar(&f.sloP99, "slo-p99", planner.DefaultSLOP99, "SLO: highest p99 latency")
	fl.StringVar(&f.sloErrors, "slo-errors", "1%", "SLO: highest error rate (1% or 0.01)")
	fl.StringSliceVar(&f.arrivals, "arrivals", []string{"uniform"}, "arrival processes to plan: uniform, poisson")
	fl.DurationVar(&f.stepDuration, "step-duration", planner.DefaultStepDuration, "how long each search step holds its rate")
	fl.IntVar(&f.steps, "steps", planner.DefaultSteps, "bisection steps per pool size")
	fl.DurationVar(&f.rampDuration, "ramp-duration", planner.DefaultRampDuration, "self: length of the deadlock ramp")
	fl.BoolVar(&f.deadlockOnly, "deadlock-only", false, "self: measure only the deadlock rate (skip the SLO search)")
	fl.StringVar(&f.out, "out", defaultRunsDir, "folder under which the plan folder is created")
	fl.BoolVar(&f.json, "json", false, "print plan.json instead of the table")
	return cmd
}

func parseFraction(field, s string) (float64, error) {
	t := strings.TrimSpace(s)
	div := 1.0
	if strings.HasSuffix(t, "%") {
		t, div = strings.TrimSuffix(t, "%"), 100
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v/div <= 0 || v/div >= 1 {
		return 0, &invalid.Error{Field: field, Value: s, Allowed: "a fraction between 0 and 1, as 1% or 0.01"}
	}
	return v / div, nil
}

func (f planFlags) validate() (float64, error) {
	if err := checkTopology("--topology", f.topology); err != nil {
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
	if f.deadlockOnly && f.topology != app.Self {
		return 0, &invalid.Error{Field: "--deadlock-only", Value: true, Allowed: "only with --topology self (split has no deadlock)"}
	}
	return parseFraction("--slo-errors", f.sloErrors)
}

func runPlan(cmd *cobra.Command, f planFlags) error {
	sloErrors, err := f.validate()
	if err != nil {
		return err
	}
	dir := results.NewRunDir(f.out, "plan", time.Now())
	sess, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer sess.close()
	run := func(ctx context.Context, topology string, p *loadprofiles.Profile, name, rdir string) (results.Summary, error) {
		out, err := sess.run(topology, p, name, rdir, nil)
		if err != nil {
			return results.Summary{}, runError(out, err)
		}
		return out.Summary, nil
	}
	p, planErr := planner.Plan(cmd.Context(), planner.Options{
		Topology:     f.topology,
		MaxThreads:   f.maxThreads,
		WorkTime:     f.workTime,
		Arrivals:     f.arrivals,
		SLOP99:       f.sloP99,
		SLOErrors:    sloErrors,
		StepDuration: f.stepDuration,
		Steps:        f.steps,
		RampDuration: f.rampDuration,
		DeadlockOnly: f.deadlockOnly,
		Dir:          dir,
		Run:          run,
		Log: func(format string, args ...any) {
			fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", args...)
		},
	})
	if p == nil {
		return planErr
	}
	data, _ := json.MarshalIndent(p, "", "  ")
	if err := results.WriteFileAtomic(dir, "plan.json", append(data, '\n')); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if planErr != nil {
		return planErr
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
