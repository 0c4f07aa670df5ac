package merge

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/detect"
	"github.com/simdev/sim/simulator/runner"
)

// step is the synthetic records' sample_interval.
const step = 250 * time.Millisecond

// origin is the earliest synthetic attack start.
var origin = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// wholeProfile is the load all synthetic shards were given: 40 rps for 2 s, then 1 s of probes.
func wholeProfile() *loadprofiles.Profile {
	return &loadprofiles.Profile{
		Name:           "synthetic",
		Stages:         []loadprofiles.Stage{{Duration: 2 * time.Second, Target: 40, Mode: loadprofiles.ModeHold}},
		Arrivals:       loadprofiles.ArrivalsUniform,
		Client:         loadprofiles.Client{Timeout: time.Second, Keepalive: true, Connections: 100},
		Recovery:       loadprofiles.Recovery{Duration: time.Second, Interval: step, Timeout: 500 * time.Millisecond},
		SampleInterval: step,
		Detect:         loadprofiles.Detect{HangFraction: 0.1, HangHold: 500 * time.Millisecond},
	}
}

// synth is one synthetic shard record.
type synth struct {
	index, count int
	offset       time.Duration // attack start after origin
	// latency of every request, and whether requests sent from hangAt on (on the shard's own
	// time line) time out instead; 0 never.
	latency time.Duration
	hangAt  time.Duration
	// slowEvery, if set, makes every slowEvery-th request take 300 ms: a request that
	// completes after others sent later, so that start order and completion order differ.
	slowEvery int
	// closeWait is the census of window k; gap says which windows are gaps.
	closeWait func(k int) int
	gap       func(k int) bool
	// config edits the config.json before it is written; summary the summary.
	config  func(*runner.EffectiveConfig)
	summary func(*results.Summary)
}

// sendTimes are a shard's request start times on its own time line: 20 rps for 2 s.
func sendTimes(sy synth) []time.Duration {
	var out []time.Duration
	for k := range 40 {
		out = append(out, time.Duration(k)*50*time.Millisecond+time.Duration(sy.index+1)*10*time.Millisecond)
	}
	return out
}

func (sy synth) result(at time.Duration, seq int) *vegeta.Result {
	r := &vegeta.Result{Attack: "sim-external", Seq: uint64(seq), Method: "GET", URL: "http://127.0.0.1:9/page",
		Timestamp: origin.Add(sy.offset + at), Code: 200, Latency: sy.latency}
	if sy.slowEvery > 0 && seq%sy.slowEvery == 0 {
		r.Latency = 300 * time.Millisecond
	}
	if sy.hangAt > 0 && at >= sy.hangAt {
		r.Code, r.Latency, r.Error = 0, time.Second, `Get "http://127.0.0.1:9/page": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`
	}
	return r
}

// write makes the shard's record under parent and returns its folder.
func (sy synth) write(t *testing.T, parent string) string {
	t.Helper()
	dir := filepath.Join(parent, fmt.Sprintf("shard%d", sy.index))
	w, err := results.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rs []*vegeta.Result
	for i, at := range sendTimes(sy) {
		rs = append(rs, sy.result(at, i))
	}
	// results.bin is in completion order, as a run writes it.
	slices.SortStableFunc(rs, func(a, b *vegeta.Result) int { return a.Timestamp.Add(a.Latency).Compare(b.Timestamp.Add(b.Latency)) })
	ok := 0
	for _, r := range rs {
		if err := w.AddResult(r); err != nil {
			t.Fatal(err)
		}
		if r.Code == 200 {
			ok++
		}
	}
	for k := range 12 {
		s := results.Sample{T: float64(k+1) * step.Seconds(), WindowS: step.Seconds(), Phase: results.PhaseLoad, AppUp: true}
		if k >= 8 {
			s.Phase = results.PhaseRecovery
		}
		if sy.gap != nil && sy.gap(k) {
			s.SocketsMissing = true
		} else if sy.closeWait != nil {
			s.CloseWait = sy.closeWait(k)
		}
		if err := w.AddSample(s); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 5 {
		p := results.Probe{T: 2 + float64(k)*step.Seconds(), SinceLoadEnd: float64(k) * step.Seconds(), OK: sy.hangAt == 0, Status: 200}
		if !p.OK {
			p.Status, p.Error = 0, "context deadline exceeded"
		}
		if err := w.AddProbe(p); err != nil {
			t.Fatal(err)
		}
	}
	shard := loadprofiles.Shard{Index: sy.index, Count: sy.count}
	cfg := runner.EffectiveConfig{
		Topology: "external", Profile: "synthetic", Load: wholeProfile(),
		Thresholds: detect.Thresholds{HangFraction: 0.1, HangHold: 500 * time.Millisecond, MinOfferedRPS: 1},
		Target:     "http://127.0.0.1:9/page", Census: results.CensusLocal,
		Shard: &runner.ShardConfig{Shard: shard, Arrivals: loadprofiles.ArrivalsUniform, AttackStartedAt: origin.Add(sy.offset)},
	}
	if sy.config != nil {
		sy.config(&cfg)
	}
	if err := w.WriteConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum := results.Summary{Topology: "external", Profile: "synthetic", Engine: results.EngineSockets,
		StartedAt: origin.Add(sy.offset), FinishedAt: origin.Add(sy.offset + 3*time.Second), Complete: true,
		Requests: len(rs), OK: ok, Census: &results.Census{Source: results.CensusLocal, Method: "netlink", Port: 9, Windows: 12}}
	if sy.summary != nil {
		sy.summary(&sum)
	}
	if err := w.WriteSummary(sum); err != nil {
		t.Fatal(err)
	}
	return dir
}

// window is the merged window instant t falls in: (k·step, (k+1)·step] after the origin.
func window(t time.Time) int {
	return max(int(math.Ceil(float64(t.Sub(origin))/float64(step)))-1, 0)
}

// nearestRank is the p-quantile of xs in milliseconds, as the runner computes a window's.
func nearestRank(xs []time.Duration, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return float64(s[min(max(i, 0), len(s)-1)]) / float64(time.Millisecond)
}

// Two shards, started 100 ms apart, with different latencies: the merged record holds every
// request once, in completion order; each window's counts are the two shards' summed over the
// same wall-clock window and its percentiles are taken over both shards' latencies (a window
// with 10 ms and 30 ms requests has p99 30 ms, never an average); the census is one shard's
// (the one without gaps), not a sum; probes sent while the other shard still loaded are left
// out; and the inputs are left as they were.
func TestMergeSumsCountsAndRecomputesPercentiles(t *testing.T) {
	tmp := t.TempDir()
	a := synth{index: 0, count: 2, latency: 10 * time.Millisecond, closeWait: func(int) int { return 7 }, gap: func(k int) bool { return k == 3 }}
	b := synth{index: 1, count: 2, offset: 100 * time.Millisecond, latency: 30 * time.Millisecond, slowEvery: 5, closeWait: func(k int) int { return 100 + k }}
	dirs := []string{b.write(t, tmp), a.write(t, tmp)} // out of order on purpose
	before := digest(t, tmp)
	out := filepath.Join(t.TempDir(), "merged")
	o, err := Merge(context.Background(), dirs, out)
	if err != nil {
		t.Fatal(err)
	}
	if got := digest(t, tmp); got != before {
		t.Fatal("merge changed its input records")
	}

	// What the windows must hold, from the synthetic requests themselves.
	sent, done := map[int]int{}, map[int]int{}
	lat := map[int][]time.Duration{}
	for _, sy := range []synth{a, b} {
		for i, at := range sendTimes(sy) {
			r := sy.result(at, i)
			sent[window(r.Timestamp)]++
			end := r.Timestamp.Add(r.Latency)
			done[window(end)]++
			lat[window(end)] = append(lat[window(end)], r.Latency)
		}
	}
	rec, err := results.Read(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if s := rec.Summary; s.Requests != 80 || s.OK != 80 || o.ShardRequests != 80 {
		t.Fatalf("requests %d (ok %d), shards' sum %d: want 80", s.Requests, s.OK, o.ShardRequests)
	}
	// round((0.1 s + 3 s) / 250 ms) windows: as long as the later shard's.
	if len(rec.Timeline) != 12 {
		t.Fatalf("%d windows, want 12", len(rec.Timeline))
	}
	mixed := 0
	for k, s := range rec.Timeline {
		if s.Sent != sent[k] || s.OK != done[k] {
			t.Errorf("window %d: sent %d ok %d, want %d and %d", k, s.Sent, s.OK, sent[k], done[k])
		}
		if len(lat[k]) > 0 {
			if w := nearestRank(lat[k], 0.99); s.P99 != w {
				t.Errorf("window %d: p99 %.1f ms, want %.1f over both shards' latencies", k, s.P99, w)
			}
			if w := nearestRank(lat[k], 0.5); s.P50 != w {
				t.Errorf("window %d: p50 %.1f ms, want %.1f", k, s.P50, w)
			}
			if slices.Contains(lat[k], 10*time.Millisecond) && slices.Contains(lat[k], 30*time.Millisecond) {
				mixed++
			}
		}
		// Shard 1 has no gaps: its census, window for window, never the two summed.
		if s.SocketsMissing || s.CloseWait != 100+k {
			t.Errorf("window %d: CLOSE_WAIT %d (gap %v), want shard 1's %d", k, s.CloseWait, s.SocketsMissing, 100+k)
		}
		if k < 8 && s.OfferedRPS != 40 {
			t.Errorf("window %d: offered %.1f rps, want 40 (20 + 20)", k, s.OfferedRPS)
		}
	}
	if mixed == 0 {
		t.Fatal("no window mixes both shards' latencies: the test checks nothing")
	}
	if o.Info.CensusShard != 1 || !strings.Contains(o.Info.CensusWhy, "no gaps") {
		t.Errorf("census from shard %d (%s), want shard 1, the one without gaps", o.Info.CensusShard, o.Info.CensusWhy)
	}
	// Shard 0's first probe (own T 2.0 s) was sent while shard 1 loaded until 2.1 s.
	if o.Info.ProbesLeftOut != 1 || len(rec.Probes) != 9 || rec.Probes[0].SinceLoadEnd < 0 {
		t.Errorf("probes: %d kept (first since load end %.2f), %d left out; want 9 and 1", len(rec.Probes), rec.Probes[0].SinceLoadEnd, o.Info.ProbesLeftOut)
	}
	if rec.Summary.Verdict != results.VerdictOK || !rec.Summary.StartedAt.Equal(origin) {
		t.Errorf("verdict %s, started %v: want ok at %v", rec.Summary.Verdict, rec.Summary.StartedAt, origin)
	}

	// results.bin: all 80, in completion order.
	var prev time.Time
	n := 0
	if err := results.ReadResults(o.Dir, func(r *vegeta.Result) error {
		end := r.Timestamp.Add(r.Latency)
		if end.Before(prev) {
			return fmt.Errorf("result %d completes at %v, before the one before it (%v)", n, end, prev)
		}
		prev, n = end, n+1
		return nil
	}); err != nil || n != 80 {
		t.Fatalf("merged results.bin: %d results, %v", n, err)
	}
	var cfg map[string]json.RawMessage
	data, _ := os.ReadFile(filepath.Join(o.Dir, results.ConfigFile))
	if err := json.Unmarshal(data, &cfg); err != nil || cfg["merge"] == nil || cfg["shard"] != nil {
		t.Errorf("merged config.json has no merge key or still a shard key: %s", data)
	}
}

// Shards that both collapse and never answer a probe: the merged verdict is a hang, judged on
// the merged timeline.
func TestMergeJudgesTheMergedTimeline(t *testing.T) {
	tmp := t.TempDir()
	var dirs []string
	for i := range 3 {
		sy := synth{index: i, count: 3, offset: time.Duration(i) * 40 * time.Millisecond, latency: 10 * time.Millisecond, hangAt: time.Second}
		dirs = append(dirs, sy.write(t, tmp))
	}
	o, err := Merge(context.Background(), dirs, filepath.Join(t.TempDir(), "merged"))
	if err != nil {
		t.Fatal(err)
	}
	s := o.Summary
	if s.Verdict != results.VerdictHang || s.CollapseOnsetS == nil || *s.CollapseOnsetS > 1.5 || s.Recovered {
		t.Fatalf("verdict %s (onset %v, recovered %v), want a hang about 1 s in", s.Verdict, s.CollapseOnsetS, s.Recovered)
	}
	if s.Requests != 120 || s.Errors[results.KindTimeout] == 0 {
		t.Errorf("requests %d, timeouts %d", s.Requests, s.Errors[results.KindTimeout])
	}
}

// Records that are not the shards of one load are refused before anything is written: an
// *invalid.Error (exit 2 in cmd/sim) naming the record and the field.
func TestMergeRefusesRecordsThatDoNotFit(t *testing.T) {
	for _, tt := range []struct {
		name   string
		shards []synth
		// bad is the index in shards of the record the error must name ("" for any), field the
		// field it must name.
		bad   int
		field string
	}{
		{"not a shard", []synth{{index: 0, count: 2}, {index: 1, count: 2, config: func(c *runner.EffectiveConfig) { c.Shard = nil }}}, 1, "shard"},
		{"another profile", []synth{{index: 0, count: 2}, {index: 1, count: 2, config: func(c *runner.EffectiveConfig) { c.Load.Stages[0].Target = 80 }}}, 1, "load_profile"},
		{"another profile name", []synth{{index: 0, count: 2}, {index: 1, count: 2, config: func(c *runner.EffectiveConfig) { c.Profile = "ramp" }}}, 1, "profile"},
		{"another target", []synth{{index: 0, count: 2}, {index: 1, count: 2, config: func(c *runner.EffectiveConfig) { c.Target = "http://127.0.0.1:10/page" }}}, 1, "target"},
		{"another shard count", []synth{{index: 0, count: 2}, {index: 1, count: 3}}, 1, "shard.count"},
		{"a shard twice", []synth{{index: 0, count: 2}, {index: 0, count: 2}}, 1, "shard.index"},
		{"a shard missing", []synth{{index: 0, count: 3}, {index: 2, count: 3}}, -1, "shard.index"},
		{"never started", []synth{{index: 0, count: 2}, {index: 1, count: 2, config: func(c *runner.EffectiveConfig) { c.Shard.AttackStartedAt = time.Time{} }}}, 1, "shard.attack_started_at"},
		{"other thresholds", []synth{{index: 0, count: 2}, {index: 1, count: 2, config: func(c *runner.EffectiveConfig) { c.Thresholds.HangFraction = 0.5 }}}, 1, "thresholds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			var dirs []string
			for i, sy := range tt.shards {
				sy.latency = 10 * time.Millisecond
				// Two records of one index need folders of their own.
				dirs = append(dirs, sy.write(t, filepath.Join(parent, fmt.Sprint(i))))
			}
			out := filepath.Join(t.TempDir(), "merged")
			_, err := Merge(context.Background(), dirs, out)
			if !invalid.Is(err) {
				t.Fatalf("error %v, want an *invalid.Error", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.field+":") {
				t.Errorf("%q does not name the field %s", msg, tt.field)
			}
			if tt.bad >= 0 && !strings.Contains(msg, dirs[tt.bad]) {
				t.Errorf("%q does not name the record %s", msg, dirs[tt.bad])
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused merge made %s", out)
			}
		})
	}
}

// A summary with a schema_version this sim does not read is refused naming it.
func TestMergeRefusesANewerSchema(t *testing.T) {
	parent := t.TempDir()
	a := synth{index: 0, count: 2, latency: 10 * time.Millisecond}.write(t, parent)
	b := synth{index: 1, count: 2, latency: 10 * time.Millisecond}.write(t, parent)
	path := filepath.Join(b, results.SummaryFile)
	data, _ := os.ReadFile(path)
	data = []byte(strings.Replace(string(data), fmt.Sprintf(`"schema_version": %d`, results.SchemaVersion), fmt.Sprintf(`"schema_version": %d`, results.SchemaVersion+1), 1))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Merge(context.Background(), []string{a, b}, filepath.Join(t.TempDir(), "merged"))
	if !invalid.Is(err) || !strings.Contains(err.Error(), b) || !strings.Contains(err.Error(), "schema_version") {
		t.Fatalf("error %v, want one naming %s and schema_version", err, b)
	}
}

// digest hashes every file under dir with its path, to tell whether anything changed.
func digest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		fmt.Fprintf(h, "%s %d %x\n", path, len(data), sha256.Sum256(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
