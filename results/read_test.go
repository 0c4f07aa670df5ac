package results

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/invalid"
)

// readWithin runs read and fails unless it returns within 2 s an *invalid.Error (exit 2 in
// cmd/sim) whose message holds every one of want.
func readWithin(t *testing.T, read func() error, want ...string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("still reading after 2s: a record file that is not a regular file must be refused at once")
	}
	if !invalid.Is(err) {
		t.Fatalf("error %v (%T), want an *invalid.Error", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q lacks %q", err, w)
		}
	}
}

// goodRecord writes a small record and returns its folder.
func goodRecord(t *testing.T) string {
	t.Helper()
	w := newWriter(t)
	for i := range 3 {
		if err := w.AddSample(testSample(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddProbe(Probe{T: 4, OK: true, Status: 200, LatencyMS: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddResult(testResult(0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSummary(Summary{Topology: "self", Complete: true, Verdict: VerdictOK}); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(w.Dir()); err != nil {
		t.Fatal(err)
	}
	return w.Dir()
}

// replace swaps a file of dir for a FIFO, or for a sparse file of size bytes.
func replace(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if size < 0 {
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

// A record the user points sim report at may hold anything: a FIFO used to block Read forever,
// a huge file to be read into memory whole.
func TestReadRefusesFilesThatAreNotRecordFiles(t *testing.T) {
	const fifo = -1
	tests := []struct {
		file string
		size int64
		want []string
	}{
		{SummaryFile, fifo, []string{"named pipe"}},
		{TimelineFile, fifo, []string{"named pipe"}},
		{ProbesFile, fifo, []string{"named pipe"}},
		{SummaryFile, 2 << 20, []string{"2097152 bytes", "at most 1048576 bytes"}},
		{TimelineFile, 300 << 20, []string{"314572800 bytes", "at most 268435456 bytes (256 MiB)"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dir := goodRecord(t)
			path := replace(t, dir, tt.file, tt.size)
			readWithin(t, func() error { _, err := Read(dir); return err }, append(tt.want, path)...)
		})
	}
	t.Run(ResultsFile, func(t *testing.T) {
		dir := goodRecord(t)
		path := replace(t, dir, ResultsFile, fifo)
		readWithin(t, func() error { return ReadResults(dir, func(*vegeta.Result) error { return nil }) }, path, "named pipe")
	})
	t.Run(ConfigFile, func(t *testing.T) {
		dir := goodRecord(t)
		path := replace(t, dir, ConfigFile, fifo)
		readWithin(t, func() error { _, err := ReadServerSettings(dir); return err }, path, "named pipe")
	})
	t.Run(PlanFile, func(t *testing.T) {
		dir := t.TempDir()
		path := replace(t, dir, PlanFile, fifo)
		readWithin(t, func() error { _, err := ReadPlan(dir); return err }, path, "named pipe")
	})
}

// What the user handed over and cannot be read is bad input (exit 2), named by file and place:
// a corrupt record used to exit 3.
func TestReadCorruptRecord(t *testing.T) {
	tests := []struct {
		name, file, data string
		want             []string
	}{
		{"summary not JSON", SummaryFile, `{"schema_version": 1, "topology": sel`, []string{SummaryFile, "invalid character"}},
		{"summary cut short", SummaryFile, `{"schema_version": 1, "topology": "self"`, []string{SummaryFile, "unexpected end"}},
		{"summary key of the wrong type", SummaryFile, "{\"schema_version\": 1,\n \"hang_onset_s\": \"x\"}", []string{SummaryFile, "hang_onset_s", "line 2", "a finite number"}},
		{"timeline row of the wrong width", TimelineFile, "t_s,ok_rps\n1,2\n2,3,4\n", []string{TimelineFile, "line 3", "3 fields", "2 fields"}},
		{"timeline bad quote", TimelineFile, "t_s,phase\n1,\"lo\"ad\n", []string{TimelineFile, "line 2"}},
		{"probes not a bool", ProbesFile, "t_s,ok\n1,maybe\n", []string{ProbesFile, "line 2", "ok", `"maybe"`, "true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := goodRecord(t)
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.data), filePerm); err != nil {
				t.Fatal(err)
			}
			readWithin(t, func() error { _, err := Read(dir); return err }, append(tt.want, filepath.Join(dir, tt.file))...)
		})
	}
}

// A value no run writes, and that JSON cannot carry (NaN, the infinities) or that overflows
// when a report converts it (1.9e305 s is +Inf in ms), is refused when the record is read,
// naming the file, the line and the column, rather than failing inside the report's JSON
// encoding or drawing a chart of nonsense.
func TestReadRefusesAbsurdNumbers(t *testing.T) {
	tests := []struct {
		name, file, data string
		want             []string
	}{
		{"NaN", TimelineFile, "t_s,ok_rps\n1,5\n2,NaN\n", []string{"line 3", "ok_rps", `"NaN"`}},
		{"infinity", TimelineFile, "t_s,p99_ms\n1,+Inf\n", []string{"line 2", "p99_ms", `"+Inf"`}},
		{"minus infinity", TimelineFile, "t_s,offered_rps\n1,-inf\n", []string{"line 2", "offered_rps"}},
		{"overflows in ms", TimelineFile, "t_s,ok_rps\n1.9e305,5\n", []string{"line 2", "t_s", `"1.9e305"`, "1e+12"}},
		{"beyond float64", TimelineFile, "t_s,max_ms\n1,1e400\n", []string{"line 2", "max_ms", `"1e400"`}},
		{"probe latency", ProbesFile, "t_s,latency_ms\n1,nan\n", []string{"line 2", "latency_ms"}},
		{"summary", SummaryFile, `{"schema_version": 1, "p99_ms": 1.9e305}`, []string{"p99_ms", "1.9e+305", "1e+12"}},
		{"summary beyond float64", SummaryFile, `{"schema_version": 1, "max_ms": 1e400}`, []string{"max_ms"}},
		{"summary pointer", SummaryFile, `{"schema_version": 1, "hang_onset_s": -1e300}`, []string{"hang_onset_s", "-1e+300"}},
		{"summary nested", SummaryFile, `{"schema_version": 1, "thresholds": {"hang_hold_s": 1e200}}`, []string{"thresholds.hang_hold_s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := goodRecord(t)
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.data), filePerm); err != nil {
				t.Fatal(err)
			}
			readWithin(t, func() error { _, err := Read(dir); return err }, append(tt.want, filepath.Join(dir, tt.file))...)
		})
	}
}

func TestReadPlan(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string // nil: accepted
	}{
		{"a plan", `{"schema_version": V, "topology": "self", "rows": [{"max_threads": 8, "steps": [{"rate_rps": 10}]}]}`, nil},
		{"not JSON", `{"schema_version": V,`, []string{PlanFile, "unexpected end"}},
		{"newer", `{"schema_version": 99}`, []string{"schema_version", "99", "newer sim"}},
		{"none", `{"topology": "self"}`, []string{"schema_version"}},
		{"absurd number", `{"schema_version": V, "rows": [{"steps": [{"p99_ms": 1, "rate_rps": 1e306}]}]}`, []string{"rows[0].steps[0].rate_rps", "1e+306"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := strings.ReplaceAll(tt.data, "V", strconv.Itoa(PlanSchemaVersion))
			if err := os.WriteFile(filepath.Join(dir, PlanFile), []byte(data), filePerm); err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				p, err := ReadPlan(dir)
				if err != nil || p.Topology != "self" || len(p.Rows) != 1 {
					t.Fatalf("ReadPlan = %+v, %v", p, err)
				}
				return
			}
			readWithin(t, func() error { _, err := ReadPlan(dir); return err }, append(tt.want, filepath.Join(dir, PlanFile))...)
		})
	}
}
