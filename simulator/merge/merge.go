// Package merge merges the run records of the shards of one load — N processes of `sim run
// --shard I/N --target URL`, on one machine or in the pods of a Kubernetes Indexed Job — into
// one record, as if one process had sent the whole load, and judges it as a run is judged.
//
// # Alignment
//
// Each shard starts its attack at its own moment, on its own machine's clock; its config.json
// records that moment (shard.attack_started_at), the origin of its timeline's and probes' T.
// The merged record's origin is the earliest of them, and shard i's times are moved by its
// offset, attack_started_at(i) − origin. Shards on different machines are aligned only as well
// as their clocks agree (NTP keeps a cluster's nodes within milliseconds, well below a window).
//
// # What is merged, and how
//
//   - results.bin: every shard's results in one stream, by completion time (Timestamp +
//     Latency), the order a single run's results.bin has: vegeta hands a result over when it
//     completes. (`vegeta report` given several files takes them round robin instead: the
//     same totals, but not a stream in time order.)
//   - timeline: the load columns are recomputed from the merged results on windows of the
//     profile's sample_interval laid from the origin: requests sent by their start time,
//     completed ones (OK, errors by kind) and the latency percentiles (exact, nearest rank, as
//     the runner computes them) by their completion time, in flight at each window's end as all
//     starts minus all completions. Each count is the shards' counts summed over the same
//     wall-clock window, and each percentile is taken over the shards' latencies together,
//     never averaged. The offered rate is the sum of the shards' offered rates at the window's
//     middle, each on its own time line.
//   - socket census and the app's /stats: from one shard. Every shard read the same agent (or
//     the same local port), so their censuses are the same measurement taken at different
//     moments; summing them would count each socket N times. The shard with the fewest gaps
//     gives them, the first such when several tie (the first shard when none has gaps): each
//     merged window takes that shard's window ending nearest to its own end, within half a
//     window, and is a gap when there is none or it was one.
//   - probes: all shards' recovery probes, on the merged time line, that were sent once every
//     shard had stopped its load; one sent while another shard still offered load says nothing
//     about recovery and is left out (Outcome.ProbesLeftOut).
//   - verdict: package detect's, on the merged timeline and probes, with the whole profile
//     (observe.Observation.Summarize, as a run).
package merge

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/userfile"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/detect"
	"github.com/simdev/sim/simulator/observe"
	"github.com/simdev/sim/simulator/runner"
)

// reorderSlack is how far out of completion order a shard's results.bin may be. Results are
// written in the order vegeta's workers hand them over, each right after measuring its
// latency, so two workers can swap by a scheduling delay: microseconds to milliseconds. A
// window's latencies are kept until the merged stream is this far past its end.
const reorderSlack = time.Second

// Info is what config.json's "merge" key says about a merged record.
type Info struct {
	// Shards are the merged records, by index.
	Shards []ShardInfo `json:"shards"`
	// Origin is the earliest attack start, the merged record's time 0.
	Origin time.Time `json:"origin"`
	// CensusShard is the index of the shard whose socket census and /stats the timeline shows,
	// and CensusWhy why that one.
	CensusShard int    `json:"census_shard"`
	CensusWhy   string `json:"census_why"`
	// ProbesLeftOut counts the probes sent while another shard still offered load.
	ProbesLeftOut int `json:"probes_left_out"`
	// Alignment says how the shards' time lines were aligned, for a reader of config.json.
	Alignment string `json:"alignment"`
}

// ShardInfo is one merged record.
type ShardInfo struct {
	Index  int    `json:"index"`
	Record string `json:"record"`
	// AttackStartedAt is the shard's attack start; OffsetS how long after the origin.
	AttackStartedAt time.Time `json:"attack_started_at"`
	OffsetS         float64   `json:"offset_s"`
	// Requests is the shard's own count (its summary's); Gaps its census gaps.
	Requests int `json:"requests"`
	Gaps     int `json:"gaps"`
}

// Outcome is what Merge produced.
type Outcome struct {
	// Dir is the merged record's folder; Summary its summary.
	Dir     string
	Summary results.Summary
	Info    Info
	// ShardRequests is the sum of the shards' own request counts (their summaries'); it
	// equals Summary.Requests unless a shard's results.bin was cut short.
	ShardRequests int
}

// alignment is Info.Alignment.
const alignment = "each shard's times moved by its attack_started_at (config.json) minus the earliest one; windows of sample_interval laid from that origin"

// shard is one input record with what the merge needs of it.
type shard struct {
	dir  string
	rec  *results.Record
	raw  map[string]json.RawMessage // config.json as written
	cfg  shardConfig
	load *loadprofiles.Profile // this shard's share of the whole profile
	// offset is its attack start after the origin; stop is when, on its own time line, its
	// load stopped.
	offset, stop time.Duration
	gaps         int
}

// shardConfig is what the merge reads of a shard's config.json (runner.EffectiveConfig).
type shardConfig struct {
	Topology   string                `json:"topology"`
	Profile    string                `json:"profile"`
	Load       *loadprofiles.Profile `json:"load_profile"`
	Thresholds detect.Thresholds     `json:"thresholds"`
	Target     string                `json:"target"`
	Watch      string                `json:"watch"`
	Census     string                `json:"census"`
	Shard      *runner.ShardConfig   `json:"shard"`
}

// Merge reads the shard records in dirs, checks that they are the N shards of one load, and
// writes the merged record to out, a folder that must not exist yet. A record that does not fit
// (not a shard, another profile, target or shard count, a shard twice or missing, another
// schema_version) is refused before anything is written, with an *invalid.Error naming the
// record's file and the field. If writing fails, the half-written folder is removed.
func Merge(ctx context.Context, dirs []string, out string) (*Outcome, error) {
	shards, err := readShards(dirs)
	if err != nil {
		return nil, err
	}
	rec, err := results.Create(out)
	if err != nil {
		return nil, err
	}
	o, err := write(ctx, rec, shards)
	if cerr := rec.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close merged record: %w", cerr)
	}
	if err == nil {
		err = rec.WriteSummary(o.Summary)
	}
	if err != nil {
		if derr := rec.Discard(); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, err
	}
	return o, nil
}

// bad is a record that does not fit: the file of dir that says so, its field, its value.
func bad(dir, file, field string, value any, allowed string) error {
	return &invalid.Error{Source: filepath.Join(dir, file), Field: field, Value: value, Allowed: allowed}
}

// readShards reads and checks every record, and returns them by shard index with their
// offsets set.
func readShards(dirs []string) ([]*shard, error) {
	if len(dirs) == 0 {
		return nil, invalid.Field("DIR", nil, "the records of the shards of one load (sim run --shard I/N), one folder each")
	}
	var shards []*shard
	for _, dir := range dirs {
		s, err := readShard(dir)
		if err != nil {
			return nil, err
		}
		shards = append(shards, s)
	}
	first := shards[0]
	n := first.cfg.Shard.Count
	byIndex := make([]*shard, n)
	for _, s := range shards {
		if err := fits(first, s); err != nil {
			return nil, err
		}
		i := s.cfg.Shard.Index
		if prev := byIndex[i]; prev != nil {
			return nil, bad(s.dir, results.ConfigFile, "shard.index", i,
				fmt.Sprintf("each shard once: %s is shard %d/%d too", prev.dir, i, n))
		}
		byIndex[i] = s
	}
	var given []string
	missing := -1
	for i, s := range byIndex {
		switch {
		case s != nil:
			given = append(given, fmt.Sprint(i))
		case missing < 0:
			missing = i
		}
	}
	if missing >= 0 {
		return nil, &invalid.Error{Source: "--merge", Field: "shard.index", Value: fmt.Sprintf("shards %s of %d given", strings.Join(given, ", "), n),
			Allowed: fmt.Sprintf("all %d shards of the load, indexes 0 to %d, one record each: no record of shard %d was given", n, n-1, missing)}
	}
	origin := byIndex[0].cfg.Shard.AttackStartedAt
	for _, s := range byIndex {
		if s.cfg.Shard.AttackStartedAt.Before(origin) {
			origin = s.cfg.Shard.AttackStartedAt
		}
	}
	for _, s := range byIndex {
		s.offset = s.cfg.Shard.AttackStartedAt.Sub(origin)
	}
	return byIndex, nil
}

// readShard reads one record and its config.json, refusing one that is not a shard's.
func readShard(dir string) (*shard, error) {
	rec, err := results.Read(dir)
	if err != nil {
		return nil, err
	}
	data, err := results.ReadFile(dir, results.ConfigFile)
	if err != nil {
		return nil, err
	}
	s := &shard{dir: dir, rec: rec}
	if err := json.Unmarshal(data, &s.raw); err != nil {
		return nil, bad(dir, results.ConfigFile, results.ConfigFile, err.Error(), "JSON as sim run writes it")
	}
	if err := json.Unmarshal(data, &s.cfg); err != nil {
		return nil, bad(dir, results.ConfigFile, results.ConfigFile, err.Error(), "JSON as sim run writes it")
	}
	c := s.cfg
	const shardRun = "a record of 'sim run --shard I/N --target URL'"
	switch {
	case c.Shard == nil:
		return nil, bad(dir, results.ConfigFile, "shard", nil, shardRun+": this record sent the whole load of its profile")
	case c.Shard.Validate("shard") != nil:
		return nil, bad(dir, results.ConfigFile, "shard", c.Shard.Shard.String(), fmt.Sprintf("index from 0 to count-1, count from 1 to %d", loadprofiles.MaxShards))
	case c.Shard.AttackStartedAt.IsZero():
		return nil, bad(dir, results.ConfigFile, "shard.attack_started_at", nil, shardRun+" whose attack started: this one ended before it")
	case c.Load == nil || len(c.Load.Stages) == 0:
		return nil, bad(dir, results.ConfigFile, "load_profile", nil, "the profile the shard was given, as sim run writes it")
	case !(c.Load.SampleInterval > 0):
		return nil, bad(dir, results.ConfigFile, "load_profile.sample_interval", c.Load.SampleInterval, "> 0")
	}
	s.load, _ = c.Load.Shard(c.Shard.Shard)
	s.stop = c.Load.Duration()
	if rec.Summary.StoppedOnHang && rec.Summary.LoadStoppedS != nil {
		s.stop = time.Duration(*rec.Summary.LoadStoppedS * float64(time.Second))
	}
	for _, x := range rec.Timeline {
		if x.SocketsMissing {
			s.gaps++
		}
	}
	return s, nil
}

// fits refuses s when it is not a shard of the same load as first.
func fits(first, s *shard) error {
	a, b := first.cfg, s.cfg
	same := func(file, field string, x, y any) error {
		if fmt.Sprint(x) == fmt.Sprint(y) {
			return nil
		}
		return bad(s.dir, file, field, fmt.Sprint(y), fmt.Sprintf("%v, as in %s: the shards of one load", x, first.dir))
	}
	ja, _ := json.Marshal(a.Load)
	jb, _ := json.Marshal(b.Load)
	ta, _ := json.Marshal(a.Thresholds)
	tb, _ := json.Marshal(b.Thresholds)
	for _, err := range []error{
		same(results.SummaryFile, "schema_version", first.rec.Summary.SchemaVersion, s.rec.Summary.SchemaVersion),
		same(results.ConfigFile, "shard.count", a.Shard.Count, b.Shard.Count),
		same(results.ConfigFile, "profile", a.Profile, b.Profile),
		same(results.ConfigFile, "target", a.Target, b.Target),
		same(results.ConfigFile, "topology", a.Topology, b.Topology),
		same(results.ConfigFile, "watch", a.Watch, b.Watch),
		same(results.ConfigFile, "shard.arrivals", a.Shard.Arrivals, b.Shard.Arrivals),
		same(results.SummaryFile, "engine", first.rec.Summary.Engine, s.rec.Summary.Engine),
	} {
		if err != nil {
			return err
		}
	}
	if string(ja) != string(jb) {
		return bad(s.dir, results.ConfigFile, "load_profile", "another profile's stages or settings",
			fmt.Sprintf("the load_profile of %s: the shards of one load were given one profile", first.dir))
	}
	if string(ta) != string(tb) {
		return bad(s.dir, results.ConfigFile, "thresholds", string(tb), fmt.Sprintf("%s, as in %s", ta, first.dir))
	}
	return nil
}

// write merges the shards into rec and returns the outcome, its summary not yet written.
func write(ctx context.Context, rec *results.Writer, shards []*shard) (*Outcome, error) {
	first := shards[0]
	whole := first.cfg.Load
	step := whole.SampleInterval
	origin := first.cfg.Shard.AttackStartedAt.Add(-first.offset)

	var loadEnd, end time.Duration
	for _, s := range shards {
		loadEnd = max(loadEnd, s.offset+s.stop)
		if n := len(s.rec.Timeline); n > 0 {
			end = max(end, s.offset+seconds(s.rec.Timeline[n-1].T))
		}
	}
	// As many windows as the longest shard's, counted from the origin: a window the shards'
	// last ones overshoot by less than half is not begun (what completed in it stays in the
	// totals, as what completes after a run's last window does).
	g := newGrid(origin, step, int(math.Round(float64(end)/float64(step))))
	tot, err := mergeResults(ctx, rec, shards, g)
	if err != nil {
		return nil, err
	}
	src, why := censusSource(shards)
	timeline := g.timeline(shards, src, loadEnd)
	probes, leftOut := mergeProbes(shards, loadEnd)
	for _, x := range timeline {
		if err := rec.AddSample(x); err != nil {
			return nil, err
		}
	}
	for _, p := range probes {
		if err := rec.AddProbe(p); err != nil {
			return nil, err
		}
	}

	obs := &observe.Observation{Timeline: timeline, Probes: probes, Requests: tot.requests, Kinds: tot.kinds}
	tot.metrics.Close()
	l := tot.metrics.Latencies
	obs.P50, obs.P90, obs.P99, obs.Max = l.P50, l.P90, l.P99, l.Max
	stopped := false
	for _, s := range shards {
		stopped = stopped || s.rec.Summary.StoppedOnHang
	}
	if stopped {
		obs.LoadStopped = loadEnd
	}
	if c := src.rec.Summary.Census; c != nil {
		merged := *c
		merged.Windows, merged.Gaps = len(timeline), 0
		for _, x := range timeline {
			if x.SocketsMissing {
				merged.Gaps++
			}
		}
		obs.Census = &merged
	}

	sum := results.Summary{
		Topology:       first.rec.Summary.Topology,
		Profile:        first.cfg.Profile,
		Engine:         first.rec.Summary.Engine,
		StartedAt:      origin.UTC(),
		AppURL:         first.rec.Summary.AppURL,
		AdminURL:       src.rec.Summary.AdminURL,
		SelfcallMeanMS: src.rec.Summary.SelfcallMeanMS,
		Complete:       true,
	}
	obs.Summarize(&sum, first.cfg.Thresholds, whole)
	sum.LoadDurationS = loadEnd.Seconds()
	var reasons []string
	shardRequests := 0
	info := Info{Origin: origin.UTC(), CensusShard: src.cfg.Shard.Index, CensusWhy: why, ProbesLeftOut: leftOut, Alignment: alignment}
	for _, s := range shards {
		shardRequests += s.rec.Summary.Requests
		if s.rec.Summary.FinishedAt.After(sum.FinishedAt) {
			sum.FinishedAt = s.rec.Summary.FinishedAt
		}
		if !s.rec.Summary.Complete {
			sum.Complete = false
			reasons = append(reasons, fmt.Sprintf("shard %d (%s): %s", s.cfg.Shard.Index, s.dir, s.rec.Summary.InterruptedReason))
		}
		info.Shards = append(info.Shards, ShardInfo{
			Index: s.cfg.Shard.Index, Record: s.dir, AttackStartedAt: s.cfg.Shard.AttackStartedAt,
			OffsetS: s.offset.Seconds(), Requests: s.rec.Summary.Requests, Gaps: s.gaps,
		})
	}
	sum.InterruptedReason = strings.Join(reasons, "; ")
	if err := writeConfig(rec, first, info); err != nil {
		return nil, err
	}
	return &Outcome{Dir: rec.Dir(), Summary: sum, Info: info, ShardRequests: shardRequests}, nil
}

// writeConfig writes the first shard's config.json as it was, without its "shard" and with a
// "merge" key saying what was merged and how.
func writeConfig(rec *results.Writer, first *shard, info Info) error {
	cfg := make(map[string]any, len(first.raw)+1)
	for k, v := range first.raw {
		cfg[k] = v
	}
	delete(cfg, "shard")
	cfg["merge"] = info
	return rec.WriteConfig(cfg)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// totals are the whole-run figures of the merged results.
type totals struct {
	requests int
	kinds    map[string]int
	metrics  vegeta.Metrics // latency quantiles: vegeta's bounded t-digest, as a run's
}

// mergeResults streams the shards' results.bin files into rec's, by completion time, counting
// them into g and the totals.
func mergeResults(ctx context.Context, rec *results.Writer, shards []*shard, g *grid) (*totals, error) {
	tot := &totals{kinds: map[string]int{}}
	var h streams
	for i, s := range shards {
		st, err := openStream(s.dir, i)
		if err != nil {
			h.close()
			return nil, err
		}
		h = append(h, st)
	}
	defer h.close()
	for _, st := range h {
		if err := st.next(); err != nil {
			return nil, err
		}
	}
	live := slices.DeleteFunc(slices.Clone(h), func(st *stream) bool { return st.head == nil })
	heap.Init(&live)
	for n := 0; len(live) > 0; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("merge: %w", context.Cause(ctx))
		}
		st := live[0]
		r := st.head
		if err := rec.AddResult(r); err != nil {
			return nil, err
		}
		tot.requests++
		tot.kinds[results.Classify(r)]++
		tot.metrics.Add(r)
		g.add(r)
		if err := st.next(); err != nil {
			return nil, err
		}
		if st.head == nil {
			heap.Pop(&live)
		} else {
			heap.Fix(&live, 0)
		}
	}
	g.flush(time.Time{})
	return tot, nil
}

// stream is one shard's results.bin, read one result ahead.
type stream struct {
	path  string
	index int
	f     *os.File
	dec   vegeta.Decoder
	head  *vegeta.Result // nil at the end
	key   time.Time      // head's completion time
}

func openStream(dir string, index int) (*stream, error) {
	path := filepath.Join(dir, results.ResultsFile)
	f, err := userfile.Open(results.ResultsFile, path)
	if err != nil {
		return nil, err
	}
	return &stream{path: path, index: index, f: f, dec: vegeta.NewDecoder(bufio.NewReader(f))}, nil
}

// next reads the next result, with results.ReadResults' rules: a result cut short at the end
// (a run killed mid-write) ends the stream like a clean end.
func (s *stream) next() error {
	// A fresh Result each time: gob leaves fields that are zero in the stream untouched.
	r := new(vegeta.Result)
	err := s.dec.Decode(r)
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		s.head = nil
		return nil
	case err != nil:
		return &invalid.Error{Source: s.path, Field: results.ResultsFile, Value: err.Error(), Allowed: "results as sim run writes them (vegeta's gob encoding)"}
	}
	s.head, s.key = r, r.Timestamp.Add(r.Latency)
	return nil
}

// streams is a min-heap of streams by their head's completion time, then shard index.
type streams []*stream

func (h streams) Len() int { return len(h) }
func (h streams) Less(i, j int) bool {
	if !h[i].key.Equal(h[j].key) {
		return h[i].key.Before(h[j].key)
	}
	return h[i].index < h[j].index
}
func (h streams) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *streams) Push(x any)   { *h = append(*h, x.(*stream)) }
func (h *streams) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (h streams) close() {
	for _, st := range h {
		st.f.Close()
	}
}

// grid is the merged timeline's windows: n windows of step from origin, window k covering
// (k·step, (k+1)·step] after it, as the runner's windows cover (previous tick, tick].
type grid struct {
	origin time.Time
	step   time.Duration
	n      int
	// sent counts results by the window they started in, done by the one they completed in.
	sent, done []int
	// open holds the completed results of windows whose latencies may still grow; filled holds
	// the load columns of every window once it is closed.
	open   map[int]*results.Window
	filled []results.Sample
	closed []bool
}

func newGrid(origin time.Time, step time.Duration, n int) *grid {
	n = max(n, 0)
	return &grid{
		origin: origin, step: step, n: n,
		sent: make([]int, n), done: make([]int, n),
		open: map[int]*results.Window{}, filled: make([]results.Sample, n), closed: make([]bool, n),
	}
}

// index is the window that instant t falls in, or -1 past the last window. A result never
// precedes the origin (the earliest attack start); one that seems to is put in the first
// window.
func (g *grid) index(t time.Time) int {
	d := t.Sub(g.origin)
	k := max(int(math.Ceil(float64(d)/float64(g.step)))-1, 0)
	if k >= g.n {
		return -1
	}
	return k
}

// add counts one result: sent in the window of its start, completed in that of its end.
func (g *grid) add(r *vegeta.Result) {
	if k := g.index(r.Timestamp); k >= 0 {
		g.sent[k]++
	}
	end := r.Timestamp.Add(r.Latency)
	g.flush(end.Add(-reorderSlack))
	k := g.index(end)
	if k < 0 {
		return // completed after the last window: in the totals only, as in a run
	}
	g.done[k]++
	if g.closed[k] {
		// Later than reorderSlack out of order, which vegeta does not do: counted, but its
		// latency is no longer part of the window's percentiles.
		addKind(&g.filled[k], results.Classify(r))
		return
	}
	w := g.open[k]
	if w == nil {
		w = new(results.Window)
		g.open[k] = w
	}
	w.Add(r)
}

// flush closes the open windows that end at or before until (all of them for a zero until).
func (g *grid) flush(until time.Time) {
	for k, w := range g.open {
		if !until.IsZero() && g.origin.Add(time.Duration(k+1)*g.step).After(until) {
			continue
		}
		w.Fill(&g.filled[k], g.step)
		g.closed[k] = true
		delete(g.open, k)
	}
}

// addKind counts a result of Classify's kind in a window's columns, as results.Window does:
// every non-2xx status (http_503, http_502, ...) in ErrHTTP.
func addKind(s *results.Sample, kind string) {
	switch {
	case kind == results.KindOK:
		s.OK++
	case kind == results.KindTimeout:
		s.ErrTimeout++
	case kind == results.KindRefused:
		s.ErrRefused++
	case kind == results.KindReset:
		s.ErrReset++
	case results.IsHTTPKind(kind):
		s.ErrHTTP++
	default:
		s.ErrOther++
	}
}

// timeline builds the merged windows: the load columns from the results, the offered rate from
// the shards' profiles, the socket census and /stats from shard src. loadEnd is when, after the
// origin, the last shard stopped its load.
func (g *grid) timeline(shards []*shard, src *shard, loadEnd time.Duration) []results.Sample {
	out := make([]results.Sample, g.n)
	inFlight := 0
	for k := range g.n {
		s := g.filled[k] // zero for a window nothing completed in
		end := time.Duration(k+1) * g.step
		s.T, s.WindowS = end.Seconds(), g.step.Seconds()
		s.Sent, s.SentRPS = g.sent[k], float64(g.sent[k])/g.step.Seconds()
		s.OKRPS = float64(s.OK) / g.step.Seconds()
		inFlight += g.sent[k] - g.done[k]
		s.InFlight = max(inFlight, 0)
		s.Phase = results.PhaseLoad
		if end > loadEnd {
			s.Phase = results.PhaseRecovery
		}
		if s.Phase == results.PhaseLoad {
			mid := end - g.step/2
			for _, sh := range shards {
				if at := mid - sh.offset; at < sh.stop {
					s.OfferedRPS += sh.load.RateAt(at)
				}
			}
		}
		fillCensus(&s, src, end, g.step)
		out[k] = s
	}
	return out
}

// fillCensus copies into s, the merged window ending at end (after the origin), the socket
// census and /stats of src's window ending nearest to it, within half a window; s is a gap
// (and its app down) when there is none or that window was a gap.
func fillCensus(s *results.Sample, src *shard, end, step time.Duration) {
	tl := src.rec.Timeline
	// On src's own time line the merged window ends at end - offset.
	at := (end - src.offset).Seconds()
	i := sort.Search(len(tl), func(i int) bool { return tl[i].T >= at })
	best := -1
	for _, j := range []int{i - 1, i} {
		if j >= 0 && j < len(tl) && (best < 0 || math.Abs(tl[j].T-at) < math.Abs(tl[best].T-at)) {
			best = j
		}
	}
	s.SocketsMissing, s.AppUp = true, false
	if best < 0 || math.Abs(tl[best].T-at) > step.Seconds()/2 {
		return
	}
	c := tl[best]
	if !c.SocketsMissing {
		s.SocketCensus, s.SocketsMissing = c.SocketCensus, false
		s.SelfcallMeasured, s.SelfCallCensus = c.SelfcallMeasured, c.SelfCallCensus
	}
	s.AppUp, s.AppStats = c.AppUp, c.AppStats
}

// censusSource picks the shard whose census the merged timeline shows: the fewest gaps, the
// lowest index among equals; why says so in words.
func censusSource(shards []*shard) (*shard, string) {
	best := shards[0]
	for _, s := range shards[1:] {
		if s.gaps < best.gaps {
			best = s
		}
	}
	if best.gaps == 0 {
		if best == shards[0] {
			return best, "the first shard, which has no gaps"
		}
		return best, fmt.Sprintf("the first shard with no gaps (shard 0 has %d)", shards[0].gaps)
	}
	return best, fmt.Sprintf("every shard has gaps; shard %d has the fewest (%d)", best.cfg.Shard.Index, best.gaps)
}

// mergeProbes puts every shard's probes on the merged time line and keeps those sent once all
// shards had stopped their load (at loadEnd after the origin), in time order.
func mergeProbes(shards []*shard, loadEnd time.Duration) (kept []results.Probe, leftOut int) {
	for _, s := range shards {
		for _, p := range s.rec.Probes {
			p.T += s.offset.Seconds()
			p.SinceLoadEnd = p.T - loadEnd.Seconds()
			if p.SinceLoadEnd < 0 {
				leftOut++
				continue
			}
			kept = append(kept, p)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].T < kept[j].T })
	return kept, leftOut
}
