package model

import (
	"testing"
	"time"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// gunicornShape is the gunicorn-sync shape (bio, no keep-alive, a connection per self-call)
// with n workers and the watchdog.
func gunicornShape(n int, timeout, boot time.Duration) func(*app.Config) {
	return func(c *app.Config) {
		c.Connector, c.MaxThreads, c.AcceptCount, c.KeepAlive, c.SelfCallPool = "bio", n, 2048, false, false
		c.WorkerTimeout, c.WorkerBoot = timeout, boot
	}
}

// TestWatchdogKillsAndBoots: one worker, one page: its self-call waits in the accept queue
// behind nothing but can never be accepted (the only worker is the page's), so the page is
// stuck. At worker_timeout the watchdog kills it: the page's client connection is closed
// unanswered (its client reads EOF), its self-call's connection is closed from the client's
// side and stays in the accept queue in CLOSE_WAIT, the worker is away for worker_boot, and
// its replacement then takes the dead self-call, serves it into the void and closes it: every
// fd comes back, nothing is left open or held.
func TestWatchdogKillsAndBoots(t *testing.T) {
	e := partsEngine(t, topology.Self, gunicornShape(1, time.Second, 500*time.Millisecond))
	e.client.sendHit(e)
	id := int32(0)
	stepUntil(t, e, func() bool { return e.reqs.all[id].state == rsCalling })
	if e.app.backlogLive != 1 || e.page.pages != 1 {
		t.Fatalf("stuck page: %d in the accept queue, %d pages on workers; want its self-call queued and 1", e.app.backlogLive, e.page.pages)
	}
	stepUntil(t, e, func() bool { return e.dog.kills == 1 })
	if e.now < 1 || e.now > 1.5 {
		t.Errorf("killed at %.3f s, want at worker_timeout (1 s after the page took its worker)", e.now)
	}
	if e.page.pages != 0 || e.app.workers.held != 1 || e.dog.booting != 1 {
		t.Errorf("after the kill: %d pages, %d workers held, %d booting; want 0, 1 (the dead worker's, until its boot), 1", e.page.pages, e.app.workers.held, e.dog.booting)
	}
	if e.client.answered != 0 || e.client.inflight != 0 {
		t.Errorf("answered %d, in flight %d; want the page unanswered and its client done (EOF)", e.client.answered, e.client.inflight)
	}
	if e.app.backlogLive != 1 || e.tcp.srv[tCloseWait] != 1 {
		t.Errorf("accept queue %d, CLOSE_WAIT %d; want the dead self-call left in the queue, in CLOSE_WAIT", e.app.backlogLive, e.tcp.srv[tCloseWait])
	}
	killedAt := e.now
	stepUntil(t, e, func() bool { return e.app.backlogLive == 0 })
	if d := e.now - killedAt; d < 0.5-1e-9 {
		t.Errorf("the dead self-call was accepted %.3f s after the kill, want after worker_boot (0.5 s)", d)
	}
	drain(t, e)
	if e.app.open != 0 || e.app.workers.held != 0 || e.dog.booting != 0 || e.tcp.fds() != e.p.baseFDs || e.dog.kills != 1 {
		t.Errorf("at the end: %d open, %d workers held, %d booting, fds %d (base %d), kills %d; want 0, 0, 0, base, 1",
			e.app.open, e.app.workers.held, e.dog.booting, e.tcp.fds(), e.p.baseFDs, e.dog.kills)
	}
}

// TestWatchdogSparesPagesInTime: a page that answers within worker_timeout is not killed, and
// without a watchdog nothing is ever killed.
func TestWatchdogSparesPagesInTime(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Second} {
		e := partsEngine(t, topology.Split, gunicornShape(2, timeout, 0))
		e.client.sendHit(e)
		e.client.sendHit(e)
		drain(t, e)
		if e.client.answered != 2 || e.dog.kills != 0 {
			t.Errorf("worker_timeout %v: answered %d, kills %d; want 2 and 0", timeout, e.client.answered, e.dog.kills)
		}
	}
}

// watchdogRamp is bench/runtimes/ramp.yaml's load on the gunicorn shape with its watchdog
// (worker_timeout 30s, worker_boot 2s), with recovery probes every interval for window.
func watchdogRamp(window, interval string) string {
	return `stages:
  - {duration: 20s, from: 10, target: 120}
arrivals: uniform
client: {timeout: 1s}
recovery: {duration: ` + window + `, interval: ` + interval + `, timeout: 1s}
server:
  max_threads: 16
  work_time: 200ms
  connector: bio
  accept_count: 2048
  keep_alive: false
  selfcall_pool: false
  worker_timeout: 30s
  worker_boot: 2s
`
}

// TestWatchdogDrainsAfterTheLoad measures what topology.Watchdog quotes: after the ramp, with a
// probe every second for 120 s (as bench/runtimes measured the real gunicorn), the watchdog
// kills 16 workers a round, 4 rounds, and the server is still hung; with a probe only every
// 30 s it drains at 16 pages per 32 s and answers once the pages left behind are through,
// about pages x 32 s / 16 after the load.
func TestWatchdogDrainsAfterTheLoad(t *testing.T) {
	prof, err := loadprofiles.Parse("watchdog-ramp", []byte(watchdogRamp("120s", "1s")))
	if err != nil {
		t.Fatal(err)
	}
	s := runProfile(t, app.Self, prof)
	if s.Verdict != results.VerdictHang || s.WorkerKills != 64 {
		t.Errorf("120 s of probes each second: %s with %d kills, want a hang with 64 (16 every 32 s)", s.VerdictLine(), s.WorkerKills)
	}
	prof, err = loadprofiles.Parse("watchdog-drain", []byte(watchdogRamp("3600s", "30s")))
	if err != nil {
		t.Fatal(err)
	}
	s = runProfile(t, app.Self, prof)
	if !s.Recovered || s.RecoveryS == nil {
		t.Fatalf("an hour of probes 30 s apart: %s, want it drained", s.VerdictLine())
	}
	// The pages left behind: every page the load sent and the server had not answered (their
	// clients timed out).
	left := float64(s.Errors[results.KindTimeout])
	want := left * 32 / 16
	t.Logf("%s; %.0f pages left behind, pages x 32 s / 16 = %.0f s", s.VerdictLine(), left, want)
	if got := *s.RecoveryS; got < 0.9*want || got > 1.2*want {
		t.Errorf("drained %.0f s after the load, want about %.0f s (pages left x 32 s / 16)", got, want)
	}
	if got := *s.RecoveryS; got < 1710*0.97 || got > 1710*1.03 {
		t.Errorf("drained %.0f s after the load; topology.Watchdog quotes 1710 s: update it", got)
	}
}
