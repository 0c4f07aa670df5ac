package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/detect"
	"github.com/simdev/sim/simulator/runner"
)

// --shard mistakes are refused at once with exit 2, naming the flag and the value as given,
// before any record is made or anything is dialled.
func TestShardFlagBadInput(t *testing.T) {
	target := "http://127.0.0.1:9/page" // never dialled: the refusal comes first
	for _, tt := range []struct {
		name, value string
		noTarget    bool
		want        string
	}{
		{"index out of range", "3/3", false, "0 to 2"},
		{"negative index", "-1/3", false, "I/N"},
		{"no shards", "0/0", false, "from 1 to"},
		{"too many shards", fmt.Sprintf("0/%d", loadprofiles.MaxShards+1), false, "I/N"},
		{"no slash", "1", false, "I/N"},
		{"not numbers", "a/b", false, "I/N"},
		{"three parts", "1/3/4", false, "I/N"},
		{"a sign", "+1/3", false, "I/N"},
		{"spaces", " 1/3", false, "I/N"},
		{"hex", "0x1/3", false, "I/N"},
		{"unexpanded Job variable", "$(JOB_COMPLETION_INDEX)/3", false, "JOB_COMPLETION_INDEX"},
		{"empty", "", false, "I/N"},
		{"child mode", "0/3", true, "only with --target"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "runs")
			args := []string{"run", "--profile", "quick", "--out", out, "--shard", tt.value}
			if !tt.noTarget {
				args = append(args, "--target", target)
			}
			start := time.Now()
			code, stdout, stderr := simRun(t, nil, args...)
			if code != exitBadInput {
				t.Fatalf("exit %d, want 2: %s", code, stderr)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("refusal took %s: it must come before any dial", took)
			}
			mustContain(t, "message", stderr, "--shard", fmt.Sprintf("%q", tt.value), tt.want)
			if stdout != "" || fileExists(out) {
				t.Errorf("a refused run printed %q or made %s", stdout, out)
			}
		})
	}
}

// writeShardRecord writes a small record of shard index/count by hand, as sim run --shard
// leaves one, with no requests; edit, if set, changes its config first.
func writeShardRecord(t *testing.T, dir string, index, count int, edit func(*runner.EffectiveConfig)) string {
	t.Helper()
	w, err := results.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	prof := &loadprofiles.Profile{
		Stages:         []loadprofiles.Stage{{Duration: time.Second, Target: 30, Mode: loadprofiles.ModeHold}},
		SampleInterval: 250 * time.Millisecond,
		Recovery:       loadprofiles.Recovery{Duration: time.Second, Interval: 250 * time.Millisecond, Timeout: 500 * time.Millisecond},
	}
	cfg := runner.EffectiveConfig{
		Topology: "external", Profile: "by-hand", Load: prof, Target: "http://127.0.0.1:9/page",
		Thresholds: detect.Thresholds{HangFraction: 0.1, HangHold: time.Second, MinOfferedRPS: 1},
		Shard:      &runner.ShardConfig{Shard: loadprofiles.Shard{Index: index, Count: count}, AttackStartedAt: started},
	}
	if edit != nil {
		edit(&cfg)
	}
	if err := w.WriteConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSummary(results.Summary{Topology: "external", Profile: "by-hand", StartedAt: started, Complete: true}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sim report --merge refuses, with exit 2 naming what is wrong, inputs that are not the shards
// of one load and an --out that is not a new folder outside them; it writes nothing then and
// leaves the inputs as they were.
func TestMergeBadInput(t *testing.T) {
	for _, tt := range []struct {
		name string
		// setup makes the inputs under tmp and returns the arguments after "report --merge".
		setup func(tmp string) []string
		want  []string
	}{
		{"no such folder", func(tmp string) []string {
			return []string{"--out", filepath.Join(tmp, "m"), filepath.Join(tmp, "nope")}
		}, []string{"nope", "no such folder"}},
		{"not a record", func(tmp string) []string {
			os.Mkdir(filepath.Join(tmp, "empty"), 0o755)
			return []string{"--out", filepath.Join(tmp, "m"), filepath.Join(tmp, "empty")}
		}, []string{"empty", results.SummaryFile}},
		{"not a shard", func(tmp string) []string {
			a := writeShardRecord(t, filepath.Join(tmp, "a"), 0, 1, func(c *runner.EffectiveConfig) { c.Shard = nil })
			return []string{"--out", filepath.Join(tmp, "m"), a}
		}, []string{"a", "shard:", "whole load"}},
		{"a shard twice", func(tmp string) []string {
			a := writeShardRecord(t, filepath.Join(tmp, "a"), 0, 2, nil)
			b := writeShardRecord(t, filepath.Join(tmp, "b"), 0, 2, nil)
			return []string{"--out", filepath.Join(tmp, "m"), a, b}
		}, []string{filepath.Join("b", results.ConfigFile), "shard.index", "each shard once"}},
		{"a shard missing", func(tmp string) []string {
			a := writeShardRecord(t, filepath.Join(tmp, "a"), 0, 3, nil)
			b := writeShardRecord(t, filepath.Join(tmp, "b"), 1, 3, nil)
			return []string{"--out", filepath.Join(tmp, "m"), a, b}
		}, []string{"--merge", "shard.index", "no record of shard 2 was given"}},
		{"another target", func(tmp string) []string {
			a := writeShardRecord(t, filepath.Join(tmp, "a"), 0, 2, nil)
			b := writeShardRecord(t, filepath.Join(tmp, "b"), 1, 2, func(c *runner.EffectiveConfig) { c.Target = "http://127.0.0.1:10/page" })
			return []string{"--out", filepath.Join(tmp, "m"), a, b}
		}, []string{filepath.Join("b", results.ConfigFile), "target:", "127.0.0.1:10"}},
		{"another shard count", func(tmp string) []string {
			a := writeShardRecord(t, filepath.Join(tmp, "a"), 0, 2, nil)
			b := writeShardRecord(t, filepath.Join(tmp, "b"), 1, 3, nil)
			return []string{"--out", filepath.Join(tmp, "m"), a, b}
		}, []string{filepath.Join("b", results.ConfigFile), "shard.count"}},
		{"out exists", func(tmp string) []string {
			a := writeShardRecord(t, filepath.Join(tmp, "a"), 0, 1, nil)
			os.Mkdir(filepath.Join(tmp, "m"), 0o755)
			return []string{"--out", filepath.Join(tmp, "m"), a}
		}, []string{"--out", "does not exist yet"}},
		{"out inside a record", func(tmp string) []string {
			a := writeShardRecord(t, filepath.Join(tmp, "a"), 0, 1, nil)
			return []string{"--out", filepath.Join(a, "merged"), a}
		}, []string{"--out", "outside the shard records"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			args := tt.setup(tmp)
			before := listFiles(t, tmp)
			code, stdout, stderr := simRun(t, nil, append([]string{"report", "--merge"}, args...)...)
			if code != exitBadInput {
				t.Fatalf("exit %d, want 2: %s%s", code, stdout, stderr)
			}
			mustContain(t, "message", stderr, tt.want...)
			if after := listFiles(t, tmp); after != before {
				t.Errorf("a refused merge changed the folder:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// listFiles lists every path under dir with its size and modification time.
func listFiles(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil {
			fmt.Fprintf(&b, "%s %d %d; ", path, fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

// shardHold is a steady load well under split's capacity (64 workers x 100 ms: ~630 rps):
// latency is the work time plus the self-call, the same for every request whoever sends it.
// The work time is 100 ms rather than 50: three load processes beside the server on two cores
// add 1-2 ms of scheduling delay to the merged p99 (measured: 0.6-3.9 % of a 51 ms p99 at
// 50 ms, against 0.3-1.1 % of 102 ms at 100 ms), which is the test machine, not the merge.
const shardHold = `description: 8 s hold at 150 rps, for the shard tests
stages:
  - {duration: 8s, target: 150, mode: hold}
client: {timeout: 2s}
recovery: {duration: 1s, interval: 250ms, timeout: 500ms}
`

// shardLatencyTolerance is how far the merged record's p50 and p99 may be from a single run's
// at the same total rate, in this test: loose, because the two are separate real runs on a
// machine that CI keeps busy (a p99 of 109 ms against 103.5 ms was seen there). The 5 %
// is a measurement, quoted in the note from quiet runs (p50/p99 101.07/104.49 ms merged against
// 100.87/103.56 ms single); what the test holds exactly is the merge itself: a quantile of the
// merged stream lies between the shards' own (mergeQuantileSlack for vegeta's t-digest).
const shardLatencyTolerance = 0.5

// mergeQuantileSlack is how far outside the shards' own quantiles the merged one may fall:
// vegeta's quantiles come from a t-digest, which is approximate.
const mergeQuantileSlack = 0.02

// Three shards of `sim run --shard i/3 --target` sent concurrently on loopback, merged by `sim
// report --merge`, are one run of the whole load: against split below its capacity, the merged
// request count is the shards' sum, its p50 and p99 lie between the shards' own and near a
// single process's at the same total rate (loosely here: see shardLatencyTolerance); against
// self above its threshold, the merged verdict is a hang, as a single run's is.
func TestShardsMergeLikeOneRun(t *testing.T) {
	testtier.Long(t) // about 30 s of real load
	tmp := t.TempDir()
	hold := writeFile(t, tmp, "hold.yaml", shardHold)
	ramp := writeFile(t, tmp, "ramp.yaml", externalProfile)

	t.Run("split below capacity", func(t *testing.T) {
		app := startServe(t, "--topology", "split", "--max-threads", "64", "--work-time", "100ms").URL("app") + "/page"
		merged := runShardsAndMerge(t, app, hold, 3)
		code, _, stderr := simRun(t, nil, "run", "--target", app, "--profile", hold, "--out", filepath.Join(tmp, "single-split"))
		if code != 0 {
			t.Fatalf("single run: exit %d: %s", code, stderr)
		}
		single := onlyRecordIn(t, filepath.Join(tmp, "single-split"))
		m, s := merged.rec.Summary, single.Summary
		t.Logf("merged: %d requests (shards %v), p50 %.2f ms, p99 %.2f ms, verdict %s; single: %d requests, p50 %.2f ms, p99 %.2f ms",
			m.Requests, merged.shardRequests, m.P50MS, m.P99MS, m.Verdict, s.Requests, s.P50MS, s.P99MS)
		sum := 0
		for _, n := range merged.shardRequests {
			sum += n
		}
		if m.Requests != sum || m.OK != m.Requests {
			t.Errorf("merged record: %d requests, %d OK; the shards sent %d", m.Requests, m.OK, sum)
		}
		if m.Requests != s.Requests {
			t.Errorf("merged %d requests, the single run %d: uniform shards together send the whole load", m.Requests, s.Requests)
		}
		for _, q := range []struct {
			name      string
			got, want float64
			shards    []float64
		}{{"p50", m.P50MS, s.P50MS, merged.shardP50}, {"p99", m.P99MS, s.P99MS, merged.shardP99}} {
			if math.Abs(q.got-q.want) > shardLatencyTolerance*q.want {
				t.Errorf("merged %s %.2f ms, single run %.2f ms: more than %.0f %% apart", q.name, q.got, q.want, shardLatencyTolerance*100)
			}
			lo, hi := slices.Min(q.shards), slices.Max(q.shards)
			if q.got < lo*(1-mergeQuantileSlack) || q.got > hi*(1+mergeQuantileSlack) {
				t.Errorf("merged %s %.2f ms is outside the shards' own %v: a quantile of the merged results lies between theirs", q.name, q.got, q.shards)
			}
		}
		if m.Verdict != results.VerdictOK || s.Verdict != results.VerdictOK {
			t.Errorf("verdicts: merged %s, single %s; want ok below capacity", m.Verdict, s.Verdict)
		}
	})

	t.Run("self above its threshold", func(t *testing.T) {
		// Two servers, one per run: a hung self server never answers again.
		sharded := startServe(t, "--topology", "self", "--max-threads", "4", "--work-time", "100ms").URL("app") + "/page"
		alone := startServe(t, "--topology", "self", "--max-threads", "4", "--work-time", "100ms").URL("app") + "/page"
		var single *results.Record
		var singleErr string
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(tmp, "single-self")
			if code, _, stderr := simRunAsync(simBin, "run", "--target", alone, "--profile", ramp, "--out", out); code != 0 {
				singleErr = fmt.Sprintf("single run: exit %d: %s", code, stderr)
				return
			}
			dirs, _ := filepath.Glob(filepath.Join(out, "*"))
			if len(dirs) == 1 {
				single, _ = results.Read(dirs[0])
			}
		}()
		merged := runShardsAndMerge(t, sharded, ramp, 3)
		wg.Wait()
		if singleErr != "" || single == nil {
			t.Fatalf("%s (record %v)", singleErr, single)
		}
		if single.Summary.Verdict != results.VerdictHang {
			t.Fatalf("single run's verdict %s: the load does not hang self here", single.Summary.Verdict)
		}
		m := merged.rec.Summary
		if m.Verdict != results.VerdictHang || m.Recovered {
			t.Errorf("merged verdict %s (recovered %v), want a hang as the single run's", m.Verdict, m.Recovered)
		}
		t.Logf("merged: hang onset %.2f s at %.0f rps, peak CLOSE_WAIT %d; single: onset %.2f s at %.0f rps, peak CLOSE_WAIT %d",
			deref(m.CollapseOnsetS), deref(m.OnsetRateRPS), m.PeakCloseWait, deref(single.Summary.CollapseOnsetS), deref(single.Summary.OnsetRateRPS), single.Summary.PeakCloseWait)
	})
}

// mergedRun is what runShardsAndMerge left.
type mergedRun struct {
	rec           *results.Record
	shardRequests []int
	// shardP50, shardP99 are each shard's own quantiles (ms).
	shardP50, shardP99 []float64
}

// runShardsAndMerge runs n shards of the profile against target at once, each a sim process,
// then merges their records with sim report --merge and reads the merged record.
func runShardsAndMerge(t *testing.T, target, profile string, n int) mergedRun {
	t.Helper()
	out := filepath.Join(t.TempDir(), "shards")
	errs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, stdout, stderr := simRunAsync(simBin, "run", "--target", target, "--profile", profile, "--shard", fmt.Sprintf("%d/%d", i, n), "--out", out)
			switch {
			case code != 0:
				errs[i] = fmt.Sprintf("shard %d/%d: exit %d: %s", i, n, code, stderr)
			case !strings.Contains(stdout, fmt.Sprintf("%d/%d: 1/%d of the profile's rate", i, n, n)):
				errs[i] = fmt.Sprintf("shard %d/%d: its summary does not say which shard it was:\n%s", i, n, stdout)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-external-shard*"))
	if len(dirs) != n {
		t.Fatalf("shard records: %v, want %d", dirs, n)
	}
	var counts []int
	var p50s, p99s []float64
	for _, d := range dirs {
		rec, err := results.Read(d)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, rec.Summary.Requests)
		p50s, p99s = append(p50s, rec.Summary.P50MS), append(p99s, rec.Summary.P99MS)
	}
	merged := filepath.Join(t.TempDir(), "merged")
	code, stdout, stderr := simRun(t, nil, append([]string{"report", "--merge", "--out", merged}, dirs...)...)
	if code != 0 {
		t.Fatalf("sim report --merge: exit %d: %s", code, stderr)
	}
	mustContain(t, "merge output", stdout, fmt.Sprintf("%d shards merged", n), "socket census", "report.html")
	rec, err := results.Read(merged)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(merged, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "report.md", string(md), fmt.Sprintf("Merged from %d shards", n))
	return mergedRun{rec: rec, shardRequests: counts, shardP50: p50s, shardP99: p99s}
}

// simRunAsync runs the sim binary to completion from any goroutine (no t.Fatal) and returns
// its exit code (-1 when it could not run) and output.
func simRunAsync(bin string, args ...string) (int, string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	if err != nil {
		return -1, stdout.String(), err.Error()
	}
	return 0, stdout.String(), stderr.String()
}

// onlyRecordIn reads the one run record under out.
func onlyRecordIn(t *testing.T, out string) *results.Record {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(dirs) != 1 {
		t.Fatalf("records under %s: %v", out, dirs)
	}
	rec, err := results.Read(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
