package report

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/results"
)

// eightSummaries are one run of each registered topology on the quick profile's shape, as the
// issue expects them to end: self and bounded-queue hang (bounded-queue answering fast 503s), the
// fixes saturate and recover, inproc keeps up. Each is written so that the best of every column
// is known.
func eightSummaries() map[string]results.Summary {
	base := func(top string) results.Summary {
		return results.Summary{SchemaVersion: results.SchemaVersion, Topology: top, Profile: "quick", Complete: true,
			LoadDurationS: synthLoadS, RecoveryWindowS: synthRecovery, Requests: 1300,
			Thresholds: results.Thresholds{HangFraction: 0.1, HangHoldS: 3, MinOfferedRPS: 1, SaturationFraction: 0.9}}
	}
	hang := func(top string, onset, rate float64, ok int, errs map[string]int, p99 float64, cw int) results.Summary {
		s := base(top)
		s.Verdict, s.Collapse, s.Hang = results.VerdictHang, true, true
		s.CollapseOnsetS, s.HangOnsetS, s.OnsetRateRPS = f64(onset), f64(onset), f64(rate)
		s.OK, s.Errors, s.P99MS, s.PeakCloseWait = ok, errs, p99, cw
		return s
	}
	saturated := func(top string, capacity, from, recovery float64, ok int, errs map[string]int, p99 float64, cw int) results.Summary {
		s := base(top)
		s.Verdict, s.Saturated, s.Recovered, s.RecoveryS = results.VerdictSaturated, true, true, f64(recovery)
		s.CapacityRPS, s.SaturationOnsetS = f64(capacity), f64(from)
		s.OK, s.Errors, s.P99MS, s.PeakCloseWait = ok, errs, p99, cw
		return s
	}
	inproc := base(topology.InProc)
	inproc.Verdict, inproc.Recovered, inproc.RecoveryS = results.VerdictOK, true, f64(0.31)
	inproc.OK, inproc.Errors, inproc.P99MS = 1300, map[string]int{}, 201.3
	return map[string]results.Summary{
		topology.Self:           hang(topology.Self, 12, 76.69, 485, map[string]int{results.KindTimeout: 815}, 1001.9, 822),
		topology.Split:          saturated(topology.Split, 80, 14, 2.206, 1014, map[string]int{results.KindTimeout: 280, results.KindReset: 6}, 1000.9, 84),
		topology.SelfTimeout:    saturated(topology.SelfTimeout, 64, 12.5, 0.5, 900, map[string]int{results.HTTPKind(502): 300, results.KindTimeout: 100}, 1000.2, 40),
		topology.Bulkhead:       saturated(topology.Bulkhead, 79, 14.2, 1.0, 1010, map[string]int{results.KindTimeout: 290}, 1000.5, 80),
		topology.BoundedQueue:   hang(topology.BoundedQueue, 12.5, 79.2, 600, map[string]int{results.HTTPKind(503): 650, results.KindTimeout: 50}, 5.2, 30),
		topology.AdmissionLimit: saturated(topology.AdmissionLimit, 78, 13, 0.3, 1000, map[string]int{results.HTTPKind(503): 300}, 210.4, 0),
		topology.Async:          saturated(topology.Async, 80, 14, 0.28, 1020, map[string]int{results.KindTimeout: 280}, 1000.9, 70),
		topology.InProc:         inproc,
	}
}

// eightRecords lays out a comparison of every registered topology, in the registry's order,
// with the synthetic timelines (self's shape for the two that hang, split's for the others).
// eightNames are issue 11's eight topologies, in the registry's order: the tests' records are
// theirs, whatever else is registered.
func eightNames() []string {
	return []string{topology.Self, topology.Split, topology.SelfTimeout, topology.Bulkhead,
		topology.BoundedQueue, topology.AdmissionLimit, topology.Async, topology.InProc}
}

func eightRecords(t *testing.T, out string) []*results.Record {
	t.Helper()
	sums := eightSummaries()
	var recs []*results.Record
	for _, top := range eightNames() {
		shape := topology.Split
		if sums[top].Hang {
			shape = topology.Self
		}
		r := synthRecord(t, filepath.Join(out, top), shape)
		writeSynthConfig(t, r.Dir, top)
		r.Summary = sums[top]
		r.Summary.RecordDir = r.Dir
		recs = append(recs, r)
	}
	return recs
}

// best lists, per column, the topologies marked best.
func best(m *matrix) map[string][]string {
	out := map[string][]string{}
	for _, r := range m.Rows {
		for j, c := range r.Cells {
			if c.Best {
				out[m.Columns[j].Key] = append(out[m.Columns[j].Key], r.Topology)
			}
		}
	}
	return out
}

func TestMatrixEightTopologies(t *testing.T) {
	out := t.TempDir()
	recs := eightRecords(t, out)
	v := buildView(out, recs, Options{})
	m := v.Matrix
	if m == nil || len(m.Rows) != 8 {
		t.Fatalf("matrix %+v, want 8 rows", m)
	}
	for i, top := range eightNames() {
		r := m.Rows[i]
		if r.Topology != top || r.Label != topology.Label(top) || r.Color != topology.Color(top) {
			t.Errorf("row %d: %s %q %s, want %s %q %s (the registry's order, label and colour)", i, r.Topology, r.Label, r.Color, top, topology.Label(top), topology.Color(top))
		}
		if len(r.Cells) != len(measures) {
			t.Errorf("row %s has %d cells, want %d", top, len(r.Cells), len(measures))
		}
	}
	// Charts overlay every run: eight distinct colours.
	seen := map[string]string{}
	for _, r := range v.Runs {
		if other, dup := seen[r.Color]; dup {
			t.Errorf("%s and %s share colour %s", other, r.Label, r.Color)
		}
		seen[r.Color] = r.Label
	}

	want := map[string][]string{
		"verdict":  {topology.InProc},
		"onset":    {topology.Split, topology.SelfTimeout, topology.Bulkhead, topology.AdmissionLimit, topology.Async, topology.InProc},
		"capacity": {topology.InProc},
		"goodput":  {topology.InProc},
		// bounded-queue's 5 ms p99 is fast 503s from a hung server: never best.
		"p99":        {topology.InProc},
		"errors":     {topology.InProc},
		"close_wait": {topology.AdmissionLimit, topology.InProc},
		// 0.3 s, 0.28 s and 0.31 s read the same: ties.
		"recovery": {topology.AdmissionLimit, topology.Async, topology.InProc},
	}
	got := best(m)
	for _, c := range m.Columns {
		if strings.Join(got[c.Key], ",") != strings.Join(want[c.Key], ",") {
			t.Errorf("best %s: %v, want %v", c.Key, got[c.Key], want[c.Key])
		}
	}

	cell := func(top, key string) string {
		for _, r := range m.Rows {
			if r.Topology != top {
				continue
			}
			for j, c := range m.Columns {
				if c.Key == key {
					return r.Cells[j].Text
				}
			}
		}
		return ""
	}
	for _, tt := range []struct{ top, key, want string }{
		{topology.Self, "verdict", "HANG"},
		{topology.Split, "verdict", "SATURATED at 80 rps, recovered"},
		{topology.InProc, "verdict", "OK"},
		{topology.Self, "onset", "12.0 s (hang, 77 rps offered)"},
		{topology.Split, "capacity", "80 rps from 14.0 s"},
		{topology.InProc, "capacity", "kept up"},
		{topology.Self, "capacity", "–"},
		{topology.Split, "goodput", "50.7 OK/s"},
		{topology.Self, "p99", "1002 ms"},
		{topology.BoundedQueue, "errors", "53.8 %: timeout 3.8 %, 503 50.0 %"},
		{topology.SelfTimeout, "errors", "30.8 %: timeout 7.7 %, 502 23.1 %"},
		{topology.Split, "errors", "22.0 %: timeout 21.5 %, connection reset 0.5 %"},
		{topology.InProc, "errors", "none"},
		{topology.Self, "recovery", "not within 8.0 s"},
		{topology.Split, "recovery", "2.2 s"},
	} {
		// A figure and its % are kept together by a no-break space.
		if got := cell(tt.top, tt.key); got != strings.ReplaceAll(tt.want, " %", "\u00a0%") {
			t.Errorf("%s %s = %q, want %q", tt.top, tt.key, got, tt.want)
		}
	}
}

// TestMatrixBestRules: the verdict order without an OK run, an interrupted run never best, a
// column where every run ties has no mark, and one run has no matrix.
func TestMatrixBestRules(t *testing.T) {
	sums := eightSummaries()
	recs := func(tops ...string) []*results.Record {
		var rs []*results.Record
		for _, top := range tops {
			rs = append(rs, &results.Record{Summary: sums[top]})
		}
		return rs
	}
	bestIn := func(rs []*results.Record, key string) []string {
		labels := runLabels(rs)
		runs := make([]runView, len(rs))
		for i := range rs {
			runs[i] = runView{Label: labels[i]}
		}
		return best(buildMatrix(rs, runs))[key]
	}

	// Saturated and recovered beats saturated and not, which beats a hang.
	rs := recs(topology.Self, topology.Split, topology.Bulkhead)
	rs[2].Summary.Recovered, rs[2].Summary.RecoveryS = false, nil
	if got := bestIn(rs, "verdict"); strings.Join(got, ",") != topology.Split {
		t.Errorf("best verdict %v, want split alone", got)
	}
	rs = recs(topology.Self, topology.Bulkhead)
	rs[1].Summary.Recovered, rs[1].Summary.RecoveryS = false, nil
	if got := bestIn(rs, "verdict"); strings.Join(got, ",") != topology.Bulkhead {
		t.Errorf("best verdict %v, want bulkhead (saturated, not recovered) over self (hang)", got)
	}

	// An interrupted run is never best, whatever its figures.
	rs = recs(topology.Split, topology.InProc)
	rs[1].Summary.Complete, rs[1].Summary.Verdict = false, results.VerdictIncomplete
	for _, key := range []string{"verdict", "goodput", "p99", "errors", "close_wait", "capacity"} {
		if got := bestIn(rs, key); slices.Contains(got, topology.InProc) {
			t.Errorf("%s: the interrupted inproc run is marked best", key)
		}
	}

	// Every run ties: nothing to tell apart, no mark.
	rs = recs(topology.Split, topology.Async)
	rs[1].Summary.PeakCloseWait = rs[0].Summary.PeakCloseWait
	if got := bestIn(rs, "close_wait"); len(got) != 0 {
		t.Errorf("close_wait ties everywhere but %v are marked", got)
	}

	// Every run hung: no p99 is best.
	if got := bestIn(recs(topology.Self, topology.BoundedQueue), "p99"); len(got) != 0 {
		t.Errorf("p99 of hung runs marked best: %v", got)
	}

	// Among collapses, the later onset is best.
	if got := bestIn(recs(topology.Self, topology.BoundedQueue), "onset"); strings.Join(got, ",") != topology.BoundedQueue {
		t.Errorf("best onset %v, want bounded-queue (12.5 s, after self's 12.0 s)", got)
	}

	if m := buildMatrix(recs(topology.Self), []runView{{Label: "self"}}); m != nil {
		t.Errorf("one run got a matrix: %+v", m)
	}
}

// TestMatrixMarkdownGolden: report.md's matrix and its rules, and the terminal's matrix for more
// runs than fit side by side.
func TestMatrixMarkdownGolden(t *testing.T) {
	out := t.TempDir()
	recs := eightRecords(t, out)
	var b bytes.Buffer
	writeMDMatrix(&b, buildView(out, recs, Options{}).Matrix)
	golden(t, "matrix.md.golden", b.Bytes())

	md := string(renderMarkdown(buildView(out, recs, Options{}), nil))
	// The header row, the separator, then one per topology.
	rows := regexp.MustCompile(`(?m)^\| (.+?) \| .*\|$`).FindAllStringSubmatch(md[strings.Index(md, "## Comparison"):strings.Index(md, "## Details")], -1)
	rows = slices.DeleteFunc(rows, func(r []string) bool { return r[1] == "---" })
	if len(rows) != 9 {
		t.Fatalf("matrix in report.md has %d rows, want a header and 8:\n%s", len(rows), md)
	}
	for i, top := range eightNames() {
		if rows[i+1][1] != topology.Label(top) {
			t.Errorf("row %d is %q, want %q", i+1, rows[i+1][1], topology.Label(top))
		}
	}
	for _, want := range []string{"| **OK** |", "**kept up**", "The best value of each column is in **bold**.", "- **p99**: The lowest among runs that did not hang."} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}

	for _, r := range recs {
		r.Dir = filepath.Join("runs", "cmp", filepath.Base(r.Dir)) // deterministic paths
	}
	var tb bytes.Buffer
	if err := Table(&tb, recs); err != nil {
		t.Fatal(err)
	}
	golden(t, "table-matrix.golden", tb.Bytes())
}

// TestMatrixReportEight renders the whole report of eight runs: the HTML matrix with its marks,
// and charts whose legend lists each run once beside the plot.
func TestMatrixReportEight(t *testing.T) {
	t.Parallel() // draws charts, which takes seconds under -race
	out := t.TempDir()
	recs := eightRecords(t, out)
	files, err := Write(out, recs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(files.HTML)
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	rows := regexp.MustCompile(`<tr class="matrix-row" data-topology="([^"]+)">`).FindAllStringSubmatch(page, -1)
	if len(rows) != 8 {
		t.Fatalf("report.html has %d matrix rows, want 8", len(rows))
	}
	for i, top := range eightNames() {
		if rows[i][1] != top {
			t.Errorf("matrix row %d is %s, want %s", i, rows[i][1], top)
		}
	}
	inproc := page[strings.Index(page, `data-topology="inproc"`):]
	inproc = inproc[:strings.Index(inproc, "</tr>")]
	if n := strings.Count(inproc, ` best"`); n != len(measures) {
		t.Errorf("inproc's row has %d best cells, want all %d:\n%s", n, len(measures), inproc)
	}
	selfRow := page[strings.Index(page, `data-topology="self"`):]
	selfRow = selfRow[:strings.Index(selfRow, "</tr>")]
	if strings.Contains(selfRow, "best") || !strings.Contains(selfRow, `class="c-verdict verdict v-hang"`) {
		t.Errorf("self's row: want no best mark and a hang verdict cell:\n%s", selfRow)
	}
	for _, want := range []string{`id="comparison"`, `class="best-mark"`, matrixRules, `id="details"`} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	for _, c := range files.Charts {
		f, err := os.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 800 || cfg.Height < 300 {
			t.Errorf("%s: %dx%d, %v", c, cfg.Width, cfg.Height, err)
		}
	}
	if keep := os.Getenv("SIM_SCREENSHOT_DIR"); keep != "" {
		for _, c := range append(files.Charts, files.HTML) {
			data, _ := os.ReadFile(c)
			os.WriteFile(filepath.Join(keep, "eight-"+filepath.Base(c)), data, 0o644)
		}
	}
}
