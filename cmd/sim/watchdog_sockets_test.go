package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/results"
)

// gunicornWatchdogQuick is the quick profile on the gunicorn-sync shape (see gunicornSyncQuick)
// with a short watchdog: a worker stuck 3 s in one page is killed and its replacement takes
// requests 0.5 s later, so that kills come within the run (gunicorn's own is 30 s), and 12 s of
// probes after the load, long enough for three rounds of kills after it.
const gunicornWatchdogQuick = `description: "quick on the gunicorn-sync shape with a 3 s watchdog"
stages:
  - duration: 20s
    from: 10
    target: 120
client:
  timeout: 1s
recovery:
  duration: 12s
  interval: 500ms
  timeout: 1s
server:
  max_threads: 16
  work_time: 200ms
  connector: bio
  accept_count: 2048
  keep_alive: false
  selfcall_pool: false
  worker_timeout: 3s
  worker_boot: 500ms
`

// TestWatchdogEnginesAgree holds the engines to each other on the watchdog: on the gunicorn
// shape with worker_timeout 3s both kill workers, round after round, and neither recovers (each
// replacement takes a dead page from the backlog and its self-call queues behind the rest); they
// agree by cmd/sim's rule (engineDisagreements: verdict, onsets within a sample window, peak
// CLOSE_WAIT and goodput within 5 %) and on the number of kills within one round of 16. A
// socket run that disagrees runs once more, as in TestMechanicsEnginesAgree.
func TestWatchdogEnginesAgree(t *testing.T) {
	testtier.Long(t) // one or two real-socket runs of 32 s
	dir := t.TempDir()
	prof := filepath.Join(dir, "gunicorn-watchdog-quick.yaml")
	if err := os.WriteFile(prof, []byte(gunicornWatchdogQuick), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(engine, out string) *results.Record {
		t.Helper()
		stalls := watchStalls()
		code, stdout, stderr := simRunFor(t, "", nil, 5*time.Minute, "run", "--engine", engine, "--profile", prof, "--out", out)
		t.Logf("%s: exit %d, worst stall of the machine %s\n%s", engine, code, stalls(), stdout)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", engine, code, stderr)
		}
		recs, _ := filepath.Glob(filepath.Join(out, "*"))
		if len(recs) != 1 {
			t.Fatalf("%s: records %v", engine, recs)
		}
		r, err := results.Read(recs[0])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	m := run("model", filepath.Join(dir, "model"))
	// 16 workers stuck from the onset (~12 s), killed every 3.5 s after 3 s: several rounds.
	if m.Summary.Verdict != results.VerdictHang || m.Summary.WorkerKills < 32 {
		t.Errorf("model: %s, %d kills; want a hang with at least two rounds of 16 kills", m.Summary.VerdictLine(), m.Summary.WorkerKills)
	}
	if !strings.Contains(m.Summary.VerdictLine(), "the watchdog killed") {
		t.Errorf("model: verdict line %q does not say what the watchdog did", m.Summary.VerdictLine())
	}
	var ds []string
	for try := 1; try <= 2; try++ {
		s := run("sockets", filepath.Join(dir, "sockets"+string(rune('0'+try))))
		ds = engineDisagreements(s.Summary, m.Summary, sampleWindow(s))
		ks, km := s.Summary.WorkerKills, m.Summary.WorkerKills
		if ks == 0 {
			ds = append(ds, "the socket engine killed no worker")
		}
		if d := math.Abs(float64(ks - km)); d > 16 {
			ds = append(ds, fmt.Sprintf("kills %d vs %d: more than one round of 16 apart", ks, km))
		}
		t.Logf("run %d: sockets vs model: %s vs %s, onset %s vs %s, peak CLOSE_WAIT %d vs %d, kills %d vs %d, goodput %.1f vs %.1f OK/s; disagreements %q",
			try, s.Summary.VerdictLine(), m.Summary.VerdictLine(), optS(s.Summary.CollapseOnsetS), optS(m.Summary.CollapseOnsetS),
			s.Summary.PeakCloseWait, m.Summary.PeakCloseWait, ks, km, goodputOf(s.Summary), goodputOf(m.Summary), ds)
		if len(ds) == 0 {
			return
		}
	}
	t.Errorf("sockets and model disagree on both runs: %s", strings.Join(ds, "; "))
}
