package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/invalid"
)

func newWriter(t *testing.T) *Writer {
	t.Helper()
	w, err := Create(filepath.Join(t.TempDir(), "runs", "20261125-130501-self"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func testResult(i int) *vegeta.Result {
	r := &vegeta.Result{
		Attack: "self", Seq: uint64(i), Code: 200, Method: "GET", URL: "http://127.0.0.1:8080/page",
		Timestamp: time.Date(2026, 11, 25, 13, 5, 1, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Latency:   time.Duration(i+1) * time.Millisecond, BytesIn: 42,
	}
	if i%3 == 2 {
		// Mixed outcomes check that gob's omission of zero fields does not leak between results.
		r.Code, r.Error, r.BytesIn = 0, "context deadline exceeded (Client.Timeout exceeded while awaiting headers)", 0
	}
	return r
}

func testSample(i int) Sample {
	return Sample{
		T: float64(i + 1), WindowS: 1, Phase: PhaseLoad, OfferedRPS: 100 + float64(i), SentRPS: 99.5,
		OKRPS: 98.25, Sent: 100, OK: 98, ErrTimeout: 1, ErrRefused: 2, ErrReset: 3, ErrHTTP: 4, ErrOther: 5,
		P50: 1.5, P90: 2.25, P99: 10.125, Max: 1000, InFlight: 7,
		SocketCensus: SocketCensus{
			CloseWait: 3000 + i, Established: 20, TimeWait: 1, FinWait1: 2, FinWait2: 3, SynRecv: 4, LastAck: 5,
			ClientEstablished: 6, ClientFinWait2: 7, ClientTimeWait: 8, ClientSynSent: 9,
			AcceptQueue: 100, AcceptQueueMax: 100,
		},
		AppUp: i%2 == 0,
		AppStats: AppStats{WorkersBusy: 16, Queued: 300,
			ConnectionsOpen: 400, SelfcallLeased: 2, SelfcallWaiting: 14, AcceptErrors: 1 << 40, FDsOpen: 4096},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	w := newWriter(t)
	start := Summary{Topology: "self", Profile: "ramp", StartedAt: time.Date(2026, 11, 25, 13, 5, 1, 0, time.UTC)}
	if err := w.WriteSummary(start); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteConfig(map[string]any{"topology": "self", "max_threads": 16}); err != nil {
		t.Fatal(err)
	}
	const nres = 500
	var wg sync.WaitGroup
	for g := range 4 { // AddResult is called from several goroutines
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < nres; i += 4 {
				if err := w.AddResult(testResult(i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var samples []Sample
	for i := range 3 {
		s := testSample(i)
		samples = append(samples, s)
		if err := w.AddSample(s); err != nil {
			t.Fatal(err)
		}
	}
	probes := []Probe{
		{T: 61, SinceLoadEnd: 1, Status: 0, LatencyMS: 1000, Error: "Get \"http://x/\": context deadline exceeded\nsecond line"},
		{T: 62.5, SinceLoadEnd: 2.5, OK: true, Status: 200, LatencyMS: 0.75},
	}
	for _, p := range probes {
		if err := w.AddProbe(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	onset := 12.0
	final := start
	final.Complete, final.Verdict = true, VerdictHang
	final.Hang, final.HangOnsetS, final.Collapse, final.CollapseOnsetS = true, &onset, true, &onset
	final.FinishedAt = start.StartedAt.Add(time.Minute)
	final.Errors = map[string]int{KindTimeout: 3}
	final.RecordDir = "/somewhere/else"
	if err := w.WriteSummary(final); err != nil { // after Close, on purpose
		t.Fatal(err)
	}

	rec, err := Read(w.Dir())
	if err != nil {
		t.Fatal(err)
	}
	final.SchemaVersion, final.RecordDir = SchemaVersion, w.Dir()
	if rec.Summary.Verdict != VerdictHang {
		t.Errorf("verdict %q, want %q", rec.Summary.Verdict, VerdictHang)
	}
	if !reflect.DeepEqual(rec.Summary, final) {
		t.Errorf("summary:\n got %+v\nwant %+v", rec.Summary, final)
	}
	if !reflect.DeepEqual(rec.Timeline, samples) {
		t.Errorf("timeline:\n got %+v\nwant %+v", rec.Timeline, samples)
	}
	probes[0].Error = strings.ReplaceAll(probes[0].Error, "\n", " ")
	if !reflect.DeepEqual(rec.Probes, probes) {
		t.Errorf("probes:\n got %+v\nwant %+v", rec.Probes, probes)
	}

	// results.bin is vegeta's own format: read it the way `vegeta report` does.
	f, err := os.Open(filepath.Join(w.Dir(), ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.DecoderFor(f)
	if dec == nil {
		t.Fatal("vegeta.DecoderFor does not recognise results.bin")
	}
	seen := make(map[uint64]bool)
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if want := testResult(int(r.Seq)); !r.Equal(*want) {
			t.Errorf("result %d:\n got %+v\nwant %+v", r.Seq, r, want)
		}
		seen[r.Seq] = true
	}
	if len(seen) != nres {
		t.Errorf("vegeta decoded %d distinct results, want %d", len(seen), nres)
	}

	var n int
	if err := ReadResults(w.Dir(), func(r *vegeta.Result) error {
		if want := testResult(int(r.Seq)); !r.Equal(*want) {
			t.Errorf("ReadResults %d:\n got %+v\nwant %+v", r.Seq, r, want)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != nres {
		t.Errorf("ReadResults gave %d results, want %d", n, nres)
	}
}

func TestSummaryJSONKeys(t *testing.T) {
	w := newWriter(t)
	if err := w.WriteSummary(Summary{Topology: "split", Verdict: VerdictOK, Complete: true}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(w.Dir(), SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	// Keys other code and scripts rely on.
	for _, k := range []string{"schema_version", "topology", "complete", "hang", "hang_onset_s",
		"onset_rate_rps", "peak_close_wait", "recovered", "recovery_s", "requests", "ok", "p50_ms", "p99_ms",
		"verdict", "collapse", "collapse_onset_s", "thresholds", "interrupted_reason"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary.json has no %q key: %s", k, data)
		}
	}
	// No hang must read as null, not as a hang at 0 s.
	for _, k := range []string{"hang_onset_s", "onset_rate_rps", "collapse_onset_s", "recovery_s"} {
		if m[k] != nil {
			t.Errorf("%s = %v without a hang or recovery, want null", k, m[k])
		}
	}
	if errs, ok := m["errors"].(map[string]any); !ok || len(errs) != 0 {
		t.Errorf("errors = %v without errors, want {}", m["errors"])
	}
	if m["schema_version"] != float64(SchemaVersion) {
		t.Errorf("schema_version = %v, want %d", m["schema_version"], SchemaVersion)
	}
	if _, ok := m["record_dir"]; ok {
		t.Errorf("record_dir is stored; it must be derived when read: %s", data)
	}
}

// TestInterruptedRecord reads a record whose run was killed: no final summary, the writer
// never closed, and half a row at the end of timeline.csv and of results.bin.
func TestInterruptedRecord(t *testing.T) {
	w := newWriter(t)
	// What a run that was killed mid-way had last written: a provisional verdict must not show.
	onset := 3.0
	provisional := Summary{Topology: "self", StartedAt: time.Now(), Verdict: VerdictHang, Hang: true, HangOnsetS: &onset}
	if err := w.WriteSummary(provisional); err != nil {
		t.Fatal(err)
	}
	const nres = 10
	for i := range nres {
		if err := w.AddResult(testResult(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if err := w.AddSample(testSample(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddProbe(Probe{T: 9, SinceLoadEnd: 1, Error: "EOF"}); err != nil {
		t.Fatal(err)
	}
	appendTo(t, filepath.Join(w.Dir(), TimelineFile), "6,1,load,105,99")
	appendTo(t, filepath.Join(w.Dir(), ProbesFile), "10,2,tr")

	rec, err := Read(w.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Summary.Complete || rec.Summary.Verdict != VerdictIncomplete || rec.Summary.Hang ||
		rec.Summary.HangOnsetS != nil || rec.Summary.Topology != "self" {
		t.Errorf("summary = %+v, want the incomplete start summary", rec.Summary)
	}
	if len(rec.Timeline) != 5 || !reflect.DeepEqual(rec.Timeline[4], testSample(4)) {
		t.Errorf("timeline has %d rows (last %+v), want the 5 whole rows", len(rec.Timeline), rec.Timeline[len(rec.Timeline)-1])
	}
	if len(rec.Probes) != 1 || rec.Probes[0].Error != "EOF" {
		t.Errorf("probes = %+v, want the one whole row", rec.Probes)
	}

	// A run killed without Close still leaves its results on disk within about a second.
	deadline := time.Now().Add(3 * resultsFlushInterval)
	for countResults(t, w.Dir()) < nres {
		if time.Now().After(deadline) {
			t.Fatalf("results.bin has %d of %d results %v after they were added, without Close",
				countResults(t, w.Dir()), nres, 3*resultsFlushInterval)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A result cut short by the kill ends the stream; the whole ones before it are kept.
	data, err := os.ReadFile(filepath.Join(w.Dir(), ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	cut := t.TempDir()
	if err := os.WriteFile(filepath.Join(cut, ResultsFile), data[:len(data)-5], filePerm); err != nil {
		t.Fatal(err)
	}
	if got := countResults(t, cut); got != nres-1 {
		t.Errorf("truncated results.bin gave %d results, want %d", got, nres-1)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func countResults(t *testing.T, dir string) int {
	t.Helper()
	var n int
	if err := ReadResults(dir, func(*vegeta.Result) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReadResultsStopsOnCallbackError(t *testing.T) {
	w := newWriter(t)
	for i := range 5 {
		if err := w.AddResult(testResult(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	var n int
	err := ReadResults(w.Dir(), func(*vegeta.Result) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("ReadResults = %v after %d calls, want the callback's error after 1", err, n)
	}
}

func TestReadCSVByHeaderName(t *testing.T) {
	dir := t.TempDir()
	writeSummaryJSON(t, dir, `{"schema_version": 1, "topology": "self"}`)
	// Columns moved, one unknown (from a newer sim), some missing (from an older one).
	timeline := "phase,future_metric,close_wait,t_s,ok_rps,app_up,accept_errors\n" +
		"load,x,12,1.5,99.5,true,3\n" +
		"recovery,,4000,2,0,false,\n"
	if err := os.WriteFile(filepath.Join(dir, TimelineFile), []byte(timeline), filePerm); err != nil {
		t.Fatal(err)
	}
	rec, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{
		{Phase: PhaseLoad, SocketCensus: SocketCensus{CloseWait: 12}, T: 1.5, OKRPS: 99.5, AppUp: true, AppStats: AppStats{AcceptErrors: 3}},
		{Phase: PhaseRecovery, SocketCensus: SocketCensus{CloseWait: 4000}, T: 2},
	}
	if !reflect.DeepEqual(rec.Timeline, want) {
		t.Errorf("timeline:\n got %+v\nwant %+v", rec.Timeline, want)
	}
	if rec.Probes != nil {
		t.Errorf("probes = %+v from a record without probes.csv, want none", rec.Probes)
	}
}

func TestReadCSVBadRow(t *testing.T) {
	dir := t.TempDir()
	writeSummaryJSON(t, dir, `{"schema_version": 1}`)
	timeline := "t_s,close_wait\n1,5\n2,many\n3,7\n"
	if err := os.WriteFile(filepath.Join(dir, TimelineFile), []byte(timeline), filePerm); err != nil {
		t.Fatal(err)
	}
	_, err := Read(dir)
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "close_wait") {
		t.Errorf("Read = %v, want an error naming line 3 and close_wait", err)
	}
}

func writeSummaryJSON(t *testing.T, dir, s string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, SummaryFile), []byte(s), filePerm); err != nil {
		t.Fatal(err)
	}
}

func TestReadSchemaVersion(t *testing.T) {
	tests := []struct {
		name    string
		summary string // "" for no summary.json
		want    string // "" for success
	}{
		{"current", `{"schema_version": 1}`, ""},
		{"newer", `{"schema_version": 7}`, "has schema_version 7; this sim reads up to 1: upgrade sim"},
		{"missing", `{"topology": "self"}`, "has no schema_version"},
		{"zero", `{"schema_version": 0}`, "has no schema_version"},
		{"no summary", "", "is not a run record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.summary != "" {
				writeSummaryJSON(t, dir, tt.summary)
			}
			_, err := Read(dir)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Read = %v, want an error naming %s and saying %q", err, dir, tt.want)
			}
			// The user pointed at the wrong record: cmd/sim exits 2 for it.
			if !invalid.Is(err) {
				t.Errorf("Read error %v does not wrap *invalid.Error", err)
			}
		})
	}
	dir := t.TempDir()
	writeSummaryJSON(t, dir, `{"schema_version": 7}`)
	_, err := Read(dir)
	if want := "record " + dir + " has schema_version 7; this sim reads up to 1: upgrade sim"; err == nil || err.Error() != want {
		t.Errorf("Read = %v, want exactly %q", err, want)
	}
}

func TestAtomicWritesLeaveNoTempFiles(t *testing.T) {
	w := newWriter(t)
	if err := w.WriteSummary(Summary{Topology: "self"}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSummary(Summary{Topology: "self", Complete: true}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteConfig(struct{ A int }{1}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile("server.log", []byte("started\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile("pprof/heap.txt", []byte("heap\n")); err != nil {
		t.Fatal(err)
	}
	// A value that cannot be encoded must leave the previous config.json in place.
	if err := w.WriteConfig(map[string]any{"f": func() {}}); err == nil {
		t.Error("WriteConfig of a func succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	var names []string
	err := filepath.WalkDir(w.Dir(), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(w.Dir(), path)
			names = append(names, rel)
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Mode().Perm() != filePerm {
				t.Errorf("%s has mode %v, want %v", rel, info.Mode().Perm(), os.FileMode(filePerm))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	want := []string{ConfigFile, filepath.Join("pprof", "heap.txt"), ProbesFile, ResultsFile, "server.log", SummaryFile, TimelineFile}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("record holds %v, want %v (no temp files)", names, want)
	}
	cfg, err := os.ReadFile(filepath.Join(w.Dir(), ConfigFile))
	if err != nil || !bytes.Equal(cfg, []byte("{\n  \"A\": 1\n}\n")) {
		t.Errorf("config.json = %q, %v; want the last good config, indented", cfg, err)
	}
	rec, err := Read(w.Dir())
	if err != nil || !rec.Summary.Complete {
		t.Errorf("Read after rewrite = %+v, %v; want the complete summary", rec, err)
	}
}

func TestWriteFileRejects(t *testing.T) {
	w := newWriter(t)
	for _, name := range []string{"", "../escape", "/abs", ResultsFile, TimelineFile, ProbesFile, "./" + TimelineFile} {
		if err := w.WriteFile(name, []byte("x")); err == nil {
			t.Errorf("WriteFile(%q) succeeded, want an error", name)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(w.Dir()), "escape")); err == nil {
		t.Error("WriteFile wrote outside the record")
	}
}

func TestCreateRefusesExistingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w2, err := Create(dir); err == nil {
		w2.Close()
		t.Fatal("Create on an existing record succeeded; two runs would share a folder")
	}
	data, err := os.ReadFile(filepath.Join(dir, TimelineFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(TimelineHeader(), ",") + "\n"; string(data) != want {
		t.Errorf("timeline.csv = %q, want just the header %q", data, want)
	}
}

func TestCloseIdempotent(t *testing.T) {
	w := newWriter(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := w.AddSample(Sample{}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddSample after Close = %v, want ErrClosed", err)
	}
	if err := w.AddProbe(Probe{}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddProbe after Close = %v, want ErrClosed", err)
	}
	if err := w.AddResult(testResult(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("AddResult after Close = %v, want ErrClosed", err)
	}
}

func TestNewRunDir(t *testing.T) {
	base := t.TempDir()
	now := time.Date(2026, 11, 25, 13, 5, 1, 0, time.UTC)
	first := NewRunDir(base, "self", now)
	if want := filepath.Join(base, "20261125-130501-self"); first != want {
		t.Fatalf("NewRunDir = %s, want %s", first, want)
	}
	var got []string
	for range 3 {
		dir := NewRunDir(base, "self", now)
		w, err := Create(dir)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		got = append(got, filepath.Base(dir))
	}
	want := []string{"20261125-130501-self", "20261125-130501-self-2", "20261125-130501-self-3"}
	if !slices.Equal(got, want) {
		t.Errorf("run dirs %v, want %v", got, want)
	}
	if got := filepath.Base(NewRunDir(base, "../evil/x", now)); got != "20261125-130501--evil-x" {
		t.Errorf("topology with separators gave %q", got)
	}
}

func TestHeaders(t *testing.T) {
	if got, want := strings.Join(ProbesHeader(), ","), "t_s,since_load_end_s,ok,status,latency_ms,error"; got != want {
		t.Errorf("probes header %q, want %q", got, want)
	}
	// Every Sample field has exactly one column, named like its JSON key, in the JSON's order
	// (the embedded census and app stats flattened in place, as encoding/json writes them).
	data, err := json.Marshal(Sample{})
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var keys []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip any
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if h := TimelineHeader(); !slices.Equal(h, keys) {
		t.Errorf("timeline header\n %v\ndoes not match Sample's JSON keys\n %v", h, keys)
	}
	// The record format: a change here is a new schema_version, except an added column, which
	// an older reader skips (columns are looked up by name) and a newer one reads as not
	// measured in an older record (the self-call columns, issue 18).
	const header = "t_s,window_s,phase,offered_rps,sent_rps,ok_rps,sent,ok,err_timeout,err_refused,err_reset,err_http,err_other," +
		"p50_ms,p90_ms,p99_ms,max_ms,in_flight,close_wait,established,time_wait,fin_wait1,fin_wait2,syn_recv,last_ack," +
		"client_established,client_fin_wait2,client_time_wait,client_syn_sent,accept_queue,accept_queue_max,sockets_missing," +
		"selfcall_measured,selfcall_sockets,selfcall_sockets_waiting,selfcall_oldest_wait_ms,selfcall_callers,selfcall_warning,port_requests_in_flight,port_requests_in_flight_peak," +
		"app_up,workers_busy,queued,connections_open,selfcall_leased,selfcall_waiting,accept_errors,fds_open,workers_killed," +
		"proxy_timeouts,proxy_client_closed"
	if got := strings.Join(TimelineHeader(), ","); got != header {
		t.Errorf("timeline header\n %s\nwant\n %s", got, header)
	}
}
