package model

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/simulator/app"
)

// partsEngine is an engine of topology with change applied, nothing in flight, for driving one
// part by hand.
func partsEngine(t *testing.T, name string, change func(*app.Config)) *engine {
	t.Helper()
	c := serverConfig(name, change)
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := newParams(c)
	p.setClient(loadprofiles.Client{})
	p.setDelays()
	return newEngine(&p, rand.New(rand.NewPCG(1, 2)))
}

// connect opens a probe's connection to the app with one request on it, as the load client
// does; it returns the connection.
func connect(e *engine) int32 {
	id := e.reqs.add(kindProbe)
	e.reqs.all[id].waiting = true
	cid := e.conns.add(connProbe, true)
	e.conns.all[cid].req = e.reqs.ref(id)
	e.reqs.all[id].conn = e.conns.ref(cid)
	e.tcp.dial(e, cid)
	return cid
}

// TestConnectorAcceptsWithinItsLimits: the acceptor takes connections up to max_connections,
// the rest wait in the accept queue (no fd), a SYN beyond accept_count + 1 is dropped and sent
// again after synRTO; requests beyond max_threads wait in the worker queue.
func TestConnectorAcceptsWithinItsLimits(t *testing.T) {
	e := partsEngine(t, topology.Self, func(c *app.Config) {
		c.MaxThreads, c.MaxConnections, c.AcceptCount = 2, 3, 1
	})
	for range 6 {
		connect(e)
	}
	k := &e.app
	if k.open != 3 || k.backlogLive != 2 || e.tcp.synSent != 1 {
		t.Fatalf("open %d, accept queue %d, SYN_SENT %d; want 3 (max_connections), 2 (accept_count+1), 1", k.open, k.backlogLive, e.tcp.synSent)
	}
	if k.workers.held != 2 || k.workers.waiting != 1 {
		t.Fatalf("workers %d busy, %d queued; want 2 and 1", k.workers.held, k.workers.waiting)
	}
	if got, want := e.tcp.fds(), e.p.baseFDs+3; got != want {
		t.Fatalf("fds %d, want %d: only accepted connections hold one", got, want)
	}
	if ev := e.ag.h[0]; ev.kind != evSynRetry || ev.t != synRTO {
		t.Fatalf("pending event %v at %g, want a SYN retry at %g", ev.kind, ev.t, synRTO)
	}
}

// TestConnectorBacksOffOnEMFILE: out of fds, accept fails, counted, and the acceptor backs off
// 50 ms doubling to 1.6 s, as Tomcat's; the bulkhead's static connector has its own back-off.
func TestConnectorBacksOffOnEMFILE(t *testing.T) {
	e := partsEngine(t, topology.Self, func(c *app.Config) { c.NoFile = 100 })
	e.tcp.open = e.tcp.limit - e.tcp.base // every fd held
	connect(e)
	var delays []float64
	for range 7 {
		delays = append(delays, e.app.acceptDelay)
		e.app.retried(e)
	}
	want := []float64{0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 1.6}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("back-offs %v, want %v", delays, want)
		}
	}
	if e.app.acceptErrors != 8 || e.app.open != 0 {
		t.Fatalf("%d accept errors, %d open; want 8 and 0", e.app.acceptErrors, e.app.open)
	}
	e.tcp.open--
	e.app.retried(e)
	if e.app.open != 1 || e.app.acceptDelay != 0 {
		t.Fatalf("with an fd free: %d open, back-off %g; want 1 and reset", e.app.open, e.app.acceptDelay)
	}
	if e.bulk.acceptErrors != 0 || e.bulk.retry != evBulkRetry || e.app.retry != evAcceptRetry {
		t.Fatal("the static connector shares the app's acceptor state")
	}
}

// TestConnectorBIO: in bio a connection takes a worker when accepted, and the acceptor stops at
// max_threads.
func TestConnectorBIO(t *testing.T) {
	e := partsEngine(t, topology.Self, func(c *app.Config) { c.MaxThreads, c.Connector = 2, "bio" })
	for range 3 {
		connect(e)
	}
	if e.app.open != 2 || e.app.workers.held != 2 || e.app.backlogLive != 1 {
		t.Fatalf("bio: open %d, workers %d, accept queue %d; want 2, 2, 1", e.app.open, e.app.workers.held, e.app.backlogLive)
	}
}

// TestTCPTableCountsTheAppsPort: socket states are counted for the app's port only (ss filters
// on it), fds for every socket of the process.
func TestTCPTableCountsTheAppsPort(t *testing.T) {
	var tb tcpTable
	app := &conn{app: true}
	other := &conn{}
	tb.setCli(app, tSyn)
	tb.setCli(other, tSyn)
	if tb.synSent != 1 || tb.cli[tSyn] != 1 {
		t.Fatalf("SYN_SENT %d (table %d), want 1", tb.synSent, tb.cli[tSyn])
	}
	tb.setCli(app, tEst)
	tb.setSrv(app, tEst)
	tb.setSrv(app, tCloseWait)
	if tb.synSent != 0 || tb.srv[tCloseWait] != 1 || tb.srv[tEst] != 0 || other.cli != tSyn {
		t.Fatalf("after the handshake and a client close: SYN_SENT %d, CLOSE_WAIT %d, ESTABLISHED %d", tb.synSent, tb.srv[tCloseWait], tb.srv[tEst])
	}
	tb.base, tb.limit = 10, 12
	tb.openFD()
	if tb.full() {
		t.Fatal("11 fds of 12: full")
	}
	tb.openFD()
	if !tb.full() || tb.fds() != 12 {
		t.Fatalf("fds %d of 12, full %v", tb.fds(), tb.full())
	}
}

// TestSelfCallPoolLeases: pages lease a route slot first, then a total one, each first come
// first served; a page whose connection_request_timeout runs out gives back the route slot it
// held, which goes to the next page waiting for one.
func TestSelfCallPoolLeases(t *testing.T) {
	e := partsEngine(t, topology.Split, func(c *app.Config) { c.MaxPerRoute, c.MaxTotal = 2, 1 })
	pl := &e.pool
	pages := make([]int32, 4)
	for i := range pages {
		pages[i] = e.reqs.add(kindPage)
		pl.startSelfCall(e, pages[i])
	}
	state := func(i int) uint8 { return e.reqs.all[pages[i]].state }
	if state(0) != rsCalling || state(1) != rsLeasing || !e.reqs.all[pages[1]].route || state(2) != rsLeasing || e.reqs.all[pages[2]].route {
		t.Fatalf("states %d %d %d: want page 0 calling, 1 holding a route slot waiting for a total one, 2 waiting for a route slot", state(0), state(1), state(2))
	}
	if pl.route.held != 2 || pl.total.held != 1 || pl.route.waiting != 2 || pl.total.waiting != 1 || pl.waiters != 3 {
		t.Fatalf("route %d held %d waiting, total %d held %d waiting, %d waiters", pl.route.held, pl.route.waiting, pl.total.held, pl.total.waiting, pl.waiters)
	}
	// Page 1 gives up: its route slot goes to page 2, which then waits for a total one.
	e.pool.onLeaseTimeout(e, pages[1])
	if !e.reqs.all[pages[2]].route || pl.route.held != 2 || pl.route.waiting != 1 || pl.total.waiting != 1 {
		t.Fatalf("after page 1's timeout: page 2 route %v, route %d held %d waiting, total %d waiting", e.reqs.all[pages[2]].route, pl.route.held, pl.route.waiting, pl.total.waiting)
	}
	// Page 0's call ends: its lease goes to page 2 (total) and page 3 (route).
	pl.releaseLease(e)
	if state(2) != rsCalling || !e.reqs.all[pages[3]].route || pl.total.held != 1 || pl.route.held != 2 {
		t.Fatalf("after page 0's release: page 2 state %d, page 3 route %v, total %d, route %d held", state(2), e.reqs.all[pages[3]].route, pl.total.held, pl.route.held)
	}
}

// TestLoadClientWorkerCap: with a worker cap, a hit beyond it is held back until a worker
// frees, and keep-alive connections are reused most recently used first.
func TestLoadClientWorkerCap(t *testing.T) {
	e := partsEngine(t, topology.Split, nil)
	e.p.maxWorkers = 2
	cl := &e.client
	cl.rate = 100
	for range 3 {
		cl.onArrival(e)
	}
	if cl.inflight != 2 || !cl.heldHit || cl.arrivals != 2 {
		t.Fatalf("in flight %d, held %v, sent %d; want 2, a hit held, 2", cl.inflight, cl.heldHit, cl.arrivals)
	}
	cl.clientDone(e)
	if cl.inflight != 2 || cl.heldHit || cl.arrivals != 3 {
		t.Fatalf("after a worker freed: in flight %d, held %v, sent %d; want 2, none held, 3", cl.inflight, cl.heldHit, cl.arrivals)
	}
}

// TestPageHandlerAdmission: with admission wait, a page beyond the permits waits on its worker
// (it counts as a page holding a worker) and starts its work when a permit is given back; with
// reject it answers 503 at once.
func TestPageHandlerAdmission(t *testing.T) {
	for _, mode := range []string{topology.AdmitWait, topology.AdmitReject} {
		t.Run(mode, func(t *testing.T) {
			e := partsEngine(t, topology.AdmissionLimit, func(c *app.Config) {
				c.MaxThreads, c.Reserve, c.Admission = 3, 2, mode // one permit
			})
			h := &e.page
			first, second := e.reqs.add(kindPage), e.reqs.add(kindPage)
			h.run(e, first)
			h.run(e, second)
			if s := e.reqs.all[first].state; s != rsWorking || h.permits.held != 1 {
				t.Fatalf("first page state %d, permits held %d; want working with the permit", s, h.permits.held)
			}
			s := e.reqs.all[second].state
			if mode == topology.AdmitReject {
				if s != rsFinishing || e.reqs.all[second].status != http503 {
					t.Fatalf("second page state %d status %d; want answering 503", s, e.reqs.all[second].status)
				}
				return
			}
			if s != rsAdmitWait || h.pages != 2 || h.permits.waiting != 1 {
				t.Fatalf("second page state %d, %d pages on workers, %d waiting; want waiting for the permit on its worker", s, h.pages, h.permits.waiting)
			}
			h.dropPermit(e, &e.reqs.all[first])
			if s := e.reqs.all[second].state; s != rsWorking || !e.reqs.all[second].permit || h.permits.held != 1 {
				t.Fatalf("after the first gave its permit back: second state %d permit %v, held %d", s, e.reqs.all[second].permit, h.permits.held)
			}
		})
	}
}

// drain steps e until nothing is pending, at most 10000 events (a model that loops fails).
func drain(t *testing.T, e *engine) {
	t.Helper()
	for i := 0; e.step(); i++ {
		if i > 10000 {
			t.Fatal("events still pending after 10000 steps")
		}
	}
}

// stepUntil steps e until cond holds, failing if the events run out or 10000 pass first.
func stepUntil(t *testing.T, e *engine, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 10000 || !e.step() {
			t.Fatal("condition not reached before the events ran out (or 10000 steps)")
		}
	}
}

// TestSelfCallPoolUnpooled: with selfcall_pool false a self-call leases nothing, so calls
// beyond max_per_route and max_total go out at once, each on a connection it dials, which is
// closed after the answer: nothing idles in the pool and every fd comes back.
func TestSelfCallPoolUnpooled(t *testing.T) {
	e := partsEngine(t, topology.Split, func(c *app.Config) { c.MaxPerRoute, c.MaxTotal, c.SelfCallPool = 2, 1, false })
	pl := &e.pool
	pages := make([]int32, 4)
	for i := range pages {
		pages[i] = e.reqs.add(kindPage)
		e.reqs.all[pages[i]].onWorker = true
		pl.startSelfCall(e, pages[i])
	}
	for i, id := range pages {
		if s := e.reqs.all[id].state; s != rsCalling {
			t.Fatalf("page %d state %d, want calling: no lease to wait for", i, s)
		}
	}
	if pl.route.held != 0 || pl.total.held != 0 || pl.waiters != 0 {
		t.Fatalf("route %d, total %d held, %d waiters; want none", pl.route.held, pl.total.held, pl.waiters)
	}
	if got, want := e.tcp.fds(), e.p.baseFDs+4; got != want {
		t.Fatalf("fds %d, want %d: a connection per call", got, want)
	}
	// Up to the answers (the pages, made by hand, have no client connection to finish on).
	stepUntil(t, e, func() bool { return pl.calls == 4 })
	if pl.calls != 4 || len(pl.idle) != 0 {
		t.Fatalf("%d calls answered, %d idle pooled connections; want 4 and 0", pl.calls, len(pl.idle))
	}
	if got := e.tcp.fds(); got != e.p.baseFDs {
		t.Fatalf("fds %d after the calls, want %d: each connection closed after its answer", got, e.p.baseFDs)
	}

	// The pool, for contrast: the second call reuses the first one's connection.
	e = partsEngine(t, topology.Split, nil)
	for range 2 {
		id := e.reqs.add(kindPage)
		e.reqs.all[id].onWorker = true
		e.pool.startSelfCall(e, id)
		n := e.pool.calls
		stepUntil(t, e, func() bool { return e.pool.calls == n+1 })
	}
	if e.pool.calls != 2 || len(e.pool.idle) != 1 || e.tcp.fds() != e.p.baseFDs+1 {
		t.Fatalf("pooled: %d calls, %d idle, fds %d; want 2, 1 reused connection, base+1", e.pool.calls, len(e.pool.idle), e.tcp.fds())
	}
}

// TestCloseEach: with keep_alive false the server closes each connection after its response,
// so a keep-alive load client dials a new connection per request; in bio the closed
// connection's worker goes to the next connection waiting in the accept queue. With keep_alive
// on, the client reuses its connection and a bio worker stays with it.
func TestCloseEach(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepAlive bool
		wantOpen  int
		wantIdle  int
	}{
		{"keep_alive true", true, 1, 1},
		{"keep_alive false", false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := partsEngine(t, topology.InProc, func(c *app.Config) { c.KeepAlive = tc.keepAlive })
			e.p.keepAlive = true // the load client asks for keep-alive, as vegeta does
			cl := &e.client
			cl.sendHit(e)
			// Up to the answer: later the idle keep-alive connection times out.
			stepUntil(t, e, func() bool { return cl.answered == 1 })
			if cl.answered != 1 || e.app.open != tc.wantOpen || len(cl.idle) != tc.wantIdle {
				t.Fatalf("answered %d, app connections open %d, client idle %d; want 1, %d, %d", cl.answered, e.app.open, len(cl.idle), tc.wantOpen, tc.wantIdle)
			}
		})
	}
	// bio, one worker, two requests at once on two connections: the second waits in the accept
	// queue and is served once the first connection is closed after its response.
	e := partsEngine(t, topology.InProc, func(c *app.Config) { c.KeepAlive, c.Connector, c.MaxThreads = false, "bio", 1 })
	e.p.keepAlive = true
	e.client.sendHit(e)
	e.client.sendHit(e)
	if e.app.open != 1 || e.app.backlogLive != 1 {
		t.Fatalf("bio: %d accepted, %d in the accept queue; want 1 and 1", e.app.open, e.app.backlogLive)
	}
	drain(t, e)
	if e.client.answered != 2 || e.app.open != 0 || e.app.workers.held != 0 {
		t.Fatalf("bio after both: answered %d, open %d, workers busy %d; want 2, 0, 0", e.client.answered, e.app.open, e.app.workers.held)
	}
}

// TestReactor: connector reactor (Puma) with one worker and keep-alive: two hits on two
// connections; the second waits in the accept queue while the worker serves the first, and is
// accepted as soon as the first is answered although that connection stays open (idle, in the
// reactor, holding no worker). In bio the idle connection keeps the worker, so the second waits
// for its keep-alive timeout.
func TestReactor(t *testing.T) {
	for _, tc := range []struct {
		connector string
		wantBy    float64 // both answered by then (s)
	}{
		{"reactor", 1}, // two pages of 200 ms, one after the other
		{"bio", 21},    // keep_alive_timeout (connection_timeout 20 s) frees the first's worker
	} {
		t.Run(tc.connector, func(t *testing.T) {
			e := partsEngine(t, topology.InProc, func(c *app.Config) { c.Connector, c.MaxThreads = tc.connector, 1 })
			e.p.keepAlive = true // vegeta's keep-alive
			e.client.sendHit(e)
			e.client.sendHit(e)
			if e.app.open != 1 || e.app.backlogLive != 1 {
				t.Fatalf("%d accepted, %d in the accept queue; want 1 and 1", e.app.open, e.app.backlogLive)
			}
			stepUntil(t, e, func() bool { return e.client.answered == 2 })
			if e.now > tc.wantBy || (tc.connector == "bio") != (e.now > 1) {
				t.Fatalf("second answered at %.2f s, want by %.0f s (bio: only after the keep-alive timeout)", e.now, tc.wantBy)
			}
			if tc.connector == "reactor" && (e.app.open != 2 || e.app.workers.held != 0) {
				t.Fatalf("after both: %d connections open, %d workers held; want 2 idle connections holding no worker", e.app.open, e.app.workers.held)
			}
		})
	}
	// A request on an idle kept-alive connection queues for a worker, and the acceptor takes no
	// new connection while it waits (Puma's busy threads count queued requests).
	e := partsEngine(t, topology.InProc, func(c *app.Config) { c.Connector, c.MaxThreads = "reactor", 1 })
	e.p.keepAlive = true
	e.client.sendHit(e)
	stepUntil(t, e, func() bool { return e.client.answered == 1 })
	e.client.sendHit(e) // reuses the idle connection: the worker is free, it runs at once
	e.client.sendHit(e) // a new connection: waits in the accept queue
	stepUntil(t, e, func() bool { return e.app.open == 2 })
	if e.app.workers.held != 1 {
		t.Fatalf("workers held %d, want 1", e.app.workers.held)
	}
}

// TestSelfCallRetries: on self with one worker (bio: the self-call's connection waits in the
// accept queue behind the page's own), a self-call with socket_timeout 1 s times out; with
// selfcall_retries 1 it is sent again on a new connection and times out again, so the page
// answers 502 2 s after its work (200 ms) instead of 1 s, having dialed two connections.
func TestSelfCallRetries(t *testing.T) {
	for _, tc := range []struct {
		retries int
		want    float64
	}{{0, 1}, {1, 2}, {2, 3}} {
		e := partsEngine(t, topology.Self, func(c *app.Config) {
			c.Connector, c.MaxThreads, c.SelfCallPool = "bio", 1, false
			c.SocketTimeout, c.SelfCallRetries = time.Second, tc.retries
		})
		e.client.sendHit(e)
		stepUntil(t, e, func() bool { return e.client.answered == 1 })
		if got := e.client.statuses.get(http502); got != 1 || e.now < tc.want+0.2 || e.now > tc.want+0.3 {
			t.Errorf("retries %d: %d × 502, answered at %.2f s; want a 502 at 0.2 + %.0f s", tc.retries, got, e.now, tc.want)
		}
		if got := e.conns.all[len(e.conns.all)-1]; len(e.conns.all) != 2+tc.retries {
			t.Errorf("retries %d: %d connections (last %+v), want the page's and %d self-call dials", tc.retries, len(e.conns.all), got, 1+tc.retries)
		}
	}
}

// TestConnectorThreads: connector_threads are taken from max_threads (Jetty's acceptor and
// selector): 16 threads with 2 for the connector serve 14 pages at once.
func TestConnectorThreads(t *testing.T) {
	e := partsEngine(t, topology.InProc, func(c *app.Config) { c.MaxThreads, c.ConnectorThreads = 16, 2 })
	if e.app.workers.size != 14 || e.p.workers != 14 {
		t.Fatalf("workers %d (params %d), want 14", e.app.workers.size, e.p.workers)
	}
}

// TestHonorCloseBIO: with honor_client_close, bio drops a connection whose client left while it
// waited in the accept queue when a worker takes it (Puma's closed_socket?): the page never
// runs, the worker goes on to the next connection. Without it the dead page runs.
func TestHonorCloseBIO(t *testing.T) {
	for _, honor := range []bool{false, true} {
		for _, mode := range []string{"bio", "reactor"} {
			e := partsEngine(t, topology.InProc, func(c *app.Config) {
				c.Connector, c.MaxThreads, c.HonorClientClose = mode, 1, honor
			})
			e.p.clientTimeout = 0.1 // the second hit's client leaves while it waits
			e.p.setDelays()
			e.client.sendHit(e)
			e.client.sendHit(e)
			drain(t, e)
			want := int64(2)
			if honor {
				want = 1
			}
			if e.client.pagesDone != 2 || e.page.pages != 0 {
				t.Fatalf("%s honor %v: pages done %d, on workers %d", mode, honor, e.client.pagesDone, e.page.pages)
			}
			if got := e.page.started; got != want {
				t.Errorf("%s honor %v: %d pages ran, want %d", mode, honor, got, want)
			}
		}
	}
}
