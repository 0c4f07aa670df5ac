package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/results/report"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/runner"
)

type compareFlags struct {
	topologies []string
	runtime    string
	runtimes   []string
	profile    string
	out        string
	json       bool
	engine     string
	limits     limitFlags
}

func newCompareCmd() *cobra.Command {
	var f compareFlags
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Run each topology on the same profile and compare them side by side (the main command)",
		Long: `Run each topology on the same load profile, one after another, and write one comparison
folder with the record of each run and the reports:

  runs/YYYYMMDD-HHMMSS-compare/
    TOPOLOGY/       one run record per topology: self/, split/, ... (see 'sim run --help')
    report.html     one self-contained page: the comparison matrix (a row per topology: verdict,
                    onset, capacity, goodput, p99, errors by kind, peak CLOSE_WAIT, recovery, the
                    best of each column marked, with its rule), then throughput, latency, sockets
                    by state (CLOSE_WAIT), workers and queues on one time axis, onset and load-end
                    markers, the config of each run, the definitions
    report.md       the matrix, the verdict table and static charts (charts/*.png), for a code host

--topologies takes all (every topology below, in this order) or a comma-separated list. With no
flags it runs self and split on the quick profile (about a minute in all) and ends with a
side-by-side table; more than three topologies end with the matrix instead. Each run prints a
line as it starts and one with its verdict as it ends ([3/8] bulkhead: ...).

Topologies (one file each in internal/topology):
` + topologyHelp() + `
Runtimes (--runtime for all runs, or --runtimes to run each topology on each runtime, a row
each, into RUNTIME/TOPOLOGY; one file each in internal/runtimes):
` + runtimeHelp() + `
Exit codes: 0 completed, 1 a profile threshold was breached, 2 bad input, 3 a run failed or was
interrupted (the records and reports made so far are kept).

` + engineHelp + ` With --engine model a comparison takes well under a second.`,
		Example: `  sim compare
  sim compare --topologies all
  sim compare --topologies all --engine model
  sim compare --runtimes all --topologies self --engine model
  sim compare --runtime gunicorn --topologies self,split
  sim compare --topologies self,self-timeout,bulkhead --profile ramp
  sim compare --topologies self --profile ./my-profile.yaml --out /tmp/runs`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCompare(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.topologies, "topologies", []string{app.Self, app.Split}, "topologies to run, in order: all, or a comma-separated list of "+topologyNames())
	fl.StringVar(&f.runtime, "runtime", "", runtimeUsage())
	fl.StringSliceVar(&f.runtimes, "runtimes", nil, "run each topology on each of these runtimes: all, or a comma-separated list of "+runtimeNames()+" (a row each; a topology a runtime does not run is skipped, saying so)")
	fl.StringVar(&f.profile, "profile", "quick", "built-in profile name or path to a YAML profile")
	fl.StringVar(&f.out, "out", defaultRunsDir, "folder under which the comparison folder is created")
	fl.BoolVar(&f.json, "json", false, "print the summaries as a JSON array instead of the table")
	fl.StringVar(&f.engine, "engine", results.EngineSockets, "sockets (the real server on loopback) or model (the virtual-time model: milliseconds, records marked engine model)")
	f.limits.add(fl)
	return cmd
}

func runCompare(cmd *cobra.Command, f compareFlags) error {
	if err := checkEngine(f.engine); err != nil {
		return err
	}
	if err := checkOut("--out", f.out); err != nil {
		return err
	}
	tops, err := parseTopologies("--topologies", f.topologies)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("runtime") {
		if cmd.Flags().Changed("runtimes") {
			return &invalid.Error{Field: "--runtime", Value: f.runtime, Allowed: "unset with --runtimes, which lists the runtimes to run"}
		}
		if err := checkRuntime("--runtime", f.runtime); err != nil {
			return err
		}
	}
	var rts []string
	if cmd.Flags().Changed("runtimes") {
		if rts, err = parseRuntimes("--runtimes", f.runtimes); err != nil {
			return err
		}
	}
	prof, err := f.limits.load(f.profile)
	if err != nil {
		return err
	}
	prof = withRuntime(prof, f.runtime)
	jobs, skipped := compareJobs(tops, rts, prof)
	if len(jobs) == 0 {
		return &invalid.Error{Field: "--topologies", Value: strings.Join(tops, ","), Allowed: "a topology that one of the runtimes runs: " + strings.Join(skipped, "; ")}
	}
	for _, j := range jobs {
		if _, err := runner.ServerConfig(j.topology, j.prof); err != nil {
			return fmt.Errorf("profile %s: server: %w", f.profile, err)
		}
	}
	dir := results.NewRunDir(f.out, "compare", time.Now())
	sess, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer sess.close()
	sess.engine = f.engine
	for _, s := range skipped {
		fmt.Fprintf(cmd.ErrOrStderr(), "skipped: %s\n", s)
	}
	recs, runErr := runJobs(cmd, sess, dir, jobs, f.profile, nil)
	title := "sim compare: " + strings.Join(tops, " vs ")
	if len(tops) > 2 && slices.Equal(tops, topology.Names()) {
		title = fmt.Sprintf("sim compare: all %d topologies", len(tops))
	}
	if len(rts) > 0 {
		title += " on " + strings.Join(rts, ", ")
	} else if rt := profileRuntime(prof); rt != runtimes.Tomcat {
		title += " on " + rt
	}
	files, repErr := writeReports(dir, recs, title+", profile "+f.profile, nil)
	if f.json {
		var sums []results.Summary
		for _, r := range recs {
			sums = append(sums, r.Summary)
		}
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if err := enc.Encode(sums); err != nil {
			return err
		}
	} else if len(recs) > 0 {
		report.Table(cmd.OutOrStdout(), recs)
		printFiles(cmd, dir, files)
	}
	if runErr != nil {
		return runErr
	}
	if repErr != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("write reports: %w", repErr)}
	}
	return breached(prof, recs)
}

// job is one run of a comparison: a topology, on the runtime prof's server section names, into
// its folder (relative to the comparison's).
type job struct {
	topology string
	runtime  string // "" when the comparison is of topologies only
	prof     *loadprofiles.Profile
	folder   string
	step     string
}

// compareJobs lists the runs of a comparison: each topology, on each of rts when given (then
// runtime-major, into RUNTIME/TOPOLOGY), else on prof's runtime (into TOPOLOGY). skipped says
// which combinations a runtime does not run, and why.
func compareJobs(tops, rts []string, prof *loadprofiles.Profile) (jobs []job, skipped []string) {
	if len(rts) == 0 {
		for _, t := range tops {
			jobs = append(jobs, job{topology: t, prof: prof, folder: t, step: t})
		}
		return jobs, nil
	}
	for _, rt := range rts {
		r, _ := runtimes.Lookup(rt)
		p := withRuntime(prof, rt)
		for _, t := range tops {
			if !r.Allows(t) {
				skipped = append(skipped, fmt.Sprintf("%s on %s (%s runs %s)", t, rt, rt, strings.Join(r.TopologyNames(), ", ")))
				continue
			}
			jobs = append(jobs, job{topology: t, runtime: rt, prof: p, folder: filepath.Join(rt, t), step: t + " on " + rt})
		}
	}
	return jobs, skipped
}

// runAll runs each topology into dir/TOPOLOGY (runJobs).
func runAll(cmd *cobra.Command, sess *session, dir string, topologies []string, prof *loadprofiles.Profile, profName string, server func(topology string) func(*app.Config)) ([]*results.Record, error) {
	jobs, _ := compareJobs(topologies, nil, prof)
	return runJobs(cmd, sess, dir, jobs, profName, server)
}

// runJobs runs each job into dir/FOLDER and returns the records that were written, even when a
// run failed; it stops at the first failure or interrupt. It prints a line on stderr as each
// run starts and one with its verdict as it ends, so a long comparison shows where it is.
func runJobs(cmd *cobra.Command, sess *session, dir string, jobs []job, profName string, server func(topology string) func(*app.Config)) ([]*results.Record, error) {
	var recs []*results.Record
	w := cmd.ErrOrStderr()
	for i, j := range jobs {
		t, prof := j.topology, j.prof
		step := fmt.Sprintf("[%d/%d] %s", i+1, len(jobs), j.step)
		fmt.Fprintf(w, "%s: profile %s, %s of load + %s of recovery probes\n", step, profName, prof.Duration(), prof.Recovery.Duration)
		var mod func(*app.Config)
		if server != nil {
			mod = server(t)
		}
		start := time.Now()
		out, err := sess.run(t, prof, profName, filepath.Join(dir, j.folder), mod)
		took := roundTook(time.Since(start))
		if out != nil {
			if rec, rerr := results.Read(out.Dir); rerr == nil {
				recs = append(recs, rec)
			}
		}
		if err != nil {
			fmt.Fprintf(w, "%s: failed after %s\n", step, took)
			return recs, runError(out, err)
		}
		verdict := "no record"
		if out != nil {
			verdict = out.Summary.VerdictLine()
		}
		fmt.Fprintf(w, "%s: %s (%s)\n", step, verdict, took)
	}
	return recs, nil
}

// writeReports renders the HTML and Markdown reports of recs into dir.
func writeReports(dir string, recs []*results.Record, title string, notes []string) (report.Files, error) {
	if len(recs) == 0 {
		return report.Files{}, nil
	}
	return report.Write(dir, recs, report.Options{Title: title, Notes: notes})
}

func printFiles(cmd *cobra.Command, dir string, files report.Files) {
	fmt.Fprintf(cmd.OutOrStdout(), "\nrecords and reports in %s\n", filepath.Clean(dir))
	for _, p := range files.Paths() {
		fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", p)
	}
}

// breached checks the profile's thresholds against each record: exit 1 naming each breach.
func breached(prof *loadprofiles.Profile, recs []*results.Record) error {
	var sums []results.Summary
	for _, r := range recs {
		sums = append(sums, r.Summary)
	}
	return checkThresholds(prof, sums)
}

// roundTook rounds a run's wall time for the progress line: a model run takes milliseconds, a
// socket run tens of seconds.
func roundTook(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
