package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/results"
)

// view is everything a run report shows, built once from the records. report.md, report.html
// and the page's data blob are all rendered from it, so they cannot disagree; the blob is the
// view itself, as JSON.
type view struct {
	Title string   `json:"title"`
	Notes []string `json:"notes,omitempty"`
	// XLabel names the shared time axis of every chart.
	XLabel      string       `json:"x_label"`
	Charts      []chartSpec  `json:"charts"`
	Runs        []runView    `json:"runs"`
	Markers     []marker     `json:"markers"`
	Definitions []definition `json:"definitions"`
	// Matrix compares the runs, a row each, when there are several; nil for one run.
	Matrix *matrix `json:"matrix,omitempty"`
}

// runView is one record as the report shows it.
type runView struct {
	Label    string `json:"label"`
	Topology string `json:"topology"`
	// Runtime is the runtime sim's server imitated; "" for an external target.
	Runtime string `json:"runtime,omitempty"`
	Profile string `json:"profile"`
	Color   string `json:"color"`
	Verdict string `json:"verdict"`
	// Record is the record's folder, relative to the report's folder where it can be.
	Record    string `json:"record"`
	StartedAt string `json:"started_at,omitempty"`
	// Interrupted says why an incomplete run stopped.
	Interrupted string  `json:"interrupted,omitempty"`
	LoadEndS    float64 `json:"load_end_s"`
	// MaxThreads is the worker pool size from config.json, 0 when unknown.
	MaxThreads int `json:"max_threads,omitempty"`
	// Headline says the outcome in one line: "HANG: collapsed at 12.0 s with 77 rps offered, ...".
	Headline string     `json:"headline"`
	Cells    cells      `json:"cells"`
	Config   configView `json:"config"`
	Series   series     `json:"series"`
}

// cells is one run's column of the verdict table, as text.
type cells struct {
	Verdict       string `json:"verdict"`
	Onset         string `json:"onset"`
	OnsetRate     string `json:"onset_rate"`
	AtOnset       string `json:"at_onset"`
	Capacity      string `json:"capacity"`
	PeakCloseWait string `json:"peak_close_wait"`
	Recovery      string `json:"recovery"`
	Throughput    string `json:"throughput"`
	Latency       string `json:"latency"`
	Errors        string `json:"errors"`
}

// metric is one row of the terminal table (and one column of the Markdown/HTML table).
type metric struct {
	Name string
	Get  func(c cells) string
}

// metrics is the verdict table's layout, shared by Table, report.md and report.html.
var metrics = []metric{
	{"verdict", func(c cells) string { return c.Verdict }},
	{"onset", func(c cells) string { return c.Onset }},
	{"offered at onset", func(c cells) string { return c.OnsetRate }},
	{"at onset", func(c cells) string { return c.AtOnset }},
	{"capacity", func(c cells) string { return c.Capacity }},
	{"peak CLOSE_WAIT", func(c cells) string { return c.PeakCloseWait }},
	{"recovery", func(c cells) string { return c.Recovery }},
	{"throughput", func(c cells) string { return c.Throughput }},
	{"p50 / p99", func(c cells) string { return c.Latency }},
	{"errors", func(c cells) string { return c.Errors }},
}

// series is a run's timeline as columns, one value per sample window: T, and every column a
// chart draws (chartColumns), by name, in the schema's order (results.Columns); null (NaN) where
// the value was not measured (results.Column.Value: nothing completed in the window, a census
// gap, the admin endpoint did not answer).
type series struct {
	T    []num
	Cols map[string][]num
}

// seriesT is T's key in the data blob: the time column's name.
var seriesT = results.Columns()[0].Name

// chartColumns are the timeline columns the charts draw, in the schema's order.
var chartColumns = func() []results.Column {
	drawn := map[string]bool{}
	for _, c := range runCharts {
		for _, l := range c.Lines {
			drawn[l.Key] = true
		}
	}
	var out []results.Column
	for _, c := range results.Columns() {
		if drawn[c.Name] {
			out = append(out, c)
		}
	}
	return out
}()

// MarshalJSON writes T first, then the columns in the schema's order, so the blob is stable.
func (s series) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	put := func(key string, v []num) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		vs, err := json.Marshal(v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(vs)
		return err
	}
	if err := put(seriesT, s.T); err != nil {
		return nil, err
	}
	for _, c := range chartColumns {
		if v, ok := s.Cols[c.Name]; ok {
			if err := put(c.Name, v); err != nil {
				return nil, err
			}
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *series) UnmarshalJSON(data []byte) error {
	var m map[string][]num
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	s.T = m[seriesT]
	delete(m, seriesT)
	s.Cols = m
	return nil
}

// marker is a vertical line on every chart: a collapse onset or the end of the load.
type marker struct {
	T     num    `json:"t_s"`
	Label string `json:"label"`
	Color string `json:"color"`
	Kind  string `json:"kind"`
}

// Marker kinds.
const (
	markerOnset   = "onset"
	markerLoadEnd = "load_end"
)

// definition is one term of the report's definitions, with the thresholds actually used.
type definition struct {
	Term string `json:"term"`
	Text string `json:"text"`
}

// num is a float that rounds to jsonDecimals in JSON and encodes NaN as null, which a chart
// draws as a gap.
type num float64

// jsonDecimals keeps the data blob small and stable: a millisecond of time and a thousandth of a
// request per second are finer than anything a 250 ms window measures.
const jsonDecimals = 3

func (n num) MarshalJSON() ([]byte, error) {
	x := float64(n)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return []byte("null"), nil
	}
	p := math.Pow10(jsonDecimals)
	return strconv.AppendFloat(nil, math.Round(x*p)/p, 'f', -1, 64), nil
}

func (n *num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = num(math.NaN())
		return nil
	}
	var x float64
	err := json.Unmarshal(b, &x)
	*n = num(x)
	return err
}

var nan = num(math.NaN())

// spareColors draw a run whose topology's colour (topology.Color, the same in every report and
// chart) is already taken: the same topology twice, or two topologies this sim does not know.
// They are the colours of matplotlib's tab10 that the registry leaves free, then the dark row
// of tab20b, so that they stay apart from the registry's.
var spareColors = []string{"#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"}

// palette colours series that are not topologies, such as the pool sizes of a plan's curves, in
// order: matplotlib's tab10, chosen to stay apart for common colour blindness.
var palette = []string{"#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// markerGray is the colour of a marker shared by every run (the end of the load).
const markerGray = "#555555"

// buildView turns records into the report's view. dir is the report's folder, used to give
// record folders relative to it.
func buildView(dir string, recs []*results.Record, o Options) view {
	labels := runLabels(recs)
	colors := runColors(recs)
	v := view{
		Title:  o.Title,
		Notes:  o.Notes,
		XLabel: "seconds since attack start",
		Charts: runCharts,
	}
	if v.Title == "" {
		v.Title = defaultTitle(recs)
	}
	cfgs := make([]runConfig, len(recs))
	for i, r := range recs {
		cfg := readConfig(r.Dir)
		cfgs[i] = cfg
		rv := runView{
			Label:       labels[i],
			Topology:    r.Summary.Topology,
			Runtime:     r.Summary.Runtime,
			Profile:     r.Summary.Profile,
			Color:       colors[i],
			Verdict:     r.Summary.Verdict,
			Record:      relPath(dir, r.Dir),
			Interrupted: r.Summary.InterruptedReason,
			LoadEndS:    r.Summary.LoadDurationS,
			MaxThreads:  cfg.maxThreads,
			Headline:    headline(&r.Summary),
			Cells:       runCells(&r.Summary),
			Config:      cfg.view,
			Series:      buildSeries(r.Timeline),
		}
		if !r.Summary.StartedAt.IsZero() {
			rv.StartedAt = r.Summary.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		v.Runs = append(v.Runs, rv)
	}
	v.Markers = buildMarkers(recs, v.Runs)
	v.Definitions = buildDefinitions(recs, labels, cfgs)
	v.Matrix = buildMatrix(recs, v.Runs)
	return v
}

func defaultTitle(recs []*results.Record) string {
	var tops, profs []string
	for _, r := range recs {
		tops = append(tops, orDash(r.Summary.Topology))
		if p := profileLabel(r.Summary.Profile); p != "" && !slices.Contains(profs, p) {
			profs = append(profs, p)
		}
	}
	prof := ""
	switch len(profs) {
	case 0:
	case 1:
		prof = ", profile " + profs[0]
	default:
		prof = ", profiles " + strings.Join(profs, ", ")
	}
	if len(recs) == 1 {
		return "sim run: " + tops[0] + prof
	}
	return "sim compare: " + strings.Join(tops, " vs ") + prof
}

// profileLabel shortens a profile given as a file path to its name, as loadprofiles names it:
// "./profiles/browser.yaml" is "browser". A title has no room for a temp folder's path.
func profileLabel(p string) string {
	if !strings.ContainsAny(p, `/\`) && !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") {
		return p
	}
	base := filepath.Base(p)
	return strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
}

// runLabels names each run by its topology's label (topology.Label), and by its runtime's
// (runtimes.Label) when the report holds runs of more than one runtime or of one other than
// Tomcat; a run whose name appears twice gets its record folder's name added, so every column
// of a table has a distinct heading.
func runLabels(recs []*results.Record) []string {
	withRuntime := manyRuntimes(recs)
	name := func(r *results.Record) string {
		l := orDash(r.Summary.Topology)
		if r.Summary.Topology != "" {
			l = topology.Label(r.Summary.Topology)
		}
		if withRuntime && r.Summary.Runtime != "" {
			l += " on " + runtimes.Label(r.Summary.Runtime)
		}
		return l
	}
	count := map[string]int{}
	for _, r := range recs {
		count[name(r)]++
	}
	labels := make([]string, len(recs))
	seen := map[string]bool{}
	for i, r := range recs {
		l := name(r)
		if count[l] > 1 {
			l += " [" + filepath.Base(r.Dir) + "]"
		}
		for base, n := l, 2; seen[l]; n++ {
			l = fmt.Sprintf("%s #%d", base, n)
		}
		seen[l] = true
		labels[i] = l
	}
	return labels
}

// manyRuntimes says whether recs name a runtime other than Tomcat, or more than one: their
// labels then name it.
func manyRuntimes(recs []*results.Record) bool {
	seen := map[string]bool{}
	for _, r := range recs {
		rt := r.Summary.Runtime
		if rt == "" {
			rt = runtimes.Tomcat
		}
		seen[rt] = true
	}
	return len(seen) > 1 || (len(seen) == 1 && !seen[runtimes.Tomcat])
}

// runColors gives each run its topology's colour (topology.Color) — its runtime's
// (runtimes.Color) when the report compares runtimes on one topology — and a run whose colour
// is taken the first spare colour that no run of the report has; the charts overlay every run,
// so no two may share one.
func runColors(recs []*results.Record) []string {
	byRuntime := manyRuntimes(recs)
	for _, r := range recs {
		if r.Summary.Topology != recs[0].Summary.Topology {
			byRuntime = false
		}
	}
	color := func(r *results.Record) string {
		if byRuntime {
			return runtimes.Color(r.Summary.Runtime)
		}
		return topology.Color(r.Summary.Topology)
	}
	colors := make([]string, len(recs))
	taken := map[string]bool{}
	for _, r := range recs {
		taken[color(r)] = true
	}
	used := map[string]bool{}
	spare := slices.DeleteFunc(slices.Clone(spareColors), func(c string) bool { return taken[c] })
	next := 0
	for i, r := range recs {
		c := color(r)
		if used[c] {
			c = spare[next%len(spare)]
			next++
		}
		colors[i] = c
		used[c] = true
	}
	return colors
}

// relPath gives target relative to base with forward slashes, for links in a report that may be
// moved with its records; the absolute path when there is no relative one.
func relPath(base, target string) string {
	if target == "" {
		return ""
	}
	ab, err1 := filepath.Abs(base)
	at, err2 := filepath.Abs(target)
	if err1 != nil || err2 != nil {
		return filepath.ToSlash(target)
	}
	rel, err := filepath.Rel(ab, at)
	if err != nil {
		return filepath.ToSlash(at)
	}
	return filepath.ToSlash(rel)
}

func runCells(s *results.Summary) cells {
	c := cells{
		Verdict:       verdictText(s),
		Onset:         "none",
		OnsetRate:     "–",
		AtOnset:       "–",
		Capacity:      "–",
		PeakCloseWait: strconv.Itoa(s.PeakCloseWait),
		Throughput:    "–",
		Latency:       fmt.Sprintf("%s / %s ms", fmtMS(s.P50MS), fmtMS(s.P99MS)),
		Errors:        errorsText(s.Errors),
	}
	if onset := onsetS(s); onset != nil {
		c.Onset = fmtSeconds(*onset)
		if s.Hang {
			c.Onset += " (hang)"
		} else {
			c.Onset += " (collapse)"
		}
		if s.OnsetRateRPS != nil {
			c.OnsetRate = fmtRate(*s.OnsetRateRPS) + " rps"
		}
		c.AtOnset = fmt.Sprintf("in flight %d, busy %d, CLOSE_WAIT %d", s.OnsetInFlight, s.OnsetWorkersBusy, s.OnsetCloseWait)
	}
	if s.CapacityRPS != nil && s.SaturationOnsetS != nil {
		c.Capacity = fmtRate(*s.CapacityRPS) + " rps from " + fmtSeconds(*s.SaturationOnsetS)
	}
	if s.PeakCloseWait > 0 {
		c.PeakCloseWait += " at " + fmtSeconds(s.PeakCloseWaitTS)
	}
	switch {
	case s.Recovered && s.RecoveryS != nil:
		c.Recovery = fmtSeconds(*s.RecoveryS) + " after load end"
	case s.Recovered:
		c.Recovery = "recovered"
	case !s.Complete:
		c.Recovery = "not measured (interrupted)"
	default:
		c.Recovery = "not within " + fmtSeconds(s.RecoveryWindowS)
	}
	if s.LoadDurationS > 0 {
		c.Throughput = fmt.Sprintf("%.1f OK/s", float64(s.OK)/s.LoadDurationS)
	}
	return c
}

// headline is the run's outcome in words, for the top of a report.
func headline(s *results.Summary) string {
	parts := []string{}
	if s.CapacityRPS != nil && s.SaturationOnsetS != nil {
		parts = append(parts, "OK throughput plateaued below the offered rate from "+fmtSeconds(*s.SaturationOnsetS))
	}
	if on := onsetS(s); on != nil {
		p := "collapsed at " + fmtSeconds(*on)
		if s.OnsetRateRPS != nil {
			p += " with " + fmtRate(*s.OnsetRateRPS) + " rps offered"
		}
		parts = append(parts, p)
	} else if s.Complete {
		parts = append(parts, "no collapse")
	}
	parts = append(parts, fmt.Sprintf("peak CLOSE_WAIT %d", s.PeakCloseWait))
	switch {
	case s.Recovered && s.RecoveryS != nil:
		parts = append(parts, "answered again "+fmtSeconds(*s.RecoveryS)+" after the load")
	case !s.Complete:
		parts = append(parts, "interrupted before the recovery probes")
	case !s.Recovered:
		parts = append(parts, "still not answering "+fmtSeconds(s.RecoveryWindowS)+" after the load")
	}
	return verdictText(s) + ": " + strings.Join(parts, ", ")
}

func verdictText(s *results.Summary) string {
	if s.Verdict == "" {
		return "–"
	}
	return s.VerdictLine()
}

// onsetS is the collapse onset the report marks: the hang onset for a hang, else the collapse
// onset of a saturated run; nil without a collapse.
func onsetS(s *results.Summary) *float64 {
	if s.HangOnsetS != nil {
		return s.HangOnsetS
	}
	if s.Collapse {
		return s.CollapseOnsetS
	}
	return nil
}

// errorKinds is the order errors are listed in: Classify's kinds, then any kind a newer sim
// wrote, sorted.
var errorKinds = []string{results.KindTimeout, results.KindRefused, results.KindReset, results.KindHTTP, results.KindOther}

// errorsText counts the failures by kind, "timeout 815, 503 40", in sortedKinds' order.
func errorsText(errs map[string]int) string {
	var parts []string
	for _, k := range sortedKinds(errs) {
		parts = append(parts, fmt.Sprintf("%s %d", kindLabel(k), errs[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func buildSeries(tl []results.Sample) series {
	s := series{Cols: map[string][]num{}}
	for i := range tl {
		x := &tl[i]
		s.T = append(s.T, num(x.T))
		for _, c := range chartColumns {
			// Not measured (a census gap, the app silent, nothing completed): a break in the
			// line, not a drop to zero.
			v, ok := c.Value(x)
			if !ok {
				s.Cols[c.Name] = append(s.Cols[c.Name], nan)
				continue
			}
			s.Cols[c.Name] = append(s.Cols[c.Name], num(v))
		}
	}
	return s
}

// buildMarkers places each run's collapse onset and the end of the load. Runs whose load ended
// at the same time share one gray "load end" marker, so the common case (one profile) is one
// line, not one per run on top of each other.
func buildMarkers(recs []*results.Record, runs []runView) []marker {
	var ms []marker
	for i, r := range recs {
		if on := onsetS(&r.Summary); on != nil {
			what := "collapse onset"
			if r.Summary.Hang {
				what = "hang onset"
			}
			ms = append(ms, marker{T: num(*on), Label: fmt.Sprintf("%s: %s %s", runs[i].Label, what, fmtSeconds(*on)), Color: runs[i].Color, Kind: markerOnset})
		}
	}
	sameEnd := true
	for _, r := range recs[1:] {
		if r.Summary.LoadDurationS != recs[0].Summary.LoadDurationS {
			sameEnd = false
		}
	}
	if sameEnd && recs[0].Summary.LoadDurationS > 0 {
		ms = append(ms, marker{T: num(recs[0].Summary.LoadDurationS), Label: "load end " + fmtSeconds(recs[0].Summary.LoadDurationS), Color: markerGray, Kind: markerLoadEnd})
	} else if !sameEnd {
		for i, r := range recs {
			if r.Summary.LoadDurationS > 0 {
				ms = append(ms, marker{T: num(r.Summary.LoadDurationS), Label: fmt.Sprintf("%s: load end %s", runs[i].Label, fmtSeconds(r.Summary.LoadDurationS)), Color: runs[i].Color, Kind: markerLoadEnd})
			}
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].T < ms[j].T })
	return ms
}

// buildDefinitions states how the verdicts were reached, with the thresholds of the records.
// When runs used different thresholds, each run's are listed.
func buildDefinitions(recs []*results.Record, labels []string, cfgs []runConfig) []definition {
	collapse := perRun(recs, labels, func(i int) string {
		t := recs[i].Summary.Thresholds
		if t == (results.Thresholds{}) {
			return "below hang_fraction of the offered rate for at least hang_hold (this record does not say which thresholds it used)"
		}
		return fmt.Sprintf("below %s of the offered rate (hang_fraction %s) for at least %s (hang_hold), windows offering under %s rps ignored (min_offered_rps)",
			fmtPercent(t.HangFraction), fmtFloat(t.HangFraction), fmtSeconds(t.HangHoldS), fmtFloat(t.MinOfferedRPS))
	})
	saturation := perRun(recs, labels, func(i int) string {
		t := recs[i].Summary.Thresholds
		if t.SaturationFraction == 0 {
			return "below the offered rate by more than its jitter (this record predates capacity detection and has none)"
		}
		return fmt.Sprintf("below %s of the offered rate (saturation_fraction %s)", fmtPercent(t.SaturationFraction), fmtFloat(t.SaturationFraction))
	})
	recovery := perRun(recs, labels, func(i int) string {
		s := fmt.Sprintf("probed for %s after the load", fmtSeconds(recs[i].Summary.RecoveryWindowS))
		if pt := cfgs[i].probeTimeout; pt != "" {
			s += ", each probe with a " + pt + " timeout"
		}
		return s
	})
	defs := []definition{
		{"collapse and onset", "Over the load phase, the OK (2xx) throughput of each sample window stays " + collapse +
			", and stays there until the load ends. The onset is the start of that stretch; the offered rate, the requests in flight, the busy workers and the CLOSE_WAIT sockets are reported at it."},
		{"recovery", "The time from the end of the load to the first probe (a fresh connection, GET /page) that answers 200 (" + recovery +
			"), or \"not within N s\" when no probe in the recovery window does."},
		{"capacity", "The OK throughput a run plateaued at below the offered rate: over the load phase, a stretch of sample windows each " + saturation +
			", whose windows that are not collapsed last at least hang_hold in all; the capacity is their median OK throughput, reported from the start of the first. Short dips are no plateau, and a collapse with no plateau before it has no capacity."},
		{"verdict", "HANG = collapse and no recovery: the self-call deadlock, which outlives the load; also a collapse the app recovered from only after it had been stuck for at least max(10 s, 3 x hang_hold) after the load (requests waiting in its queue or listen backlog, none taken: a client timeout or a watchdog ended the hang, it did not drain), printed \"HANG, ended N s after the load\". SATURATED at X rps = the run reached its capacity X without hanging, or collapsed and then recovered by draining: over capacity but alive (\"recovered\" or \"not recovered within N s\" says which); also a run without collapse or plateau that failed at least 10 % of the requests completed during the load. OK = none of these. INCOMPLETE = the run was interrupted before a verdict."},
		{"peak CLOSE_WAIT", "The most server-side sockets of the app port in CLOSE_WAIT in any sample window: connections whose client gave up and closed, that the app never read or closed because their requests wait in the queue for a worker."},
		{"throughput", "OK (2xx) results of the whole run divided by the load duration."},
		{"p50 / p99", "Latency percentiles over all results of the attack, whatever their outcome: a client timeout counts at the timeout."},
	}
	if hasCensus(recs) {
		defs = append(defs, definition{"socket census", "Where the socket columns (CLOSE_WAIT, ESTABLISHED, TIME_WAIT, accept queue) came from: " +
			perRun(recs, labels, func(i int) string { return censusText(recs[i].Summary.Census) }) +
			". A census from a sim watch agent is placed in the window it was asked for, on the runner's clock; a window whose census did not come back in time is a gap (a break in the charts), never a zero, and takes no part in peak CLOSE_WAIT."})
	}
	return defs
}

// hasCensus reports whether any record says where its socket census came from (records
// written before summary.json had the key do not).
func hasCensus(recs []*results.Record) bool {
	for _, r := range recs {
		if r.Summary.Census != nil {
			return true
		}
	}
	return false
}

// censusText names a run's census source with its gaps and, for an agent, the clock offset.
func censusText(c *results.Census) string {
	if c == nil {
		return "not recorded"
	}
	s := c.String() + fmt.Sprintf(", %d of %d windows missing", c.Gaps, c.Windows)
	if c.ClockOffsetMS != nil && c.ClockOffsetErrorMS != nil {
		s += fmt.Sprintf(", agent clock %+.1f ms (± %.1f ms) from the runner's", *c.ClockOffsetMS, *c.ClockOffsetErrorMS)
	}
	return s
}

// perRun renders a per-run phrase once when every run gives the same, else labelled per run.
func perRun(recs []*results.Record, labels []string, f func(i int) string) string {
	first := f(0)
	same := true
	parts := make([]string, len(recs))
	for i := range recs {
		parts[i] = labels[i] + ": " + f(i)
		if f(i) != first {
			same = false
		}
	}
	if same {
		return first
	}
	return "(" + strings.Join(parts, "; ") + ")"
}

func fmtSeconds(s float64) string { return strconv.FormatFloat(s, 'f', 1, 64) + " s" }

// fmtRate shows whole requests per second, and a tenth below 10 rps where that matters.
func fmtRate(r float64) string {
	if math.Abs(r) < 10 {
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return strconv.FormatFloat(r, 'f', 0, 64)
}

func fmtMS(ms float64) string {
	if math.Abs(ms) < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return strconv.FormatFloat(ms, 'f', 0, 64)
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func fmtPercent(f float64) string { return strconv.FormatFloat(f*100, 'f', -1, 64) + " %" }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
