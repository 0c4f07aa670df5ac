package model

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

func runProfile(t testing.TB, topology string, prof *loadprofiles.Profile) results.Summary {
	t.Helper()
	out, err := Run(context.Background(), Options{Topology: topology, Profile: prof, ProfileName: prof.Name, RecordDir: filepath.Join(t.TempDir(), "run")})
	if err != nil {
		t.Fatal(err)
	}
	return out.Summary
}

// TestQuickProfileHangsLikeSockets: on the quick profile (a ramp 10→120 rps, 16 workers ×
// 200 ms) the socket engine's self topology hangs near 77 rps (README: onset 12.0 s at 77 rps)
// and never recovers, while split only saturates briefly and recovers. The model must agree.
func TestQuickProfileHangsLikeSockets(t *testing.T) {
	prof, err := loadprofiles.Load("quick")
	if err != nil {
		t.Fatal(err)
	}
	self := runProfile(t, app.Self, prof)
	if self.Verdict != results.VerdictHang || self.OnsetRateRPS == nil {
		t.Fatalf("self: verdict %s, want hang", self.Verdict)
	}
	if r := *self.OnsetRateRPS; r < 60 || r > 95 {
		t.Errorf("self hangs at %.1f rps offered, want 60-95 (Little's bound 16 / 0.2 s = 80)", r)
	}
	// Every client that timed out left a CLOSE_WAIT socket behind, as on real sockets.
	if self.PeakCloseWait < self.Errors[results.KindTimeout] {
		t.Errorf("self: peak CLOSE_WAIT %d below the %d client timeouts", self.PeakCloseWait, self.Errors[results.KindTimeout])
	}
	t.Logf("self: onset %.2f s at %.1f rps, %d OK of %d, peak CLOSE_WAIT %d, peak fds %d",
		*self.HangOnsetS, *self.OnsetRateRPS, self.OK, self.Requests, self.PeakCloseWait, self.PeakFDs)

	split := runProfile(t, app.Split, prof)
	if split.Hang || !split.Recovered {
		t.Errorf("split: verdict %s, recovered %v; want no hang and a recovery", split.Verdict, split.Recovered)
	}
	t.Logf("split: verdict %s, %d OK of %d, recovered %.1f s after the load", split.Verdict, split.OK, split.Requests, *split.RecoveryS)
}

// TestPoissonHoldSeed1: a steady Poisson hold at 30 rps on 16 workers × 200 ms, seed 1. Fed the
// same seeded arrivals, the socket engine hung about 4 s in (issue 13); a faithful model does
// too.
func TestPoissonHoldSeed1(t *testing.T) {
	prof := &loadprofiles.Profile{
		Name:     "hold30",
		Stages:   []loadprofiles.Stage{{Duration: time.Minute, Mode: loadprofiles.ModeHold, Target: 30}},
		Arrivals: loadprofiles.ArrivalsPoisson,
		Seed:     1,
		Client:   loadprofiles.Client{Keepalive: true},
	}
	if err := errors.Join(prof.Server.Set("max_threads", 16), prof.Server.Set("work_time", 200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	prof.Normalize()
	if err := prof.Validate(); err != nil {
		t.Fatal(err)
	}
	s := runProfile(t, app.Self, prof)
	if !s.Hang || s.HangAfterStageStartS == nil {
		t.Fatalf("verdict %s: no hang in a minute at 30 rps, seed 1", s.Verdict)
	}
	if at := *s.HangAfterStageStartS; at > 10 {
		t.Errorf("hung %.2f s into the hold; the socket engine hung about 4 s in", at)
	}
	t.Logf("30 rps Poisson, seed 1: hang %.2f s into the hold, %d OK of %d", *s.HangAfterStageStartS, s.OK, s.Requests)
}
