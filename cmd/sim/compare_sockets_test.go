package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/testtier"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// TestCompareAllTopologiesSockets runs all eight topologies on real sockets on the quick
// profile, as `sim compare --topologies all` does for a user, and checks what the user would
// notice, loosely in time: the incident and the two fixes that keep the cycle (a bounded queue,
// a limiter that waits inside the worker) hang for good; every other fix does not hang and
// answers again after the load (self-timeout only once it has drained its backlog, which the
// recovery's drain extension waits for); the bounded queue's refusals are 503s.
func TestCompareAllTopologiesSockets(t *testing.T) {
	testtier.Long(t) // eight real-socket runs, about five minutes
	out := filepath.Join(t.TempDir(), "runs")
	start := time.Now()
	// About 5 minutes on a quiet 2-core machine (self-timeout drains for ~70 s after its load);
	// the limit leaves room for a busy one.
	code, stdout, stderr := simRunFor(t, "", nil, 15*time.Minute, "compare", "--topologies", "all", "--profile", "quick", "--out", out)
	t.Logf("sim compare --topologies all --profile quick: exit %d in %s\n%s", code, time.Since(start).Round(time.Second), stdout)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	cmp, _ := filepath.Glob(filepath.Join(out, "*-compare"))
	if len(cmp) != 1 {
		t.Fatalf("comparison folders: %v", cmp)
	}
	for _, tp := range topology.All() {
		top := tp.Name
		cfg := app.Defaults()
		cfg.Topology = top
		cfg.Normalize()
		wantHung := tp.CanHang(cfg.Knobs()) // self, bounded-queue, admission-limit (admission wait)
		rec, err := results.Read(filepath.Join(cmp[0], top))
		if err != nil {
			t.Errorf("record of %s: %v", top, err)
			continue
		}
		s := rec.Summary
		if s.Engine != results.EngineSockets || !s.Complete {
			t.Errorf("%s: engine %q, complete %v", top, s.Engine, s.Complete)
		}
		hung := s.Verdict == results.VerdictHang && !s.Recovered
		if hung != wantHung {
			t.Errorf("%s: verdict %s, recovered %v (%s); want hung for good: %v", top, s.Verdict, s.Recovered, s.VerdictLine(), wantHung)
		}
		if tp.Mechanics.QueueLimit {
			var refused int
			for kind, n := range s.Errors {
				if strings.HasPrefix(kind, "http_503") {
					refused += n
				}
			}
			if refused == 0 {
				t.Errorf("bounded-queue: no 503 among the errors %v: a full queue refuses with 503", s.Errors)
			}
		}
	}
}
