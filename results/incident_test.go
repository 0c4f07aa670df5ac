package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const dumpFixture = `goroutine profile: total 25
14 @ 0x48bace 0x468085
#	0x89c556	github.com/simdev/sim/simulator/sem.(*FIFO).Acquire+0x236	/x/sem.go:42
#	0x89f81c	github.com/simdev/sim/simulator/selfcall.(*Client).lease+0xbc	/x/selfcall.go:141
#	0x89ef69	github.com/simdev/sim/simulator/selfcall.(*Client).Get+0xc9	/x/selfcall.go:97
#	0x8aca38	github.com/simdev/sim/simulator/app.(*App).page+0x138	/x/app.go:185

2 @ 0x48bace 0x44d3d7
#	0x89f1e9	github.com/simdev/sim/simulator/selfcall.(*Client).get+0xc9	/x/selfcall.go:116
#	0x89ef69	github.com/simdev/sim/simulator/selfcall.(*Client).Get+0xc9	/x/selfcall.go:97
#	0x8aca38	github.com/simdev/sim/simulator/app.(*App).page+0x138	/x/app.go:185

9 @ 0x48bace 0x468085
#	0x89c556	github.com/simdev/sim/simulator/sem.(*FIFO).Acquire+0x236	/x/sem.go:42
#	0x89d0ca	github.com/simdev/sim/simulator/connector.New.(*Connector).queue.func2+0xca	/x/connector.go:148
`

func TestStuckInSelfCall(t *testing.T) {
	if got := StuckInSelfCall([]byte(dumpFixture)); got != 16 {
		t.Fatalf("stuck = %d, want 14 waiting for a lease + 2 in the round trip", got)
	}
	if got := StuckInSelfCall(nil); got != 0 {
		t.Fatalf("empty dump: %d", got)
	}
}

func fptr(f float64) *float64 { return &f }

func signatureRecord(t *testing.T, server string, s Summary, tl []Sample, probes []Probe, dump string) *Record {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"server":{"max_threads":16,"nofile":256,"static":{"server":"`+server+`"}}}`), 0o644)
	if dump != "" {
		os.WriteFile(filepath.Join(dir, GoroutinesFile), []byte(dump), 0o644)
	}
	return &Record{Dir: dir, Summary: s, Timeline: tl, Probes: probes}
}

func TestSignature(t *testing.T) {
	var tl []Sample
	for i := 1; i <= 20; i++ {
		s := Sample{T: float64(i), Phase: PhaseLoad, OfferedRPS: 80, OKRPS: 80, SocketCensus: SocketCensus{Established: 10}, AppStats: AppStats{WorkersBusy: 16}}
		if i > 8 {
			s.OKRPS = 0
			s.CloseWait = min(300, (i-8)*60)
			s.AcceptQueue = max(0, s.CloseWait-240)
		}
		if i > 12 {
			s.AcceptErrors = int64(i - 12)
		}
		tl = append(tl, s)
	}
	self := signatureRecord(t, "embedded", Summary{Collapse: true, Hang: true, CollapseOnsetS: fptr(8), OnsetRateRPS: fptr(77), PeakCloseWait: 300, AcceptErrors: 8, RecoveryWindowS: 4},
		tl, []Probe{{SinceLoadEnd: 0}, {SinceLoadEnd: 0.5}}, dumpFixture)
	split := signatureRecord(t, "nginx", Summary{Verdict: VerdictOK, Recovered: true, RecoveryS: fptr(0), Requests: 100, OK: 100},
		nil, []Probe{{SinceLoadEnd: 0, OK: true}, {SinceLoadEnd: 0.5, OK: true}}, "")
	lines := Signature(self, split)
	if len(lines) != 5 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if !l.Shown {
			t.Errorf("not shown: %s: %s", l.Symptom, l.Measured)
		}
	}
	if !strings.Contains(lines[1].Measured, "240 CLOSE_WAIT holding fds") || !strings.Contains(lines[1].Incident, "4,023") {
		t.Errorf("CLOSE_WAIT line: %+v", lines[1])
	}
	if !strings.Contains(lines[4].Symptom, "nginx") {
		t.Errorf("split line does not name nginx: %s", lines[4].Symptom)
	}

	// A self run that recovered and never reached the fd limit shows neither symptom.
	self.Summary.Recovered = true
	self.Probes[0].OK = true
	for i := range self.Timeline {
		self.Timeline[i].AcceptErrors = 0
	}
	lines = Signature(self, split)
	if lines[1].Shown || lines[3].Shown {
		t.Errorf("symptoms shown without evidence: %+v", lines)
	}
}
