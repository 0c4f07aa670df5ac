package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/simdev/sim/results"
)

// matrix is the comparison of a report with several runs: a row per run (a topology, in the
// order given), a column per measure, and the best value of each column marked by the rule the
// column states. report.md, report.html and the terminal show the same matrix.
type matrix struct {
	Columns []matrixColumn `json:"columns"`
	Rows    []matrixRow    `json:"rows"`
}

// matrixColumn is one measure of the matrix.
type matrixColumn struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	// Best is the rule that picks the column's best value, as the report states it.
	Best string `json:"best"`
}

// matrixRow is one run of the matrix.
type matrixRow struct {
	Label    string       `json:"label"`
	Topology string       `json:"topology"`
	Color    string       `json:"color"`
	Verdict  string       `json:"verdict"`
	Cells    []matrixCell `json:"cells"`
}

// matrixCell is one value of the matrix; Best marks the best of its column.
type matrixCell struct {
	Text string `json:"text"`
	Best bool   `json:"best,omitempty"`
}

// measure is a column of the matrix: how a run's value reads, and how it ranks. score returns
// a number where higher is better, rounded as the text shows it so that values that read the
// same tie; ok is false for a run the column does not rank (no such value, or a value that
// must not count as best, such as the p99 of a hung server).
type measure struct {
	key, name, best string
	text            func(s *results.Summary) string
	score           func(s *results.Summary) (float64, bool)
}

// kept is the score of a run that never fell behind (no collapse, no plateau): above every
// measured onset or capacity.
var kept = math.Inf(1)

// matrixRules is said once under the matrix, for every column.
const matrixRules = "An interrupted run is never best; ties are all marked; a column where every run ties has no mark."

// measures are the matrix's columns, in order.
var measures = []measure{
	{
		key: "verdict", name: "verdict",
		best: "OK beats SATURATED and recovered, which beats SATURATED and not recovered, which beats HANG: " +
			"a server that hangs needs a restart, one that saturates sheds load and comes back.",
		text: func(s *results.Summary) string { return verdictText(s) },
		score: func(s *results.Summary) (float64, bool) {
			switch {
			case s.Verdict == results.VerdictOK:
				return 3, true
			case s.Verdict == results.VerdictSaturated && s.Recovered:
				return 2, true
			case s.Verdict == results.VerdictSaturated:
				return 1, true
			case s.Verdict == results.VerdictHang:
				return 0, true
			}
			return 0, false
		},
	},
	{
		key: "onset", name: "onset",
		best: "No collapse beats any; among runs that collapsed, the latest onset (on the same ramp, the highest rate kept up with).",
		text: func(s *results.Summary) string {
			on := onsetS(s)
			if on == nil {
				return "none"
			}
			t := fmtSeconds(*on)
			if s.Hang {
				t += " (hang"
			} else {
				t += " (collapse"
			}
			if s.OnsetRateRPS != nil {
				t += ", " + fmtRate(*s.OnsetRateRPS) + " rps offered"
			}
			return t + ")"
		},
		score: func(s *results.Summary) (float64, bool) {
			if on := onsetS(s); on != nil {
				return round(*on, 1), true
			}
			return kept, true
		},
	},
	{
		key: "capacity", name: "capacity",
		best: "The highest capacity_rps (the OK throughput a plateau held below the offered rate); a run that kept up with " +
			"the offered rate throughout (no plateau, no collapse) beats any capacity. A collapse with no plateau before it has none.",
		text: func(s *results.Summary) string {
			switch {
			case s.CapacityRPS != nil && s.SaturationOnsetS != nil:
				return fmtRate(*s.CapacityRPS) + " rps from " + fmtSeconds(*s.SaturationOnsetS)
			case s.CapacityRPS != nil:
				return fmtRate(*s.CapacityRPS) + " rps"
			case keptUp(s):
				return "kept up"
			}
			return "–"
		},
		score: func(s *results.Summary) (float64, bool) {
			switch {
			case s.CapacityRPS != nil:
				return roundRate(*s.CapacityRPS), true
			case keptUp(s):
				return kept, true
			}
			return 0, false
		},
	},
	{
		key: "goodput", name: "goodput",
		best: "The highest: OK (2xx) responses per second over the load.",
		text: func(s *results.Summary) string {
			if g, ok := goodput(s); ok {
				return strconv.FormatFloat(g, 'f', 1, 64) + " OK/s"
			}
			return "–"
		},
		score: func(s *results.Summary) (float64, bool) {
			g, ok := goodput(s)
			return round(g, 1), ok
		},
	},
	{
		key: "p99", name: "p99",
		best: "The lowest among runs that did not hang. p99 counts every result, errors included: a run that refuses fast (503) " +
			"has a low p99, so read it beside the errors.",
		text: func(s *results.Summary) string {
			if s.Requests == 0 {
				return "–"
			}
			return fmtMS(s.P99MS) + " ms"
		},
		score: func(s *results.Summary) (float64, bool) {
			if s.Requests == 0 || s.Hang {
				return 0, false
			}
			v, _ := strconv.ParseFloat(fmtMS(s.P99MS), 64)
			return -v, true
		},
	},
	{
		key: "errors", name: "errors",
		best: "The lowest share of failed requests, every kind together; the kinds are client timeouts, connection refused " +
			"or reset, and HTTP statuses (503: refused by a full queue or an admission limit, 502: a page whose self-call failed).",
		text: func(s *results.Summary) string { return errorRatesText(s) },
		score: func(s *results.Summary) (float64, bool) {
			if s.Requests == 0 {
				return 0, false
			}
			v, _ := strconv.ParseFloat(fmtShare(float64(s.Requests-s.OK)/float64(s.Requests)), 64)
			return -v, true
		},
	},
	{
		key: "close_wait", name: "peak CLOSE_WAIT",
		best: "The lowest: sockets the clients gave up on that the app never closed.",
		text: func(s *results.Summary) string { return strconv.Itoa(s.PeakCloseWait) },
		score: func(s *results.Summary) (float64, bool) {
			return -float64(s.PeakCloseWait), true
		},
	},
	{
		key: "recovery", name: "recovery",
		best: "The fastest first good probe after the load; not recovering is never best.",
		text: func(s *results.Summary) string {
			switch {
			case s.Recovered && s.RecoveryS != nil:
				return fmtSeconds(*s.RecoveryS)
			case s.Recovered:
				return "recovered"
			case !s.Complete:
				return "not measured"
			}
			return "not within " + fmtSeconds(s.RecoveryWindowS)
		},
		score: func(s *results.Summary) (float64, bool) {
			if !s.Recovered || s.RecoveryS == nil {
				return 0, false
			}
			return -round(*s.RecoveryS, 1), true
		},
	},
}

// buildMatrix ranks the runs; nil with fewer than two, which have nothing to compare.
func buildMatrix(recs []*results.Record, runs []runView) *matrix {
	if len(recs) < 2 {
		return nil
	}
	m := &matrix{}
	for _, c := range measures {
		m.Columns = append(m.Columns, matrixColumn{Key: c.key, Name: c.name, Best: c.best})
	}
	for i, r := range recs {
		row := matrixRow{Label: runs[i].Label, Topology: r.Summary.Topology, Color: runs[i].Color, Verdict: r.Summary.Verdict}
		for _, c := range measures {
			row.Cells = append(row.Cells, matrixCell{Text: c.text(&r.Summary)})
		}
		m.Rows = append(m.Rows, row)
	}
	for j, c := range measures {
		for _, i := range bestOf(recs, c) {
			m.Rows[i].Cells[j].Best = true
		}
	}
	return m
}

// bestOf returns the runs whose score in c is the best, by index: none when no run is ranked,
// or when every run ties (the column tells nothing apart).
func bestOf(recs []*results.Record, c measure) []int {
	scores := make([]float64, len(recs))
	ranked := make([]bool, len(recs))
	top, found := math.Inf(-1), false
	for i, r := range recs {
		if !r.Summary.Complete {
			continue
		}
		v, ok := c.score(&r.Summary)
		if !ok || math.IsNaN(v) {
			continue
		}
		scores[i], ranked[i], found = v, true, true
		top = math.Max(top, v)
	}
	if !found {
		return nil
	}
	var best []int
	for i := range recs {
		if ranked[i] && scores[i] == top {
			best = append(best, i)
		}
	}
	if len(best) == len(recs) {
		return nil
	}
	return best
}

// keptUp says whether a complete run kept up with the offered rate throughout: no plateau below
// it and no collapse.
func keptUp(s *results.Summary) bool {
	return s.Complete && s.CapacityRPS == nil && !s.Collapse && !s.Hang
}

// goodput is the OK (2xx) responses per second over the load; false without a load duration.
func goodput(s *results.Summary) (float64, bool) {
	if s.LoadDurationS <= 0 {
		return 0, false
	}
	return float64(s.OK) / s.LoadDurationS, true
}

// errorRatesText is the share of failed requests, then each kind's: "21.6 %: timeout 21.1 %,
// connection reset 0.5 %"; "none" without failures.
func errorRatesText(s *results.Summary) string {
	if s.Requests == 0 {
		return "–"
	}
	failed := s.Requests - s.OK
	if failed <= 0 {
		return "none"
	}
	// A no-break space keeps a figure and its % together when a table cell wraps.
	share := func(n int) string { return fmtShare(float64(n)/float64(s.Requests)) + "\u00a0%" }
	var parts []string
	for _, k := range sortedKinds(s.Errors) {
		parts = append(parts, kindLabel(k)+" "+share(s.Errors[k]))
	}
	total := share(failed)
	if len(parts) == 0 {
		return total
	}
	return total + ": " + strings.Join(parts, ", ")
}

// sortedKinds lists the kinds with failures: Classify's kinds in errorKinds' order, each HTTP
// status where the bare "http" of older records would be, by code, then any kind a newer sim
// wrote, by name.
func sortedKinds(errs map[string]int) []string {
	rank := func(k string) (int, int) {
		if code, ok := results.HTTPStatus(k); ok {
			return slices.Index(errorKinds, results.KindHTTP), code
		}
		if i := slices.Index(errorKinds, k); i >= 0 {
			return i, 0
		}
		return len(errorKinds), 0
	}
	var kinds []string
	for k, n := range errs {
		if n > 0 {
			kinds = append(kinds, k)
		}
	}
	sort.Slice(kinds, func(a, b int) bool {
		ra, ca := rank(kinds[a])
		rb, cb := rank(kinds[b])
		if ra != rb {
			return ra < rb
		}
		if ca != cb {
			return ca < cb
		}
		return kinds[a] < kinds[b]
	})
	return kinds
}

// kindLabel names an error kind for a reader: an HTTP status by its code ("503"), the others in
// words.
func kindLabel(kind string) string {
	if code, ok := results.HTTPStatus(kind); ok {
		return strconv.Itoa(code)
	}
	switch kind {
	case results.KindRefused:
		return "connection refused"
	case results.KindReset:
		return "connection reset"
	case results.KindHTTP:
		return "HTTP error"
	}
	return kind
}

// fmtShare shows a share as a percentage with a tenth; a share too small for that is "<0.1".
func fmtShare(f float64) string {
	p := 100 * f
	if p > 0 && p < 0.05 {
		return "<0.1"
	}
	return strconv.FormatFloat(p, 'f', 1, 64)
}

// roundRate rounds a rate as fmtRate shows it.
func roundRate(r float64) float64 {
	v, _ := strconv.ParseFloat(fmtRate(r), 64)
	return v
}

func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}

// matrixTable writes the matrix for a terminal, a row per run; a best value ends in " *".
func matrixTable(w *tabWriter, m *matrix) {
	head := []string{"topology"}
	for _, c := range m.Columns {
		head = append(head, c.Name)
	}
	w.row(head...)
	for _, r := range m.Rows {
		vals := []string{r.Label}
		for _, c := range r.Cells {
			v := c.Text
			if c.Best {
				v += " " + terminalBestMark
			}
			vals = append(vals, v)
		}
		w.row(vals...)
	}
}

// terminalBestMark follows a best value in the terminal's matrix.
const terminalBestMark = "*"

// bestLegend explains the terminal's mark.
func bestLegend() string {
	return fmt.Sprintf("%s best in its column (the rules are in %s and %s)", terminalBestMark, MarkdownFile, HTMLFile)
}
