package run

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

func readSummary(t *testing.T, dir string) results.Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, results.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s results.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSessionMarksTheRecord: a record holds a summary marked incomplete from the start, and
// Finish marks it complete, or incomplete with the (masked) reason.
func TestSessionMarksTheRecord(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		complete bool
		reason   string
	}{
		{"complete", nil, true, ""},
		{"failed", errors.New("boom at http://u:secret@h"), false, "boom at http://u:xxxxx@h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rec")
			rec, err := results.Create(dir)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Start(rec, map[string]string{"topology": "self"}, results.Summary{Topology: "self", Engine: results.EngineModel})
			if err != nil {
				t.Fatal(err)
			}
			s.Mask = strings.NewReplacer("secret", "xxxxx").Replace
			if got := readSummary(t, dir); got.Complete || got.Verdict != results.VerdictIncomplete || got.InterruptedReason != InProgress {
				t.Fatalf("summary before the run = complete %v verdict %q reason %q; want incomplete, in progress", got.Complete, got.Verdict, got.InterruptedReason)
			}
			filled := false
			out, err := s.Finish(tc.err, func(sum *results.Summary) { filled = true; sum.Verdict = results.VerdictOK })
			if !errors.Is(err, tc.err) || !filled {
				t.Fatalf("Finish = %v (filled %v); want %v, filled", err, filled, tc.err)
			}
			got := readSummary(t, dir)
			if got.Complete != tc.complete || got.InterruptedReason != tc.reason || out.Summary.Complete != tc.complete || out.Dir != dir {
				t.Fatalf("final summary = complete %v reason %q (outcome %v %q); want %v %q", got.Complete, got.InterruptedReason, out.Summary.Complete, out.Dir, tc.complete, tc.reason)
			}
			if !tc.complete && got.Verdict != results.VerdictIncomplete {
				t.Fatalf("verdict of a failed run = %q; want incomplete", got.Verdict)
			}
			if got.FinishedAt.IsZero() || got.SchemaVersion != results.SchemaVersion {
				t.Fatalf("final summary lacks finished_at or schema_version: %+v", got)
			}
		})
	}
}

// TestExtend: the drain rule probes on only while nothing answered, within drain_max, and while
// the server drains.
func TestExtend(t *testing.T) {
	drainMax := 5 * time.Second
	rc := loadprofiles.Recovery{Duration: 10 * time.Second, Interval: time.Second, Timeout: 2 * time.Second, DrainMax: &drainMax}
	// A backlog that falls by 10 each second: draining.
	var draining, stuck []results.Sample
	for i := range 20 {
		draining = append(draining, results.Sample{T: float64(i + 1), Phase: results.PhaseRecovery, AppStats: results.AppStats{Queued: 200 - 10*i, WorkersBusy: 4}, AppUp: true})
		stuck = append(stuck, results.Sample{T: float64(i + 1), Phase: results.PhaseRecovery, AppStats: results.AppStats{Queued: 200, WorkersBusy: 4}, AppUp: true})
	}
	failed := []results.Probe{{T: 1}}
	for _, tc := range []struct {
		name     string
		ext      time.Duration
		timeline []results.Sample
		probes   []results.Probe
		want     bool
	}{
		{"draining", 0, draining, failed, true},
		{"at drain_max", 5 * time.Second, draining, failed, false},
		{"answered", 0, draining, []results.Probe{{T: 1}, {T: 2, OK: true}}, false},
		{"not draining", 0, stuck, failed, false},
	} {
		if got := Extend(rc, tc.ext, tc.timeline, tc.probes); got != tc.want {
			t.Errorf("%s: Extend = %v; want %v", tc.name, got, tc.want)
		}
	}
	if n := Probes(rc); n != 11 {
		t.Errorf("Probes = %d; want 11 (one every second for 10 s, the first at once)", n)
	}
}

// TestRecoveryTicks: the planned probes go out whatever is observed; after them a probe goes
// out at each tick while the server drains, up to drain_max, and the window then ends.
func TestRecoveryTicks(t *testing.T) {
	drainMax := 3 * time.Second
	rc := loadprofiles.Recovery{Duration: 2 * time.Second, Interval: time.Second, Timeout: 2 * time.Second, DrainMax: &drainMax}
	var draining []results.Sample
	for i := range 30 {
		draining = append(draining, results.Sample{T: float64(i + 1), Phase: results.PhaseRecovery, AppStats: results.AppStats{Queued: 300 - 10*i}, AppUp: true})
	}
	failed := []results.Probe{{T: 1}}
	rec := NewRecovery(rc)
	probes := 0
	for rec.Tick(draining, failed) {
		probes++
		if probes > 100 {
			t.Fatal("the window never ends")
		}
	}
	if probes != 3+3 || rec.Extended() != drainMax {
		t.Fatalf("%d probes, extended %v; want 3 planned + 3 while draining, extended %v", probes, rec.Extended(), drainMax)
	}
	rec = NewRecovery(rc)
	probes = 0
	for rec.Tick(nil, nil) {
		probes++
	}
	if probes != 3 || rec.Extended() != 0 {
		t.Fatalf("without a draining server: %d probes, extended %v; want the 3 planned, 0", probes, rec.Extended())
	}
}
