package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/spf13/cobra"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/results/report"
)

// planFile is the capacity plan a plan folder holds.
const planFile = "plan.json"

type reportFlags struct {
	out   string
	title string
	notes []string
	merge bool
}

func newReportCmd() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "report DIR...",
		Short: "Render shareable HTML and Markdown reports from saved run records, comparisons or plans",
		Long: `Render the reports of saved results again, so they can be shared and looked at later.
Each DIR is one of:

  a run record        a folder written by 'sim run' (it has summary.json)
  a comparison        a folder written by 'sim compare': one record per subfolder (self/, split/)
  a plan              a folder written by 'sim plan' (it has plan.json)

For records and comparisons it writes report.html (one self-contained file with interactive
charts on one time axis; it opens offline), report.md (the verdict table, static charts and
definitions, for a code host) and charts/*.png; for a plan, plan.html, plan.md and
charts/plan-capacity.png. It prints the verdict table (or the plan table) and the written paths.

Where the reports go: --out DIR, or by default the folder given when there is one DIR (a run
record gets its report inside its own folder, a comparison or plan at its top). With several
DIRs, their records are shown side by side in one report and --out is required. A plan is
reported on its own.

` + mergeHelp + `

Exit codes: 0 written, 2 a DIR is missing or is not a record (or has a newer schema_version
than this sim reads), 3 the reports could not be written.`,
		Example: `  sim report runs/20261125-130244-self
  sim report runs/compare-20261125-1310                 # self/ and split/ inside
  sim report --out /tmp/cmp runs/*-self runs/*-split    # several records side by side
  sim report runs/plan-20261125-1400
  sim report --merge --out runs/merged records/*-shard*     # the shards of one load as one record`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runReport(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "", "folder to write the reports into (default: the DIR, when only one is given)")
	fl.StringVar(&f.title, "title", "", "report title (default: from the topologies and profile)")
	fl.StringArrayVar(&f.notes, "note", nil, "a paragraph shown under the title (repeatable)")
	fl.BoolVar(&f.merge, "merge", false, "merge the DIRs, the records of the shards of one load (sim run --shard), into one new record (--out) and report it")
	return cmd
}

// source is one DIR argument, resolved.
type source struct {
	dir  string
	recs []*results.Record
	plan *results.Plan
}

func runReport(cmd *cobra.Command, f reportFlags, args []string) error {
	if f.merge {
		return runMerge(cmd, f, args)
	}
	if cmd.Flags().Changed("out") {
		if err := checkOut("--out", f.out); err != nil {
			return err
		}
	}
	var srcs []source
	for _, arg := range args {
		s, err := resolveSource(arg)
		if err != nil {
			return err
		}
		srcs = append(srcs, s)
	}
	out := f.out
	if out == "" {
		if len(srcs) > 1 {
			return &invalid.Error{Field: "--out", Value: "", Allowed: "a folder for the report: required when several DIRs are given"}
		}
		out = srcs[0].dir
	}
	stdout := cmd.OutOrStdout()

	if plan := planSource(srcs); plan != nil {
		if len(srcs) > 1 {
			return &invalid.Error{Field: "DIR", Value: plan.dir, Allowed: "a plan folder on its own: one plan per 'sim report'"}
		}
		if err := checkPlanReport(cmd.Flags()); err != nil {
			return err
		}
		if err := report.PlanTable(stdout, srcs[0].plan); err != nil {
			return err
		}
		files, err := report.WritePlan(out, srcs[0].plan)
		if err != nil {
			return err
		}
		printWritten(cmd, files)
		return nil
	}

	var recs []*results.Record
	for _, s := range srcs {
		recs = append(recs, s.recs...)
	}
	if err := report.Table(stdout, recs); err != nil {
		return err
	}
	files, err := report.Write(out, recs, report.Options{Title: f.title, Notes: f.notes})
	if err != nil {
		return err
	}
	printWritten(cmd, files)
	return nil
}

// planSource returns the first plan among srcs, nil when there is none.
func planSource(srcs []source) *source {
	for i := range srcs {
		if srcs[i].plan != nil {
			return &srcs[i]
		}
	}
	return nil
}

func printWritten(cmd *cobra.Command, files report.Files) {
	w := cmd.OutOrStdout()
	fmt.Fprintln(w, "\nwrote:")
	for _, p := range files.Paths() {
		fmt.Fprintln(w, " ", p)
	}
}

// resolveSource reads what DIR holds: a record, a plan, or a comparison (records in its
// subfolders, in name order). Anything else is the user's mistake, exit 2 naming the folder.
func resolveSource(dir string) (source, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return source{}, &exitError{code: exitBadInput, err: fmt.Errorf("report: %s: no such folder", dir)}
	case err != nil:
		return source{}, &exitError{code: exitBadInput, err: fmt.Errorf("report: %w", err)}
	case !st.IsDir():
		return source{}, &exitError{code: exitBadInput, err: fmt.Errorf("report: %s is not a folder: give a run record, comparison or plan folder", dir)}
	}
	if exists(filepath.Join(dir, results.SummaryFile)) {
		rec, err := results.Read(dir)
		if err != nil {
			return source{}, err
		}
		return source{dir: dir, recs: []*results.Record{rec}}, nil
	}
	if exists(filepath.Join(dir, planFile)) {
		p, err := readPlan(dir)
		if err != nil {
			return source{}, err
		}
		return source{dir: dir, plan: p}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return source{}, fmt.Errorf("report: %w", err)
	}
	var subs []string
	for _, e := range entries {
		if e.IsDir() && exists(filepath.Join(dir, e.Name(), results.SummaryFile)) {
			subs = append(subs, filepath.Join(dir, e.Name()))
		}
	}
	if len(subs) == 0 {
		return source{}, &exitError{code: exitBadInput, err: fmt.Errorf(
			"report: %s is not a run record, comparison or plan folder: it has no %s, no %s and no subfolder with a %s",
			dir, results.SummaryFile, planFile, results.SummaryFile)}
	}
	sort.Strings(subs)
	s := source{dir: dir}
	for _, sub := range subs {
		rec, err := results.Read(sub)
		if err != nil {
			return source{}, err
		}
		s.recs = append(s.recs, rec)
	}
	// In the registry's order, as sim compare ran them (the incident first, then the fixes);
	// a topology this sim does not know after them, by folder name.
	order := topology.Names()
	rank := func(r *results.Record) int {
		if i := slices.Index(order, r.Summary.Topology); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(s.recs, func(a, b *results.Record) int { return rank(a) - rank(b) })
	return s, nil
}

// readPlan loads plan.json; results.ReadPlan refuses a schema_version other than the one this
// sim writes, naming the file.
func readPlan(dir string) (*results.Plan, error) { return results.ReadPlan(dir) }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
