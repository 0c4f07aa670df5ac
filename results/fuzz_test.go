package results

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// FuzzRead: whatever summary.json, timeline.csv and probes.csv hold (a run killed mid-write, a
// disk that filled up, a hand edit, a newer sim), Read does not panic: it returns a record or
// an error.
func FuzzRead(f *testing.F) {
	// Real records of `sim run`: a complete hang, and a run interrupted by SIGINT.
	for _, name := range []string{"self-hang", "split-interrupted"} {
		dir := filepath.Join("testdata", "records", name)
		f.Add(readSeed(f, dir, SummaryFile), readSeed(f, dir, TimelineFile), readSeed(f, dir, ProbesFile))
	}
	// A record written by the Writer, and cut short at its last byte (a half-written row).
	dir := filepath.Join(f.TempDir(), "rec")
	w, err := Create(dir)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		_ = w.AddSample(Sample{T: float64(i), Phase: PhaseLoad, OfferedRPS: 10, OK: 3, P99: 101.5, AppUp: i > 0})
	}
	_ = w.AddProbe(Probe{T: 3, Status: 200, OK: true, LatencyMS: 1})
	_ = w.AddProbe(Probe{T: 3.5, Error: `Get "http://127.0.0.1:1/page": context deadline exceeded`})
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	onset := 1.5
	if err := w.WriteSummary(Summary{Topology: "self", Complete: true, Verdict: VerdictHang, Hang: true, HangOnsetS: &onset,
		StartedAt: time.Unix(0, 0).UTC(), Errors: map[string]int{"timeout": 3}}); err != nil {
		f.Fatal(err)
	}
	summary, timeline, probes := readSeed(f, dir, SummaryFile), readSeed(f, dir, TimelineFile), readSeed(f, dir, ProbesFile)
	f.Add(summary, timeline, probes)
	f.Add(summary[:len(summary)-1], timeline[:len(timeline)-1], probes[:len(probes)/2])
	f.Add([]byte(`{"schema_version": 2}`), []byte("t_s\n1\n"), []byte{})
	f.Add([]byte(`{"schema_version": 1, "hang_onset_s": "x"}`), []byte("t_s,t_s\n1,2\n\"\n"), []byte("ok\ntrue\n"))

	dir = fuzzDir(f)
	f.Fuzz(func(t *testing.T, summary, timeline, probes []byte) {
		for name, data := range map[string][]byte{SummaryFile: summary, TimelineFile: timeline, ProbesFile: probes} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		rec, err := Read(dir)
		if err != nil {
			// Whatever the files hold, the record is the user's input: exit 2, never 3.
			if !invalid.Is(err) {
				t.Fatalf("error %q is a %T, want one wrapping an *invalid.Error", err, err)
			}
			return
		}
		// What Read accepts, a report can encode: every number finite and within range.
		for _, v := range []any{rec.Summary, rec.Timeline, rec.Probes} {
			if err := CheckNumbers("fuzz", v); err != nil {
				t.Fatalf("Read accepted %v", err)
			}
		}
		if v := rec.Summary.SchemaVersion; v < 1 || v > SchemaVersion {
			t.Fatalf("Read accepted schema_version %d", v)
		}
		if rec.Dir != dir || rec.Summary.RecordDir != dir {
			t.Fatalf("Dir %q, RecordDir %q, want %q", rec.Dir, rec.Summary.RecordDir, dir)
		}
	})
}

func readSeed(f *testing.F, dir, name string) []byte {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// fuzzDir is the one folder every input of a fuzz worker is written to (a worker runs its inputs
// one after another): a fresh t.TempDir per input would spend the fuzzing time creating and
// removing folders. It is on tmpfs (/dev/shm) where there is one: rewriting a file on ext4 costs
// ~120 µs, fifteen times what reading the record does, and the fuzzer would mostly wait on it.
func fuzzDir(f *testing.F) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "sim-fuzzread-"); err == nil {
			f.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return f.TempDir()
}
