package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/results"
)

// gunicornSyncQuick is the quick profile on the gunicorn-sync shape: a worker accepts only when
// free (connector bio) from a backlog of 2048, closes each connection after its response
// (keep_alive false), and each self-call dials a new connection (selfcall_pool false), which
// waits at the tail of the same backlog.
const gunicornSyncQuick = `description: "quick on the gunicorn-sync shape: bio, backlog 2048, no keep-alive, a connection per self-call"
stages:
  - duration: 20s
    from: 10
    target: 120
client:
  timeout: 1s
recovery:
  duration: 8s
  interval: 500ms
  timeout: 1s
server:
  max_threads: 16
  work_time: 200ms
  connector: bio
  accept_count: 2048
  keep_alive: false
  selfcall_pool: false
`

// TestMechanicsEnginesAgree holds the engines to each other on the mechanics a gunicorn-sync
// server needs (listen-backlog queueing, close after each response, a connection per
// self-call), with cmd/sim's rule (engineDisagreements): same verdict, onsets within a sample
// window, peak CLOSE_WAIT and goodput within 5 %. A socket run that disagrees runs once more (a
// stall of the shared machine moves an onset; a mechanic that differs differs every time), with
// the machine's worst stall logged.
func TestMechanicsEnginesAgree(t *testing.T) {
	testtier.Long(t) // one or two real-socket runs of 28 s
	dir := t.TempDir()
	prof := filepath.Join(dir, "gunicorn-sync-quick.yaml")
	if err := os.WriteFile(prof, []byte(gunicornSyncQuick), 0o644); err != nil {
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
	// The mechanics at work: the self-call's connections wait in the listen backlog, where the
	// dead clients' CLOSE_WAIT sockets sit too (bio accepts only with a free worker).
	if m.Summary.Verdict != results.VerdictHang || m.Summary.PeakAcceptQueue == 0 {
		t.Errorf("model: verdict %s, peak accept queue %d; want a hang with a backlog", m.Summary.Verdict, m.Summary.PeakAcceptQueue)
	}
	var ds []string
	for try := 1; try <= 2; try++ {
		s := run("sockets", filepath.Join(dir, "sockets"+string(rune('0'+try))))
		ds = engineDisagreements(s.Summary, m.Summary, sampleWindow(s))
		t.Logf("run %d: sockets vs model: verdict %s vs %s, onset %s vs %s, peak CLOSE_WAIT %d vs %d, peak accept queue %d vs %d, goodput %.1f vs %.1f OK/s; disagreements %q",
			try, s.Summary.Verdict, m.Summary.Verdict, optS(s.Summary.CollapseOnsetS), optS(m.Summary.CollapseOnsetS),
			s.Summary.PeakCloseWait, m.Summary.PeakCloseWait, s.Summary.PeakAcceptQueue, m.Summary.PeakAcceptQueue,
			goodputOf(s.Summary), goodputOf(m.Summary), ds)
		if len(ds) == 0 {
			return
		}
	}
	t.Errorf("sockets and model disagree on both runs: %s", strings.Join(ds, "; "))
}
