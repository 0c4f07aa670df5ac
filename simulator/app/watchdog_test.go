package app

import (
	"testing"
	"time"

	"github.com/simdev/sim/simulator/sockets"
)

// TestWatchdogKillsTheSelfCallToo: on the gunicorn shape with one worker a page's self-call
// waits in the listen backlog behind nothing but can never be accepted, so the page is stuck.
// At worker_timeout the watchdog kills its worker: the page's client gets no answer, its
// self-call's connection is closed from the app's side (its server side stays in the backlog,
// in CLOSE_WAIT, as a killed gunicorn worker's does), /stats counts the kill, and the
// replacement worker, worker_boot later, takes that dead self-call from the backlog and serves
// it into the void: then nothing is left in CLOSE_WAIT and the app answers again.
func TestWatchdogKillsTheSelfCallToo(t *testing.T) {
	cfg := testConfig(Self)
	cfg.Connector, cfg.MaxThreads, cfg.KeepAlive, cfg.SelfCallPool = "bio", 1, false, false
	cfg.WorkTime = 50 * time.Millisecond
	cfg.WorkerTimeout, cfg.WorkerBoot = 500*time.Millisecond, 1500*time.Millisecond
	a := startApp(t, cfg)

	start := time.Now()
	err := get(a.URL()+"/page", 5*time.Second)
	if err == nil {
		t.Fatal("the stuck page was answered; want its connection closed unanswered")
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Errorf("the stuck page's connection closed after %v (%v), want at worker_timeout 500ms", d, err)
	}
	if k := stats(t, a).WorkersKilled; k != 1 {
		t.Errorf("workers_killed %d, want 1", k)
	}
	// Before the replacement boots: the dead self-call sits in the backlog, closed by its client.
	c := serverCounts(t, a)
	if c.Server[sockets.CloseWait] != 1 || c.AcceptQueue != 1 {
		t.Errorf("after the kill: CLOSE_WAIT %d, accept queue %d; want the dead self-call, 1 and 1", c.Server[sockets.CloseWait], c.AcceptQueue)
	}
	// After the boot: the replacement takes it, serves it into the void and closes it.
	waitFor(t, 10*time.Second, "the dead self-call served and closed", func() bool {
		c := serverCounts(t, a)
		return c.Server[sockets.CloseWait] == 0 && c.AcceptQueue == 0
	})
	if d := time.Since(start); d < 2*time.Second-200*time.Millisecond {
		t.Errorf("the dead self-call left the backlog %v after the page, want after worker_timeout + worker_boot (2s)", d)
	}
	if k := stats(t, a).WorkersKilled; k != 1 {
		t.Errorf("workers_killed %d after the boot, want still 1", k)
	}
}
