package model

import (
	"slices"
	"time"

	"testing"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/simulator/app"
)

// fpmShape is PHP-FPM's shape behind nginx: a front proxy with read timeout read in front of a
// bio pool of workers accepting from a backlog of 4096, closing each connection after its
// answer, and self-calls on a new connection each.
func fpmShape(workers int, read float64) func(*app.Config) {
	return func(c *app.Config) {
		c.FrontProxy, c.ProxyReadTimeout = true, secondsOf(read)
		c.Connector, c.MaxThreads, c.MaxConnections, c.AcceptCount = "bio", workers, workers, 4096
		c.KeepAlive, c.SelfCallPool = false, false
	}
}

// clientTimeout gives e's load client a timeout of d seconds.
func clientTimeout(e *engine, d float64) {
	e.p.clientTimeout = d
	e.p.delays[qClientTimeout] = d
}

// TestFrontProxyForwards: a page through the front proxy: the proxy accepts the client's
// connection at once and keeps it alive after the answer; the request goes to the pool on an
// upstream connection of its own, which is closed after the answer (keep_alive false is the
// pool's), its worker freed; every fd comes back but the kept-alive front connection's.
func TestFrontProxyForwards(t *testing.T) {
	e := partsEngine(t, topology.Self, fpmShape(2, 60))
	e.p.keepAlive = true // vegeta asks for keep-alive
	cl := &e.client
	cl.sendHit(e)
	if e.tcp.fsrv[tEst] != 1 || e.proxy.open != 1 || e.tcp.srv[tEst] != 1 || e.app.open != 1 {
		t.Fatalf("front ESTABLISHED %d (proxy open %d), pool ESTABLISHED %d (accepted %d); want 1 each",
			e.tcp.fsrv[tEst], e.proxy.open, e.tcp.srv[tEst], e.app.open)
	}
	stepUntil(t, e, func() bool { return cl.answered == 1 })
	if got := cl.statuses.get(200); got != 1 {
		t.Fatalf("200s %d, want 1 (statuses %v)", got, cl.statuses)
	}
	if e.app.open != 0 || e.app.workers.held != 0 || e.proxy.open != 1 || len(cl.idle) != 1 {
		t.Fatalf("after the answer: pool accepted %d, workers busy %d, front open %d, client idle %d; want 0, 0, 1, 1",
			e.app.open, e.app.workers.held, e.proxy.open, len(cl.idle))
	}
	if got, want := e.tcp.fds(), e.p.baseFDs+1; got != want {
		t.Fatalf("fds %d, want %d (the idle front connection)", got, want)
	}
	// The next hit reuses the front connection and dials a new upstream one (forwarded: the
	// first page, its self-call, this one).
	cl.sendHit(e)
	if e.proxy.open != 1 || e.proxy.requests != 3 {
		t.Fatalf("second hit: front open %d, forwarded %d; want 1 and 3", e.proxy.open, e.proxy.requests)
	}
}

// TestFrontProxyPileOnPoolPort: clients that give up close their front connection; the proxy
// closes its upstream connection at once (499), and the dead requests wait in the pool's
// backlog in CLOSE_WAIT: the pile is on the pool's port, none on the proxy's. The pool still
// runs them, each with its self-call through the proxy.
func TestFrontProxyPileOnPoolPort(t *testing.T) {
	e := partsEngine(t, topology.Self, fpmShape(1, 60))
	e.p.keepAlive = true
	clientTimeout(e, 1)
	for range 5 {
		e.client.sendHit(e)
	}
	stepUntil(t, e, func() bool { return e.client.timedOut == 5 })
	if e.proxy.clientClosed != 5 {
		t.Fatalf("499s %d, want 5", e.proxy.clientClosed)
	}
	// The one worker holds the first page, whose self-call waits in the backlog behind the 4
	// dead pages: 5 CLOSE_WAIT (4 in the backlog, the held one accepted) on the pool's port.
	if e.tcp.srv[tCloseWait] != 5 || e.app.backlogLive != 5 || e.tcp.fsrv[tCloseWait] != 0 {
		t.Fatalf("pool CLOSE_WAIT %d, pool accept queue %d, front CLOSE_WAIT %d; want 5, 5 (4 dead pages + the self-call), 0",
			e.tcp.srv[tCloseWait], e.app.backlogLive, e.tcp.fsrv[tCloseWait])
	}
}

// TestFrontProxyTimeoutFreesStuckWorker: a page's self-call stuck behind dead requests is
// answered 504 by the proxy after its read timeout; the page fails and frees its worker, which
// takes the next dead page from the backlog and is stuck again (PHP-FPM behind nginx): one
// worker's worth of pages moves through per read timeout.
func TestFrontProxyTimeoutFreesStuckWorker(t *testing.T) {
	const read = 3.0
	e := partsEngine(t, topology.Self, fpmShape(1, read))
	e.p.keepAlive = true
	clientTimeout(e, 1)
	for range 4 {
		e.client.sendHit(e)
	}
	stepUntil(t, e, func() bool { return e.proxy.timeouts == 1 })
	at := e.now
	if at < read || at > read+1 {
		t.Fatalf("first 504 at %.3f s, want just after the %g s read timeout (work time + self-call sent)", at, read)
	}
	stepUntil(t, e, func() bool { return e.proxy.timeouts == 2 })
	if gap := e.now - at; gap < read || gap > read+0.5 {
		t.Fatalf("second 504 %.3f s after the first; want about the read timeout %g s", gap, read)
	}
	drain(t, e)
	// Every dead page ran (the pool runs them), each self-call timed out, and nothing is left.
	if e.client.pagesDone != 4 || e.proxy.timeouts != 4 || e.app.workers.held != 0 || e.app.backlogLive != 0 || e.tcp.srv[tCloseWait] != 0 {
		t.Fatalf("pages done %d, 504s %d, workers busy %d, accept queue %d, CLOSE_WAIT %d; want 4, 4, 0, 0, 0",
			e.client.pagesDone, e.proxy.timeouts, e.app.workers.held, e.app.backlogLive, e.tcp.srv[tCloseWait])
	}
	if got, want := e.tcp.fds(), e.p.baseFDs; got != want {
		t.Fatalf("fds %d after the drain, want %d: every socket closed", got, want)
	}
}

func secondsOf(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// TestDynamicPool: a bio pool started with pool_start_workers (PHP-FPM's pm = dynamic) grows
// by the missing spare workers at each maintenance tick while none is idle, up to max_threads,
// and the new workers accept from the backlog at once; idle workers beyond pool_max_spare are
// stopped one a tick.
func TestDynamicPool(t *testing.T) {
	e := partsEngine(t, topology.InProc, func(c *app.Config) {
		c.Connector, c.MaxThreads, c.MaxConnections, c.AcceptCount = "bio", 4, 4, 100
		c.PoolStartWorkers, c.PoolMinSpare, c.PoolMaxSpare = 1, 1, 1
		c.WorkTime = 10 * time.Second // long pages: every worker stays busy
	})
	if e.app.workers.size != 1 {
		t.Fatalf("workers at the start %d, want 1", e.app.workers.size)
	}
	for range 6 {
		connect(e)
	}
	var sizes []int
	for tick := 1.0; tick <= 5; tick++ {
		stepUntil(t, e, func() bool { return e.now >= tick })
		sizes = append(sizes, e.app.workers.size)
	}
	// One more a tick (min_spare 1, none idle), each taking a connection from the backlog,
	// up to max_threads 4.
	if want := []int{2, 3, 4, 4, 4}; !slices.Equal(sizes, want) || e.app.workers.held != 4 || e.app.backlogLive != 2 {
		t.Fatalf("workers by tick %v, busy %d, accept queue %d; want %v, 4 busy, 2 waiting", sizes, e.app.workers.held, e.app.backlogLive, want)
	}
	// All pages done and nothing arriving: idle workers are stopped one a tick, down to
	// max_spare 1.
	stepUntil(t, e, func() bool { return e.now > 40 })
	if e.app.workers.size != 1 || e.app.workers.held != 0 {
		t.Fatalf("after the pages: %d workers, %d busy; want 1 (max_spare), 0", e.app.workers.size, e.app.workers.held)
	}
}
