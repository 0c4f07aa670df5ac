package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/results"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./results/report -update to accept):\n%s", name, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first differing line, which is what one needs to read a golden failure.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(same lines, different bytes)"
}

func f64(x float64) *float64 { return &x }

// The synthetic runs: the quick profile's shape (20 s ramp 10 → 120 rps, 16 workers of 200 ms,
// threshold ~80 rps), sampled every 2 s to keep the golden files short.
const (
	synthWindow   = 2.0
	synthLoadS    = 20.0
	synthRecovery = 8.0
	synthThreads  = 16
)

func synthOffered(t float64) float64 {
	if t > synthLoadS {
		return 0
	}
	return 10 + 110*t/synthLoadS
}

// synthRecord builds a deterministic record in dir (config.json is written there; the record
// itself stays in memory). self collapses at 12 s and never recovers; split saturates at 80 rps
// and recovers 2.2 s after the load.
func synthRecord(t *testing.T, dir, topology string) *results.Record {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeSynthConfig(t, dir, topology)
	self := topology == "self"
	r := &results.Record{Dir: dir}
	cw, queued := 0, 0
	for i := 1; float64(i)*synthWindow <= synthLoadS+synthRecovery; i++ {
		ts := float64(i) * synthWindow
		s := results.Sample{T: ts, WindowS: synthWindow, Phase: results.PhaseLoad, OfferedRPS: synthOffered(ts), AppUp: true, SocketCensus: results.SocketCensus{AcceptQueueMax: 100}}
		if ts > synthLoadS {
			s.Phase = results.PhaseRecovery
		}
		sent := int(s.OfferedRPS * synthWindow)
		s.Sent, s.SentRPS = sent, float64(sent)/synthWindow
		switch {
		case self && ts > 12:
			s.ErrTimeout = sent
			if s.Phase == results.PhaseLoad {
				cw += sent
				queued += sent
			}
			s.WorkersBusy = synthThreads
			if sent > 0 {
				s.P50, s.P99, s.Max = 1000.5, 1001.2, 1001.9
			}
		case !self && ts > synthLoadS+2:
			s.WorkersBusy = 0
			cw, queued = 0, 0
		default:
			ok := min(sent, int(80*synthWindow))
			s.OK, s.ErrTimeout = ok, sent-ok
			s.WorkersBusy = min(synthThreads, int(s.OfferedRPS*0.2)+1)
			if sent > ok {
				queued += (sent - ok) / 2
				cw += (sent - ok) / 4
			}
			if sent > 0 {
				s.P50, s.P99, s.Max = 200.9, 201.7+float64(queued), 202.3+float64(queued)
			}
		}
		s.OKRPS = float64(s.OK) / synthWindow
		s.CloseWait, s.Queued = cw, queued
		s.Established = min(sent, 120) + 3
		s.TimeWait = i % 3
		if self && ts > 24 {
			// The admin endpoint missed a window: the chart must show a gap, not a zero.
			s.AppUp, s.WorkersBusy, s.Queued = ts != 26, 0, 0
			if ts != 26 {
				s.WorkersBusy, s.Queued = synthThreads, queued
			}
		}
		s.InFlight = s.WorkersBusy + s.Queued
		r.Timeline = append(r.Timeline, s)
	}
	start := time.Date(2026, 11, 25, 13, 8, 38, 0, time.UTC)
	r.Summary = results.Summary{
		SchemaVersion: results.SchemaVersion, Topology: topology, Profile: "quick", RecordDir: dir,
		StartedAt: start, FinishedAt: start.Add(28 * time.Second), Complete: true,
		PeakCloseWait: cw, PeakCloseWaitTS: synthLoadS, PeakFDs: cw + 17,
		RecoveryWindowS: synthRecovery, LoadDurationS: synthLoadS,
		Requests: 1300, Thresholds: results.Thresholds{HangFraction: 0.1, HangHoldS: 3, MinOfferedRPS: 1, SaturationFraction: 0.9},
	}
	s := &r.Summary
	if self {
		s.Verdict, s.Collapse, s.Hang = results.VerdictHang, true, true
		s.CollapseOnsetS, s.HangOnsetS, s.OnsetRateRPS = f64(12), f64(12), f64(76.69)
		s.OnsetInFlight, s.OnsetWorkersBusy, s.OnsetCloseWait = 50, 16, 0
		s.PeakCloseWait, s.PeakCloseWaitTS = 822, 27.25
		s.OK, s.Errors = 485, map[string]int{"timeout": 815}
		s.P50MS, s.P90MS, s.P99MS, s.MaxMS = 1000.338, 1001.059, 1001.929, 1005.708
	} else {
		// What detect.Summarize makes of this timeline: a plateau at 80 rps from 14 s.
		s.Verdict, s.Saturated, s.Recovered, s.RecoveryS = results.VerdictSaturated, true, true, f64(2.206)
		s.CapacityRPS, s.SaturationOnsetS = f64(80), f64(14)
		s.PeakCloseWait, s.PeakCloseWaitTS = 84, 21
		s.OK, s.Errors = 1014, map[string]int{"timeout": 280, "reset": 6}
		s.P50MS, s.P90MS, s.P99MS, s.MaxMS = 235.2, 700.1, 1000.9, 1003
	}
	r.Probes = []results.Probe{{T: 21, SinceLoadEnd: 1, Status: 0, LatencyMS: 1000.5, Error: "context deadline exceeded"}}
	return r
}

// writeSynthConfig writes a config.json shaped like the runner's.
func writeSynthConfig(t *testing.T, dir, topology string) {
	t.Helper()
	cfg := `{
  "topology": "` + topology + `",
  "profile": "quick",
  "load_profile": {
    "name": "quick",
    "description": "Self hang in under 30 s",
    "stages": [{"duration": 20000000000, "target": 120, "mode": "ramp", "from": 10},
               {"duration": 5000000000, "target": 120, "mode": "hold"}],
    "client": {"timeout": 1000000000, "keepalive": true, "max_workers": 0, "connections": 10000},
    "recovery": {"duration": 8000000000, "interval": 500000000, "timeout": 1000000000},
    "sample_interval": 250000000,
    "detect": {"hang_fraction": 0.1, "hang_hold": 3000000000},
    "server": {"max_threads": 16, "work_time": 200000000, "static": {}}
  },
  "server": {
    "topology": "` + topology + `",
    "connector": "nio",
    "max_threads": 16,
    "accept_count": 100,
    "connection_timeout": 20000000000,
    "work_time": 200000000,
    "max_per_route": 2,
    "socket_timeout": 0,
    "nofile": 4096,
    "static": {"server": "embedded", "dir": ""}
  },
  "thresholds": {"HangFraction": 0.1}
}
`
	if err := os.WriteFile(filepath.Join(dir, results.ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// synthCompare lays out a comparison folder like sim compare's: out/self, out/split.
func synthCompare(t *testing.T) (string, []*results.Record) {
	out := t.TempDir()
	return out, []*results.Record{synthRecord(t, filepath.Join(out, "self"), "self"), synthRecord(t, filepath.Join(out, "split"), "split")}
}

var blobRE = regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`)

// dataBlob extracts the inline JSON data of a rendered page, indented for a readable golden file.
func dataBlob(t *testing.T, html []byte) []byte {
	t.Helper()
	m := blobRE.FindSubmatch(html)
	if m == nil {
		t.Fatal("no report-data script in the page")
	}
	var b bytes.Buffer
	if err := json.Indent(&b, m[1], "", "  "); err != nil {
		t.Fatalf("data blob is not JSON: %v", err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func TestReportWriteGolden(t *testing.T) {
	t.Parallel() // each draws charts, which takes seconds under -race
	out, recs := synthCompare(t)
	files, err := Write(out, recs, Options{Notes: []string{"Same load on both topologies; only where the static file is served differs."}})
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(files.Markdown)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.md.golden", md)
	html, err := os.ReadFile(files.HTML)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report-data.json.golden", dataBlob(t, html))

	// Rendering again gives the same bytes: nothing depends on the clock or map order.
	out2 := t.TempDir()
	recs2 := []*results.Record{synthRecord(t, filepath.Join(out2, "self"), "self"), synthRecord(t, filepath.Join(out2, "split"), "split")}
	files2, err := Write(out2, recs2, Options{Notes: []string{"Same load on both topologies; only where the static file is served differs."}})
	if err != nil {
		t.Fatal(err)
	}
	html2, _ := os.ReadFile(files2.HTML)
	if !bytes.Equal(html, html2) {
		t.Error("two renderings of the same records differ")
	}
}

func TestReportWriteFiles(t *testing.T) {
	t.Parallel() // each draws charts, which takes seconds under -race
	out, recs := synthCompare(t)
	files, err := Write(out, recs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if files.HTML != filepath.Join(out, HTMLFile) || files.Markdown != filepath.Join(out, MarkdownFile) {
		t.Errorf("files = %+v", files)
	}
	md, _ := os.ReadFile(files.Markdown)
	wantCharts := []string{"throughput", "sockets", "latency", "workers", "queues"}
	if len(files.Charts) != len(wantCharts) {
		t.Fatalf("charts = %v, want %v", files.Charts, wantCharts)
	}
	for i, c := range files.Charts {
		if want := filepath.Join(out, ChartsDir, wantCharts[i]+".png"); c != want {
			t.Errorf("chart %d = %s, want %s", i, c, want)
		}
		f, err := os.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if cfg.Width < 800 || cfg.Height < 300 {
			t.Errorf("%s is %dx%d, too small to read", c, cfg.Width, cfg.Height)
		}
		// report.md embeds every chart by a link relative to itself.
		if link := "](" + ChartsDir + "/" + wantCharts[i] + ".png)"; !bytes.Contains(md, []byte(link)) {
			t.Errorf("report.md does not embed %s", link)
		}
	}
	// Written through temp files: none is left behind.
	filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", path)
		}
		return nil
	})
}

func TestReportHTMLSelfContained(t *testing.T) {
	t.Parallel() // each draws charts, which takes seconds under -race
	out, recs := synthCompare(t)
	files, err := Write(out, recs, Options{Title: `A <b>"title"</b> & more`})
	if err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(files.HTML)
	page := string(html)
	for _, bad := range []string{" src=", "<link", "@import", "url(", "<iframe"} {
		if strings.Contains(page, bad) {
			t.Errorf("page loads something from outside (%q): it must open offline", bad)
		}
	}
	for _, want := range []string{
		"Content-Security-Policy", "default-src 'none'",
		"leeoniya/uPlot (v" + UPlotVersion + ")", // the inlined library's banner: UPlotVersion is right
		`id="render-status"`,
		"&lt;b&gt;&#34;title&#34;&lt;/b&gt; &amp; more", // the title is escaped, not markup
		"CLOSE_WAIT", "not within 8.0 s", "2.2 s after load end",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	var v view
	if err := json.Unmarshal(blobRE.FindSubmatch(html)[1], &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Runs) != 2 || len(v.Charts) != 5 || len(v.Runs[0].Series.T) == 0 {
		t.Errorf("data blob: %d runs, %d charts, %d samples", len(v.Runs), len(v.Charts), len(v.Runs[0].Series.T))
	}
}

func TestReportTableGolden(t *testing.T) {
	_, recs := synthCompare(t)
	for _, r := range recs {
		r.Dir = filepath.Join("runs", "cmp", filepath.Base(r.Dir)) // deterministic paths
	}
	var b bytes.Buffer
	if err := Table(&b, recs); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
}

func TestReportEdgeCases(t *testing.T) {
	tests := []struct {
		name   string
		modify func(out string, recs []*results.Record) []*results.Record
		want   []string // in report.md
	}{
		{
			name: "interrupted run without timeline or config",
			modify: func(out string, recs []*results.Record) []*results.Record {
				r := recs[0]
				os.Remove(filepath.Join(r.Dir, results.ConfigFile))
				r.Timeline, r.Probes = nil, nil
				r.Summary.Complete, r.Summary.Verdict, r.Summary.InterruptedReason = false, results.VerdictIncomplete, "signal: interrupt"
				r.Summary.Hang, r.Summary.HangOnsetS, r.Summary.Collapse = false, nil, false
				return recs[:1]
			},
			want: []string{"**INCOMPLETE**", "not measured (interrupted)", "interrupted: signal: interrupt", "Not shown: the record has no config.json"},
		},
		{
			name: "same topology twice gets distinct labels and colours",
			modify: func(out string, recs []*results.Record) []*results.Record {
				again := synthRecord(t, filepath.Join(out, "self-timeouts"), "self")
				return []*results.Record{recs[0], again}
			},
			want: []string{"| | **self (incident) [self]** | **self (incident) [self-timeouts]** |"},
		},
		{
			name: "different thresholds are listed per run",
			modify: func(out string, recs []*results.Record) []*results.Record {
				recs[1].Summary.Thresholds.HangFraction = 0.2
				return recs
			},
			want: []string{"(self (incident): below 10 % of the offered rate (hang_fraction 0.1)", "split: below 20 % of the offered rate (hang_fraction 0.2)"},
		},
		{
			name: "a record without thresholds says so",
			modify: func(out string, recs []*results.Record) []*results.Record {
				recs[0].Summary.Thresholds = results.Thresholds{}
				return recs[:1]
			},
			want: []string{"this record does not say which thresholds it used"},
		},
		{
			name: "report inside the record's own folder",
			modify: func(out string, recs []*results.Record) []*results.Record {
				recs[0].Dir = out
				return recs[:1]
			},
			want: []string{"# sim run: self, profile quick", "record this folder"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, recs := synthCompare(t)
			recs = tt.modify(out, recs)
			// The Markdown alone: drawing the charts would only slow these cases down.
			md := renderMarkdown(buildView(out, recs, Options{}), nil)
			for _, w := range tt.want {
				if !strings.Contains(string(md), w) {
					t.Errorf("report.md lacks %q:\n%s", w, md)
				}
			}
		})
	}
}

// A run whose census came from a watch agent says so in the definitions, with its gaps and the
// agent's clock offset, and a window without a census is a break (null) in the socket charts,
// not a drop to zero.
func TestReportCensusGaps(t *testing.T) {
	out, recs := synthCompare(t)
	r := recs[0]
	off, bound := 12.5, 0.4
	r.Summary.Census = &results.Census{Source: results.CensusAgent, URL: "http://10.254.7.2:9090", Method: "netlink",
		Port: 8080, Windows: len(r.Timeline), Gaps: 1, ClockOffsetMS: &off, ClockOffsetErrorMS: &bound}
	gap := len(r.Timeline) / 2
	r.Timeline[gap].SocketsMissing = true
	r.Timeline[gap].CloseWait = 0
	v := buildView(out, recs[:1], Options{})
	md := string(renderMarkdown(v, nil))
	for _, w := range []string{"socket census", "agent http://10.254.7.2:9090 (netlink, port 8080), 1 of", "+12.5 ms (± 0.4 ms)"} {
		if !strings.Contains(md, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	data, err := json.Marshal(v.Runs[0].Series)
	if err != nil {
		t.Fatal(err)
	}
	var series map[string][]*float64
	if err := json.Unmarshal(data, &series); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"close_wait", "established", "time_wait", "accept_queue"} {
		if series[k][gap] != nil {
			t.Errorf("%s at the gap = %v, want null", k, *series[k][gap])
		}
		if series[k][gap-1] == nil {
			t.Errorf("%s next to the gap is null, want its count", k)
		}
	}
	// Records without the key (older ones, the golden files) get no such definition.
	if md := string(renderMarkdown(buildView(out, recs[1:], Options{}), nil)); strings.Contains(md, "socket census") {
		t.Error("a record without a census source got a socket census definition")
	}
}

func TestReportColors(t *testing.T) {
	rec := func(top string) *results.Record { return &results.Record{Summary: results.Summary{Topology: top}} }
	for _, tt := range []struct {
		tops []string
		want string
	}{
		{[]string{"self", "split"}, "#d62728 #1f77b4"},
		{[]string{"split", "self"}, "#1f77b4 #d62728"},
		// A repeated topology must not share its colour: the charts overlay the runs.
		{[]string{"self", "self", "split"}, "#d62728 #bcbd22 #1f77b4"},
		{[]string{"bulkhead", "self"}, "#2ca02c #d62728"},
		// Topologies this sim does not know (a newer sim's records): gray, then spares.
		{[]string{"ring", "mesh", "self"}, "#7f7f7f #bcbd22 #d62728"},
	} {
		var recs []*results.Record
		for _, top := range tt.tops {
			recs = append(recs, rec(top))
		}
		if got := strings.Join(runColors(recs), " "); got != tt.want {
			t.Errorf("colours of %v = %s, want %s", tt.tops, got, tt.want)
		}
	}
}

func TestReportWriteErrors(t *testing.T) {
	t.Parallel() // each draws charts, which takes seconds under -race
	if _, err := Write(t.TempDir(), nil, Options{}); err == nil {
		t.Error("Write with no records: no error")
	}
	// The report's folder cannot be created: an error, and nothing half-written.
	out, recs := synthCompare(t)
	blocker := filepath.Join(out, "file")
	os.WriteFile(blocker, []byte("x"), 0o644)
	if _, err := Write(filepath.Join(blocker, "report"), recs, Options{}); err == nil {
		t.Error("Write under a file: no error")
	}
	// report.html cannot be replaced (a folder is in the way): the error names it and no temp
	// file is left beside it.
	os.MkdirAll(filepath.Join(out, HTMLFile, "x"), 0o755)
	if _, err := Write(out, recs, Options{}); err == nil || !strings.Contains(err.Error(), HTMLFile) {
		t.Errorf("err = %v, want one naming %s", err, HTMLFile)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}
