package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/results/report"
	"github.com/simdev/sim/simulator/merge"
)

// mergeHelp is the --merge paragraph of `sim report --help`.
const mergeHelp = `--merge DIR... merges the records of the N shards of one load ('sim run --shard I/N', e.g. the
pods of a Kubernetes Indexed Job) into one new record and reports it: results.bin merged by
completion time, the timeline recomputed on windows laid from the earliest shard's attack start
(each shard's times moved by its attack_started_at in config.json: the shards' clocks must
agree, as NTP keeps them), counts summed and percentiles taken over the merged results, the
socket census from one shard (the one with the fewest gaps, the first among equals: they all read
the same agent), the probes sent after every shard's load stopped, and the verdict judged on the
merged timeline. --out is the new record's folder, which must not exist (default
runs/YYYYMMDD-HHMMSS-merged); the shard records are only read. Records that are not the N
shards of one load (another profile, target or shard count, a shard missing or twice, another
schema_version) are refused with exit 2, naming the record and the field.`

// runMerge is `sim report --merge DIR...`.
func runMerge(cmd *cobra.Command, f reportFlags, dirs []string) error {
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return &exitError{code: exitBadInput, err: fmt.Errorf("report --merge: %s: no such folder", dir)}
		case err != nil:
			return &exitError{code: exitBadInput, err: fmt.Errorf("report --merge: %w", err)}
		case !st.IsDir():
			return &exitError{code: exitBadInput, err: fmt.Errorf("report --merge: %s is not a folder: give the shards' run records", dir)}
		}
	}
	out := results.NewRunDir(defaultRunsDir, "merged", time.Now())
	if cmd.Flags().Changed("out") {
		if err := checkMergeOut(f.out, dirs); err != nil {
			return err
		}
		out = f.out
	}
	o, err := merge.Merge(cmd.Context(), dirs, out)
	if err != nil {
		return err
	}
	rec, err := results.Read(o.Dir)
	if err != nil {
		return fmt.Errorf("read merged record: %w", err)
	}
	w := cmd.OutOrStdout()
	printMerge(w, o)
	if err := report.Table(w, []*results.Record{rec}); err != nil {
		return err
	}
	notes := append([]string{mergeNote(o)}, f.notes...)
	files, err := report.Write(o.Dir, []*results.Record{rec}, report.Options{Title: f.title, Notes: notes})
	if err != nil {
		return err
	}
	printWritten(cmd, files)
	return nil
}

// checkMergeOut refuses an --out that exists (the merged record is a new folder) or lies inside
// one of the shard records (which are only read).
func checkMergeOut(out string, dirs []string) error {
	if err := checkOut("--out", out); err != nil {
		return err
	}
	if _, err := os.Lstat(out); err == nil {
		return invalid.Field("--out", out, "a folder that does not exist yet: the merged record is a new folder")
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	for _, dir := range dirs {
		absIn, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		if rel, err := filepath.Rel(absIn, absOut); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return invalid.Field("--out", out, fmt.Sprintf("a folder outside the shard records: it is inside %s, which --merge only reads", dir))
		}
	}
	return nil
}

// printMerge says what was merged: the shards and their offsets, the request counts, where the
// census came from and the probes left out.
func printMerge(w io.Writer, o *merge.Outcome) {
	fmt.Fprintf(w, "sim report --merge: %d shards merged into %s\n", len(o.Info.Shards), filepath.Clean(o.Dir))
	for _, s := range o.Info.Shards {
		fmt.Fprintf(w, "  shard %-3d %-50s started +%.3f s, %d requests\n", s.Index, s.Record, s.OffsetS, s.Requests)
	}
	fmt.Fprintf(w, "  %-15s %d merged (the shards' summaries: %d)\n", "requests", o.Summary.Requests, o.ShardRequests)
	fmt.Fprintf(w, "  %-15s from shard %d: %s\n", "socket census", o.Info.CensusShard, o.Info.CensusWhy)
	if o.Info.ProbesLeftOut > 0 {
		fmt.Fprintf(w, "  %-15s %d left out: sent while another shard still offered load\n", "probes", o.Info.ProbesLeftOut)
	}
	fmt.Fprintln(w)
}

// mergeNote is the paragraph the merged record's report opens with: where it came from.
func mergeNote(o *merge.Outcome) string {
	n := len(o.Info.Shards)
	spread := 0.0
	for _, s := range o.Info.Shards {
		spread = max(spread, s.OffsetS)
	}
	return fmt.Sprintf("Merged from %d shards (sim run --shard I/%d), whose attacks started within %.3f s of each other: "+
		"windows are laid from the earliest start; counts are summed and percentiles taken over all shards' requests; "+
		"the socket census is shard %d's (%s).", n, n, spread, o.Info.CensusShard, o.Info.CensusWhy)
}
