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

// pumaShort is the quick profile on the Puma 5.6 shape with Net::HTTP's timeouts shortened from
// 60 s to 3 s: connector reactor (accept only while a worker is free, a worker per request,
// kept-alive connections idle in the reactor), backlog 1024, dead clients dropped when a worker
// picks them up (honor_client_close), a connection per self-call with socket_timeout 3 s and one
// retry. It hangs at the ramp's Little bound, and since every stuck self-call fails after 2 × 3 s
// and the dead requests in the backlog are dropped, it answers again a few seconds after the load:
// what the real Puma did after 2 × 60 s (bench/runtimes/README.md).
const pumaShort = `description: "quick on the Puma shape, socket_timeout 3s and one retry"
stages:
  - duration: 20s
    from: 10
    target: 120
client:
  timeout: 1s
recovery:
  duration: 15s
  interval: 500ms
  timeout: 1s
server:
  max_threads: 16
  work_time: 200ms
  connector: reactor
  accept_count: 1024
  honor_client_close: true
  selfcall_pool: false
  socket_timeout: 3s
  connect_timeout: 3s
  selfcall_retries: 1
`

// jettyQuick is the quick profile on the Jetty 9.4 shape: nio, 16 threads of which the connector
// leases 2 (acceptor and selector), so 14 serve pages; a connection per self-call.
const jettyQuick = `description: "quick on the Jetty shape: nio, connector_threads 2 of 16"
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
  connector_threads: 2
  work_time: 200ms
  accept_count: 50
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
	m, _ := enginesAgree(t, "gunicorn-sync-quick", gunicornSyncQuick)
	// The mechanics at work: the self-call's connections wait in the listen backlog, where the
	// dead clients' CLOSE_WAIT sockets sit too (bio accepts only with a free worker).
	if m.Summary.Verdict != results.VerdictHang || m.Summary.PeakAcceptQueue == 0 {
		t.Errorf("model: verdict %s, peak accept queue %d; want a hang with a backlog", m.Summary.Verdict, m.Summary.PeakAcceptQueue)
	}
}

// TestPumaEnginesAgree holds the engines to each other on Puma's mechanics (connector reactor,
// the dead-client drop, Net::HTTP's timeout and retry), with timeouts short enough to see the
// recovery within the probes.
func TestPumaEnginesAgree(t *testing.T) {
	testtier.Long(t) // one or two real-socket runs of 35 s
	m, _ := enginesAgree(t, "puma-short", pumaShort)
	// Hung (a collapse with a backlog), then answered again once the stuck self-calls had timed
	// out twice: not a hang for good.
	if m.Summary.CollapseOnsetS == nil || m.Summary.PeakAcceptQueue == 0 || !m.Summary.Recovered {
		t.Errorf("model: collapse onset %s, peak accept queue %d, recovered %v; want a collapse with a backlog, then recovery",
			optS(m.Summary.CollapseOnsetS), m.Summary.PeakAcceptQueue, m.Summary.Recovered)
	}
}

// TestJettyEnginesAgree holds the engines to each other on Jetty's leased connector threads.
func TestJettyEnginesAgree(t *testing.T) {
	testtier.Long(t) // one or two real-socket runs of 28 s
	m, s := enginesAgree(t, "jetty-quick", jettyQuick)
	// 14 request threads: every CLOSE_WAIT socket accepted (nio), 14 workers busy at most and
	// at the hang.
	if m.Summary.Verdict != results.VerdictHang || m.Summary.PeakAcceptQueue != 0 {
		t.Errorf("model: verdict %s, peak accept queue %d; want a hang with nothing in the backlog", m.Summary.Verdict, m.Summary.PeakAcceptQueue)
	}
	for _, r := range []*results.Record{m, s} {
		peak := 0
		for _, w := range r.Timeline {
			peak = max(peak, w.WorkersBusy)
		}
		if peak != 14 {
			t.Errorf("%s: at most %d workers busy, want 14: 16 threads less the connector's 2", r.Summary.Engine, peak)
		}
	}
}

// enginesAgree runs profile (named name) on the model and on sockets, up to twice, and fails
// when every socket run disagrees with the model (engineDisagreements, and what each of more
// finds wrong with the pair: a mechanic's own figures); it returns the model's record and the
// last socket run's.
func enginesAgree(t *testing.T, name, profile string, more ...func(s, m *results.Record) []string) (model, sockets *results.Record) {
	t.Helper()
	dir := t.TempDir()
	prof := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(prof, []byte(profile), 0o644); err != nil {
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
	var ds []string
	for try := 1; try <= 2; try++ {
		s := run("sockets", filepath.Join(dir, "sockets"+string(rune('0'+try))))
		ds = engineDisagreements(s.Summary, m.Summary, sampleWindow(s))
		for _, f := range more {
			ds = append(ds, f(s, m)...)
		}
		t.Logf("run %d: sockets vs model: verdict %s vs %s, onset %s vs %s, peak CLOSE_WAIT %d vs %d, peak accept queue %d vs %d, goodput %.1f vs %.1f OK/s, kills %d vs %d, 504s %d vs %d, 499s %d vs %d; disagreements %q",
			try, s.Summary.VerdictLine(), m.Summary.VerdictLine(), optS(s.Summary.CollapseOnsetS), optS(m.Summary.CollapseOnsetS),
			s.Summary.PeakCloseWait, m.Summary.PeakCloseWait, s.Summary.PeakAcceptQueue, m.Summary.PeakAcceptQueue,
			goodputOf(s.Summary), goodputOf(m.Summary), s.Summary.WorkerKills, m.Summary.WorkerKills,
			s.Summary.ProxyTimeouts, m.Summary.ProxyTimeouts, s.Summary.ProxyClientClosed, m.Summary.ProxyClientClosed, ds)
		if len(ds) == 0 {
			return m, s
		}
		sockets = s
	}
	t.Errorf("sockets and model disagree on both runs: %s", strings.Join(ds, "; "))
	return m, sockets
}
