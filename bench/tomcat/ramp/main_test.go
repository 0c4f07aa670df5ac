package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

// A short profile: 4 s of 5->10 rps, a 500 ms client timeout, a 2 s hold.
const shortProfile = `
stages:
  - {duration: 4s, from: 5, target: 10}
client: {timeout: 500ms}
recovery: {duration: 2s, interval: 200ms, timeout: 300ms}
detect: {hang_hold: 2s}
`

func runAgainst(t *testing.T, h http.Handler) *results.Record {
	t.Helper()
	srv := httptest.NewServer(h) // 127.0.0.1 with a free port
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	profile := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(profile, []byte(shortProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	o := options{profile: profile, url: srv.URL + "/page", out: filepath.Join(dir, "rec"),
		probes: 3, probeInterval: 100 * time.Millisecond, quiet: true}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	rec, err := results.Read(o.out)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestRampHealthyServer(t *testing.T) {
	t.Parallel()
	rec := runAgainst(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	s := rec.Summary
	if s.Verdict != results.VerdictOK || s.Collapse {
		t.Errorf("verdict %s (collapse %v), want ok", s.Verdict, s.Collapse)
	}
	if len(rec.Probes) != 3 || !s.Recovered {
		t.Errorf("probes %d, recovered %v; want 3, true", len(rec.Probes), s.Recovered)
	}
	if s.Requests < 20 || s.OK != s.Requests {
		t.Errorf("requests %d, OK %d; want ~30, all OK", s.Requests, s.OK)
	}
	if len(rec.Timeline) < 10 {
		t.Errorf("timeline has %d windows, want ~20", len(rec.Timeline))
	}
	if f := analyzeRecord(t, rec.Dir); f.FailedT != -1 || f.LastOKT < 3.5 || f.LastOKRPS < 9 {
		t.Errorf("analyze = %+v, want no failure and the last OK request near the end (4 s, ~10 rps)", f)
	}
	cpu, err := os.ReadFile(filepath.Join(rec.Dir, "cpu.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(cpu)), "\n")
	if lines[0] != "t_s,phase,machine_cores,server_cores,driver_cores,other_cores" || len(lines) != len(rec.Timeline)+1 {
		t.Errorf("cpu.csv: header %q and %d rows, want one row per window (%d)", lines[0], len(lines)-1, len(rec.Timeline))
	}
}

func TestProcCPU(t *testing.T) {
	// Burn a little CPU so that this process's counter moves.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	self, err := procCPU(os.Getpid())
	if err != nil || self <= 0 {
		t.Errorf("procCPU(self) = %v, %v; want > 0", self, err)
	}
	all, err := machineCPU()
	if err != nil || all < self {
		t.Errorf("machineCPU() = %v, %v; want >= this process's %v", all, err, self)
	}
}

// A server whose every request blocks until the test ends: throughput 0 from the start, the
// clients time out and close, and the server-side sockets sit in CLOSE_WAIT (Go's server does
// not close a connection while its handler runs).
func TestRampHungServer(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rec := runAgainst(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	close(release)
	s := rec.Summary
	if s.Verdict != results.VerdictHang || s.OnsetRateRPS == nil {
		t.Fatalf("verdict %s, onset %v; want hang", s.Verdict, s.OnsetRateRPS)
	}
	if s.Recovered {
		t.Error("recovered, want not")
	}
	if s.PeakCloseWait == 0 {
		t.Error("peak CLOSE_WAIT 0: the socket sampler saw no abandoned connection")
	}
	for _, p := range rec.Probes {
		if p.OK {
			t.Errorf("probe %+v OK against a hung server", p)
		}
	}
	// Every request failed: the first failed one is the first sent, at the ramp's start rate.
	f := analyzeRecord(t, rec.Dir)
	if f.FailedT < 0 || f.FailedT > 0.5 || f.FailedRPS < 5 || f.FailedRPS > 6 || f.LastOKT != -1 {
		t.Errorf("analyze = %+v, want the first request (t ~0.1 s, ~5 rps) failed and none OK", f)
	}
}

func analyzeRecord(t *testing.T, dir string) firstFailure {
	t.Helper()
	prof, err := loadprofiles.Load(filepath.Join(filepath.Dir(dir), "p.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := analyze(prof, dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
