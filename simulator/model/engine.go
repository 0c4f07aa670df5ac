package model

import (
	"math"
	"math/rand/v2"

	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/connector"
)

// evKind is what an event does.
type evKind uint8

const (
	evArrival        evKind = iota // the load client's next hit is due
	evProbe                        // a recovery probe is due (Run)
	evSample                       // an observation window ends (Run)
	evClientTimeout                // a client gives up on its request (id: request)
	evSynRetry                     // a dropped SYN is sent again (id: conn)
	evConnectTimeout               // a self-call dial's connect_timeout (id: conn)
	evAcceptRetry                  // the acceptor's EMFILE back-off ends
	evWorkEnd                      // a page's work time ends (id: page)
	evLeaseTimeout                 // a page's connection_request_timeout (id: page)
	evInnerArrive                  // a self-call's request reaches its server (id: inner)
	evInnerServed                  // the static handler has written the file (id: inner)
	evInnerResponse                // the self-call's response reaches the page (id: inner)
	evSocketTimeout                // a self-call's socket_timeout (id: inner)
	evPageEnd                      // a page answers and frees its worker (id: page)
	evIdleTimeout                  // the server closes an idle keep-alive connection (id: conn)
	evReap                         // keepalive reaps a CLOSE_WAIT socket (id: conn)
	evClientExpire                 // a client-side FIN_WAIT2 or TIME_WAIT ends (id: conn)
	evServerExpire                 // a server-side TIME_WAIT ends (id: conn)
)

// Request kinds.
const (
	kindPage  uint8 = iota // GET /page from the load client
	kindProbe              // GET /page from a recovery probe: a fresh connection, no keep-alive
	kindInner              // the self-call's GET of the static file
)

// Server-side request states.
const (
	rsPending   uint8 = iota // sent, on a connection the server has not accepted yet
	rsQueued                 // in the worker queue
	rsWorking                // page: holds a worker, in its work time
	rsLeasing                // page: waits for a self-call connection lease
	rsDialing                // page: its self-call connection is connecting
	rsCalling                // page: waits for the self-call's response
	rsFinishing              // page: answering (PageOverhead)
	rsServing                // inner: the static handler runs
	rsDone                   // answered (or dropped)
	rsInFlight               // inner: on its way to the server
	rsFree                   // recycled: in the free list
)

// TCP states of one side of a connection, as ss shows them.
const (
	tNone      uint8 = iota // no socket on this side (yet)
	tSyn                    // client: SYN_SENT
	tEst                    // ESTABLISHED
	tCloseWait              // server: the client closed first, the server has not
	tReaped                 // server: reset by a keepalive probe; the fd stays, no TCP state
	tFinWait2               // client: closed first, the server has not
	tTimeWait               // TIME_WAIT
	tGone                   // closed for good
	nTCP
)

// Accept states of a connection's server side.
const (
	aNone     uint8 = iota // not (yet) connected
	aBacklog               // in the listener's accept queue: no fd, no worker
	aAccepted              // accepted: holds an fd and a connection slot (bio: a worker)
	aClosed                // the server closed it
)

// Connection kinds.
const (
	connClient uint8 = iota // the load client's (keep-alive)
	connProbe               // a recovery probe's (closed after one answer)
	connPool                // a self-call pool connection
)

// request is one HTTP request. Pages and probes come from outside; an inner request is a page's
// self-call.
type request struct {
	gen   uint32
	kind  uint8
	state uint8
	// waiting: the client still waits for the answer (page, probe), or the page still waits for
	// the self-call (inner).
	waiting bool
	conn    ref // the connection it was sent on
	other   ref // page: its inner request; inner: its page
	sent    float64
	// callStart is when a page started its self-call (lease wait included).
	callStart float64
	seq       uint64
	status    uint16 // the page's answer
	// route: a page waiting for its lease holds a route slot and waits for a total one.
	route bool
}

// conn is one TCP connection to the app's listener (or, for split, the static server).
type conn struct {
	gen  uint32
	kind uint8
	// app: the server side is the app's listener; false for the split topology's pool
	// connections to the static server (another process: its sockets are not the app's).
	app      bool
	acc      uint8
	srv, cli uint8
	worker   bool // bio: holds a worker
	freed    bool // in the free list
	idle     bool // keep-alive, between requests
	synTries uint8
	timer    uint32 // the pending idle timer's number; changed to cancel it
	req      ref
	closedAt float64 // when the client closed
	// accAt is when the server accepted it.
	accAt float64
}

// params are the mechanics in float64 seconds.
type params struct {
	self, bio     bool
	workers       int
	maxConns      int
	backlogCap    int
	nofile        int
	honorClose    bool
	idleTimeout   float64
	tcpKeepAlive  bool
	work          workDist
	perRoute      int
	maxTotal      int
	leaseTimeout  float64
	connTimeout   float64
	sockTimeout   float64
	static        float64
	halfTrip      float64
	pageOverhead  float64
	clientTimeout float64 // 0: clients never give up
	keepAlive     bool
	maxIdle       int
	maxWorkers    int // 0: unbounded
	probeTimeout  float64
}

func newParams(c app.Config) params {
	p := params{
		self:         c.Topology == app.Self,
		bio:          c.Connector == connector.BIO,
		workers:      c.MaxThreads,
		maxConns:     c.MaxConnections,
		backlogCap:   c.AcceptCount + 1, // Linux accepts while the queue holds no more than the backlog
		nofile:       c.NoFile,
		honorClose:   c.HonorClientClose,
		idleTimeout:  c.KeepAliveTimeout.Seconds(),
		tcpKeepAlive: c.TCPKeepAlive,
		work:         newWorkDist(c),
		perRoute:     c.MaxPerRoute,
		maxTotal:     c.MaxTotal,
		leaseTimeout: c.ConnectionRequestTimeout.Seconds(),
		connTimeout:  c.ConnectTimeout.Seconds(),
		sockTimeout:  c.SocketTimeout.Seconds(),
		static:       StaticServiceTime.Seconds(),
		halfTrip:     (SelfCallTime - StaticServiceTime).Seconds() / 2,
		pageOverhead: PageOverhead.Seconds(),
	}
	if p.bio {
		p.maxConns = p.workers
	}
	return p
}

// observer receives what a run records; nil for the steady systems of the hazard estimators.
type observer interface {
	sent(e *engine, r *request)
	result(e *engine, r *request, status uint16, kind string, latency float64)
}

// engine is the discrete-event simulation of one server and its clients.
type engine struct {
	p   params
	now float64
	seq uint64
	h   eventHeap
	rng *rand.Rand // work times (and, for a steady system, arrivals)

	reqs     []request
	freeReqs []int32
	conns    []conn
	freeConn []int32

	// Workers and their FIFO queue (nio). queueLive counts the queue's live entries.
	busy, pages int
	queue       fifo
	queueLive   int

	// The acceptor and the listener's accept queue.
	backlog      fifo
	backlogLive  int
	open         int // accepted connections not closed: connection slots and server fds
	acceptWait   bool
	acceptDelay  float64
	acceptErrors int64

	// The self-call pool: route and total leases, their waiters, idle pooled connections.
	routeHeld, totalHeld int
	routeWait, totalWait fifo
	routeLive, totalLive int
	poolIdle             []ref
	poolFDs              int // pooled connections whose client socket is open (app fds)
	leaseWaiters         int // pages waiting for a lease
	dialing              int // pages whose self-call connection is connecting
	selfcallN            int64
	selfcallSum          float64

	// The load client: idle keep-alive connections (most recently used first, as Go's
	// transport), requests in flight, a hit held back by a worker cap.
	clientIdle   []ref
	inflight     int
	heldHit      bool
	srvN, cliN   [nTCP]int
	synSent      int
	arrivals     int64
	answered     int64 // pages and probes answered, any status
	timedOut     int64 // pages and probes given up by their client before an answer
	pagesDone    int64 // load-client pages the server is done with (answered, dropped, never reached)
	statusCounts map[uint16]int64

	// Arrivals: a steady Poisson source at rate, or a pacer (Run).
	rate   float64
	pacer  func(now float64) (float64, bool)
	obs    observer
	seqNum uint64
	timers uint32 // numbers idle timers, so that a stale one is recognised
}

func newEngine(p params, rng *rand.Rand) *engine {
	return &engine{p: p, rng: rng, statusCounts: map[uint16]int64{}}
}

func (e *engine) schedule(t float64, kind evKind, id int32, gen uint32) {
	e.seq++
	e.h.push(event{t: t, seq: e.seq, kind: kind, id: id, gen: gen})
}

// --- entities ---

func (e *engine) newRequest(kind uint8) int32 {
	var id int32
	if n := len(e.freeReqs); n > 0 {
		id = e.freeReqs[n-1]
		e.freeReqs = e.freeReqs[:n-1]
	} else {
		e.reqs = append(e.reqs, request{})
		id = int32(len(e.reqs) - 1)
	}
	r := &e.reqs[id]
	*r = request{gen: r.gen + 1, kind: kind, conn: ref{-1, 0}, other: ref{-1, 0}}
	return id
}

func (e *engine) reqRef(id int32) ref { return ref{id, e.reqs[id].gen} }

func (e *engine) live(r ref) *request {
	if r.id < 0 {
		return nil
	}
	q := &e.reqs[r.id]
	if q.gen != r.gen {
		return nil
	}
	return q
}

// maybeFreeRequest recycles a request nobody waits for and the server is done with.
func (e *engine) maybeFreeRequest(id int32) {
	r := &e.reqs[id]
	if r.waiting || r.state != rsDone { // rsFree: freed already
		return
	}
	if r.kind != kindInner {
		if in := e.live(r.other); in != nil {
			return // its inner request still refers to it
		}
	} else if pg := e.live(r.other); pg != nil && pg.other == e.reqRef(id) {
		return
	}
	r.gen++
	r.state = rsFree
	e.freeReqs = append(e.freeReqs, id)
}

func (e *engine) newConn(kind uint8, app bool) int32 {
	var id int32
	if n := len(e.freeConn); n > 0 {
		id = e.freeConn[n-1]
		e.freeConn = e.freeConn[:n-1]
	} else {
		e.conns = append(e.conns, conn{})
		id = int32(len(e.conns) - 1)
	}
	c := &e.conns[id]
	*c = conn{gen: c.gen + 1, kind: kind, app: app, req: ref{-1, 0}}
	return id
}

func (e *engine) connRef(id int32) ref { return ref{id, e.conns[id].gen} }

func (e *engine) liveConn(r ref) *conn {
	if r.id < 0 {
		return nil
	}
	c := &e.conns[r.id]
	if c.gen != r.gen {
		return nil
	}
	return c
}

func (e *engine) maybeFreeConn(id int32) {
	c := &e.conns[id]
	if c.freed || c.srv != tNone && c.srv != tGone || c.cli != tNone && c.cli != tGone || c.req.id >= 0 && e.live(c.req) != nil {
		return
	}
	if c.acc == aBacklog || c.acc == aAccepted {
		return
	}
	c.gen++
	c.freed = true
	e.freeConn = append(e.freeConn, id)
}

func (e *engine) setSrv(c *conn, st uint8) {
	if c.app {
		e.srvN[c.srv]--
		e.srvN[st]++
	}
	c.srv = st
}

func (e *engine) setCli(c *conn, st uint8) {
	if c.app {
		if c.cli == tSyn {
			e.synSent--
		}
		if st == tSyn {
			e.synSent++
		}
		e.cliN[c.cli]--
		e.cliN[st]++
	}
	c.cli = st
}

func (e *engine) fds() int { return BaseFDs + e.open + e.poolFDs }

func (e *engine) fdsFull() bool { return e.p.nofile > 0 && e.fds() >= e.p.nofile }

// --- the step loop ---

// step processes the next event; false when none is left.
func (e *engine) step() bool {
	if len(e.h) == 0 {
		return false
	}
	ev := e.h.pop()
	e.now = ev.t
	e.dispatch(ev)
	return true
}

func (e *engine) dispatch(ev event) {
	switch ev.kind {
	case evArrival:
		e.onArrival()
	case evClientTimeout:
		e.onClientTimeout(ev)
	case evSynRetry:
		e.onSynRetry(ev)
	case evConnectTimeout:
		e.onConnectTimeout(ev)
	case evAcceptRetry:
		e.acceptWait = false
		e.tryAccept()
	case evWorkEnd:
		if r := e.live(ref{ev.id, ev.gen}); r != nil && r.state == rsWorking {
			e.startSelfCall(ev.id)
		}
	case evLeaseTimeout:
		if r := e.live(ref{ev.id, ev.gen}); r != nil && r.state == rsLeasing {
			e.onLeaseTimeout(ev.id)
		}
	case evInnerArrive:
		e.onInnerArrive(ev)
	case evInnerServed:
		e.onInnerServed(ev)
	case evInnerResponse:
		e.onInnerResponse(ev)
	case evSocketTimeout:
		e.onSocketTimeout(ev)
	case evPageEnd:
		if r := e.live(ref{ev.id, ev.gen}); r != nil && r.state == rsFinishing {
			e.endPage(ev.id)
		}
	case evIdleTimeout:
		if c := &e.conns[ev.id]; c.timer == ev.gen && c.idle {
			e.serverClose(ev.id)
		}
	case evReap:
		if c := e.liveConn(ref{ev.id, ev.gen}); c != nil && c.srv == tCloseWait {
			e.setSrv(c, tReaped)
		}
	case evClientExpire:
		if c := e.liveConn(ref{ev.id, ev.gen}); c != nil && (c.cli == tFinWait2 || c.cli == tTimeWait) {
			e.setCli(c, tGone)
			e.maybeFreeConn(ev.id)
		}
	case evServerExpire:
		if c := e.liveConn(ref{ev.id, ev.gen}); c != nil && c.srv == tTimeWait {
			e.setSrv(c, tGone)
			e.maybeFreeConn(ev.id)
		}
	default:
		e.dispatchRun(ev)
	}
}

// dispatchRun handles the events only a recorded run schedules.
func (e *engine) dispatchRun(ev event) {
	if h, ok := e.obs.(interface{ event(*engine, event) }); ok {
		h.event(e, ev)
	}
}

// --- the load client ---

// onArrival sends the next hit (unless a worker cap holds it back) and schedules the one after.
func (e *engine) onArrival() {
	if e.p.maxWorkers > 0 && e.inflight >= e.p.maxWorkers {
		// vegeta blocks on its ticks channel until a worker frees; the pacer is asked again
		// only after that hit went out.
		e.heldHit = true
		return
	}
	e.sendHit()
	e.scheduleArrival()
}

func (e *engine) scheduleArrival() {
	if e.pacer != nil {
		if t, ok := e.pacer(e.now); ok {
			e.schedule(t, evArrival, -1, 0)
		}
		return
	}
	if e.rate > 0 {
		e.schedule(e.now+e.rng.ExpFloat64()/e.rate, evArrival, -1, 0)
	}
}

// sendHit sends one page request from the load client.
func (e *engine) sendHit() {
	id := e.newRequest(kindPage)
	r := &e.reqs[id]
	r.sent, r.waiting, r.seq = e.now, true, e.seqNum
	e.seqNum++
	e.arrivals++
	e.inflight++
	if e.obs != nil {
		e.obs.sent(e, r)
	}
	if e.p.clientTimeout > 0 {
		e.schedule(e.now+e.p.clientTimeout, evClientTimeout, id, r.gen)
	}
	for e.p.keepAlive && len(e.clientIdle) > 0 {
		cr := e.clientIdle[len(e.clientIdle)-1]
		e.clientIdle = e.clientIdle[:len(e.clientIdle)-1]
		if c := e.liveConn(cr); c != nil && c.idle && c.cli == tEst && c.srv == tEst {
			e.sendOn(cr.id, id)
			return
		}
	}
	cid := e.newConn(connClient, true)
	e.conns[cid].req = e.reqRef(id)
	e.reqs[id].conn = e.connRef(cid)
	e.dial(cid)
}

// sendProbe sends a recovery probe: a fresh connection, one request, timeout.
func (e *engine) sendProbe(timeout float64) int32 {
	id := e.newRequest(kindProbe)
	r := &e.reqs[id]
	r.sent, r.waiting = e.now, true
	e.schedule(e.now+timeout, evClientTimeout, id, r.gen)
	cid := e.newConn(connProbe, true)
	e.conns[cid].req = e.reqRef(id)
	e.reqs[id].conn = e.connRef(cid)
	e.dial(cid)
	return id
}

// sendOn sends request id on the established, idle connection cid.
func (e *engine) sendOn(cid, id int32) {
	c := &e.conns[cid]
	c.idle = false
	c.timer = 0
	c.req = e.reqRef(id)
	e.reqs[id].conn = e.connRef(cid)
	if c.acc == aAccepted {
		e.startRequest(cid)
	}
}

// dial opens connection cid: the SYN. It is dropped when the accept queue is full; the
// client then retries with Linux's doubling RTO. A pending request goes out once connected.
func (e *engine) dial(cid int32) {
	c := &e.conns[cid]
	if !c.app {
		// The split topology's static server: its own process, always accepting.
		e.setCli(c, tEst)
		e.setSrv(c, tEst)
		c.acc = aAccepted
		return
	}
	if e.backlogLive >= e.p.backlogCap {
		if c.cli != tSyn {
			e.setCli(c, tSyn)
		}
		e.schedule(e.now+synRTO*math.Ldexp(1, int(c.synTries)), evSynRetry, cid, c.gen)
		if c.synTries < 30 {
			c.synTries++
		}
		return
	}
	e.setCli(c, tEst)
	e.setSrv(c, tEst)
	c.acc = aBacklog
	e.backlog.push(e.connRef(cid))
	e.backlogLive++
	e.tryAccept()
}

func (e *engine) onSynRetry(ev event) {
	c := e.liveConn(ref{ev.id, ev.gen})
	if c == nil || c.cli != tSyn {
		return
	}
	e.dial(ev.id)
	if c := &e.conns[ev.id]; c.kind == connPool && c.cli == tEst {
		e.dialed(ev.id)
	}
}

// onClientTimeout: the client gives up on request id and closes its connection.
func (e *engine) onClientTimeout(ev event) {
	r := e.live(ref{ev.id, ev.gen})
	if r == nil || !r.waiting {
		return
	}
	r.waiting = false
	e.timedOut++
	if e.obs != nil {
		e.obs.result(e, r, 0, "timeout", e.now-r.sent)
	}
	page := r.kind == kindPage
	if c := e.liveConn(r.conn); c != nil {
		e.clientClose(r.conn.id)
		if c := &e.conns[r.conn.id]; c.acc == aNone && r.state == rsPending {
			// It never reached the server: its SYNs were all dropped.
			r.state = rsDone
			e.serverDone(r)
			c.req = ref{-1, 0}
			e.maybeFreeConn(r.conn.id)
		}
	}
	e.maybeFreeRequest(ev.id)
	if page {
		// Last: a hit the worker cap held back goes out now, and may reuse this request's slot.
		e.clientDone()
	}
}

// clientDone frees a load-client worker, sending a hit the cap held back.
func (e *engine) clientDone() {
	e.inflight--
	if e.heldHit {
		e.heldHit = false
		e.sendHit()
		e.scheduleArrival()
	}
}

// clientClose: the client end of cid closes first (a timeout).
func (e *engine) clientClose(cid int32) {
	c := &e.conns[cid]
	switch c.cli {
	case tSyn:
		// Never connected: nothing on the server side.
		e.setCli(c, tGone)
		e.maybeFreeConn(cid)
		return
	case tEst:
	default:
		return
	}
	if c.kind == connPool {
		e.poolFDs--
	}
	c.closedAt = e.now
	c.idle = false
	c.timer = 0
	if c.srv == tEst {
		e.setSrv(c, tCloseWait)
		e.setCli(c, tFinWait2)
		e.schedule(e.now+finTimeout, evClientExpire, cid, c.gen)
		if c.acc == aAccepted {
			e.scheduleReap(cid)
		}
		if e.p.honorClose && c.app && c.acc == aAccepted {
			// A request still queued for a worker is abandoned, and its connection closed.
			if rid := c.req.id; e.live(c.req) != nil && e.reqs[rid].state == rsQueued {
				r := &e.reqs[rid]
				r.state = rsDone
				e.serverDone(r)
				e.queueLive--
				c.req = ref{-1, 0}
				e.serverClose(cid)
				e.maybeFreeRequest(rid)
			}
		}
		return
	}
	e.setCli(c, tGone)
	e.maybeFreeConn(cid)
}

// scheduleReap arms the keepalive reaping of a CLOSE_WAIT socket: probes every
// keepAliveInterval after keepAliveIdle of silence; the first one after the client's orphaned
// FIN_WAIT2 has died (finTimeout) gets a RST.
func (e *engine) scheduleReap(cid int32) {
	c := &e.conns[cid]
	if !e.p.tcpKeepAlive || c.srv != tCloseWait {
		return
	}
	base := math.Max(c.closedAt, c.accAt)
	k := math.Floor((c.closedAt+finTimeout-base-keepAliveIdle)/keepAliveInterval) + 1
	at := base + keepAliveIdle + math.Max(k, 0)*keepAliveInterval
	e.schedule(at, evReap, cid, c.gen)
}

// serverClose: the server closes cid's socket (after an answer, an idle timeout, or a dropped
// request). It releases the fd, the connection slot and, in bio, the worker.
func (e *engine) serverClose(cid int32) {
	c := &e.conns[cid]
	if c.acc != aAccepted {
		return
	}
	c.acc = aClosed
	c.idle = false
	c.timer = 0
	if c.app {
		e.open--
	}
	switch c.srv {
	case tEst:
		// The server closes first: it keeps TIME_WAIT, the client closes at once.
		e.setSrv(c, tTimeWait)
		e.schedule(e.now+timeWait, evServerExpire, cid, c.gen)
		if c.cli == tEst {
			if c.kind == connPool {
				e.poolFDs--
			}
			e.setCli(c, tGone)
		}
	case tCloseWait, tReaped:
		e.setSrv(c, tGone)
		if c.cli == tFinWait2 {
			e.setCli(c, tTimeWait)
			e.schedule(e.now+timeWait, evClientExpire, cid, c.gen)
		}
	}
	if c.worker {
		c.worker = false
		e.releaseWorker()
	}
	e.tryAccept()
	e.maybeFreeConn(cid)
}

// --- the acceptor ---

// tryAccept accepts from the accept queue while a connection slot (bio: a worker) and an fd
// are free. Out of fds, accept fails with EMFILE and the acceptor backs off, 50 ms doubling to
// 1.6 s, as simulator/connector does.
func (e *engine) tryAccept() {
	for !e.acceptWait {
		if e.open >= e.p.maxConns || e.p.bio && e.busy >= e.p.workers {
			return
		}
		if e.backlogLive == 0 {
			return
		}
		if e.fdsFull() {
			e.acceptErrors++
			if e.acceptDelay == 0 {
				e.acceptDelay = acceptBackoffInitial
			} else {
				e.acceptDelay = math.Min(2*e.acceptDelay, acceptBackoffMax)
			}
			e.acceptWait = true
			e.schedule(e.now+e.acceptDelay, evAcceptRetry, -1, 0)
			return
		}
		cr := e.backlog.pop()
		c := e.liveConn(cr)
		if c == nil || c.acc != aBacklog {
			continue
		}
		e.backlogLive--
		e.acceptDelay = 0
		c.acc = aAccepted
		c.accAt = e.now
		e.open++
		if e.p.bio {
			c.worker = true
			e.busy++
		}
		if c.srv == tCloseWait {
			e.scheduleReap(cr.id)
		}
		if r := e.live(c.req); r != nil && r.state == rsPending {
			e.startRequest(cr.id)
		}
	}
}

// startRequest hands the request on the accepted connection cid to a worker: nio through the
// FIFO queue, bio at once on the connection's own worker.
func (e *engine) startRequest(cid int32) {
	c := &e.conns[cid]
	id := c.req.id
	r := &e.reqs[id]
	if e.p.honorClose && c.srv != tEst {
		// The client is gone already: the handler is abandoned, the connection closed.
		r.state = rsDone
		e.serverDone(r)
		c.req = ref{-1, 0}
		e.serverClose(cid)
		e.maybeFreeRequest(id)
		return
	}
	if e.p.bio {
		e.run(id)
		return
	}
	if e.busy < e.p.workers && e.queueLive == 0 {
		e.busy++
		e.run(id)
		return
	}
	r.state = rsQueued
	e.queue.push(e.reqRef(id))
	e.queueLive++
}

// releaseWorker frees a worker: nio hands it to the head of the queue, bio to the acceptor.
func (e *engine) releaseWorker() {
	if e.p.bio {
		e.busy--
		e.tryAccept()
		return
	}
	for !e.queue.empty() {
		rr := e.queue.pop()
		r := e.live(rr)
		if r == nil || r.state != rsQueued {
			continue
		}
		e.queueLive--
		e.run(rr.id)
		return
	}
	e.busy--
}

// run starts request id on a worker already counted busy.
func (e *engine) run(id int32) {
	r := &e.reqs[id]
	if r.kind == kindInner {
		r.state = rsServing
		e.schedule(e.now+e.p.static, evInnerServed, id, r.gen)
		return
	}
	r.state = rsWorking
	e.pages++
	e.schedule(e.now+e.p.work.draw(e.rng), evWorkEnd, id, r.gen)
}

// --- the page and its self-call ---

// startSelfCall: the page's work is done; it leases a pool connection, a route slot first,
// then a total one, each first come first served (HttpClient's pool, simulator/selfcall).
func (e *engine) startSelfCall(id int32) {
	r := &e.reqs[id]
	r.callStart = e.now
	r.state = rsLeasing
	e.leaseWaiters++
	if e.p.leaseTimeout > 0 {
		e.schedule(e.now+e.p.leaseTimeout, evLeaseTimeout, id, r.gen)
	}
	if e.routeHeld < e.p.perRoute && e.routeLive == 0 {
		e.routeHeld++
		r.route = true
		e.leaseTotal(id)
		return
	}
	e.routeWait.push(e.reqRef(id))
	e.routeLive++
}

func (e *engine) leaseTotal(id int32) {
	if e.totalHeld < e.p.maxTotal && e.totalLive == 0 {
		e.totalHeld++
		e.leased(id)
		return
	}
	e.totalWait.push(e.reqRef(id))
	e.totalLive++
}

// onLeaseTimeout: connection_request_timeout ran out while page id waited for a lease; a route
// slot it already held goes back (simulator/selfcall does the same).
func (e *engine) onLeaseTimeout(id int32) {
	r := &e.reqs[id]
	e.leaseWaiters--
	if r.route {
		r.route = false
		e.totalLive--
		e.releaseRoute()
	} else {
		e.routeLive--
	}
	e.failPage(id)
}

// releaseLease gives back a page's total and route slots, in that order, each to its longest
// waiter.
func (e *engine) releaseLease() {
	handed := false
	for !e.totalWait.empty() {
		rr := e.totalWait.pop()
		if r := e.live(rr); r == nil || r.state != rsLeasing || !r.route {
			continue
		}
		e.totalLive--
		e.leased(rr.id)
		handed = true
		break
	}
	if !handed {
		e.totalHeld--
	}
	e.releaseRoute()
}

func (e *engine) releaseRoute() {
	for !e.routeWait.empty() {
		rr := e.routeWait.pop()
		r := e.live(rr)
		if r == nil || r.state != rsLeasing || r.route {
			continue
		}
		e.routeLive--
		r.route = true
		e.leaseTotal(rr.id)
		return
	}
	e.routeHeld--
}

// leased: page id holds a lease; it takes an idle pooled connection or dials a new one.
func (e *engine) leased(id int32) {
	r := &e.reqs[id]
	r.route = false
	e.leaseWaiters--
	for len(e.poolIdle) > 0 {
		cr := e.poolIdle[len(e.poolIdle)-1]
		e.poolIdle = e.poolIdle[:len(e.poolIdle)-1]
		if c := e.liveConn(cr); c != nil && c.idle && c.cli == tEst && c.srv == tEst {
			c.idle = false
			c.timer = 0
			e.sendInner(id, cr.id)
			return
		}
	}
	if e.fdsFull() {
		// socket() fails with EMFILE: the self-call fails at once.
		e.selfCallFailed(id, true)
		return
	}
	cid := e.newConn(connPool, e.p.self)
	c := &e.conns[cid]
	c.req = e.reqRef(id) // the page, while it dials
	e.poolFDs++
	r.state = rsDialing
	e.dialing++
	e.dial(cid)
	if c := &e.conns[cid]; c.cli == tEst {
		e.dialed(cid)
		return
	}
	if e.p.connTimeout > 0 {
		e.schedule(e.now+e.p.connTimeout, evConnectTimeout, cid, c.gen)
	}
}

// dialed: pool connection cid has connected; the page that dialed it sends its request.
func (e *engine) dialed(cid int32) {
	c := &e.conns[cid]
	pr := c.req
	if p := e.live(pr); p == nil || p.state != rsDialing {
		return
	}
	c.req = ref{-1, 0}
	e.dialing--
	e.sendInner(pr.id, cid)
}

// onConnectTimeout: a self-call's connect did not complete (its SYNs were dropped by a full
// accept queue) within connect_timeout; the page answers 502.
func (e *engine) onConnectTimeout(ev event) {
	c := e.liveConn(ref{ev.id, ev.gen})
	if c == nil || c.cli != tSyn {
		return
	}
	pr := c.req
	c.req = ref{-1, 0}
	e.poolFDs--
	e.setCli(c, tGone)
	e.maybeFreeConn(ev.id)
	if p := e.live(pr); p != nil && p.state == rsDialing {
		e.dialing--
		e.selfCallFailed(pr.id, true)
	}
}

// sendInner sends page pid's self-call request on pool connection cid.
func (e *engine) sendInner(pid, cid int32) {
	iid := e.newRequest(kindInner)
	in := &e.reqs[iid]
	p := &e.reqs[pid]
	in.waiting = true
	in.state = rsInFlight
	in.sent = e.now
	in.other = e.reqRef(pid)
	in.conn = e.connRef(cid)
	p.other = e.reqRef(iid)
	p.state = rsCalling
	e.conns[cid].req = e.reqRef(iid)
	e.schedule(e.now+e.p.halfTrip, evInnerArrive, iid, in.gen)
	if e.p.sockTimeout > 0 {
		e.schedule(e.now+e.p.sockTimeout, evSocketTimeout, iid, in.gen)
	}
}

// onInnerArrive: the self-call's request reaches its server. On the app (self) it waits for a
// worker like any request; the split topology's static server serves it at once.
func (e *engine) onInnerArrive(ev event) {
	in := e.live(ref{ev.id, ev.gen})
	if in == nil || in.state != rsInFlight {
		return
	}
	in.state = rsPending
	c := e.liveConn(in.conn)
	if c == nil {
		return
	}
	switch {
	case !c.app:
		in.state = rsServing
		e.schedule(e.now+e.p.static, evInnerServed, ev.id, ev.gen)
	case c.acc == aAccepted:
		e.startRequest(in.conn.id)
	}
	// Otherwise the connection waits in the accept queue; tryAccept starts the request.
}

// onInnerServed: the static handler has written the file. On the app it frees its worker
// (nio; in bio the worker stays with the keep-alive connection).
func (e *engine) onInnerServed(ev event) {
	in := e.live(ref{ev.id, ev.gen})
	if in == nil || in.state != rsServing {
		return
	}
	in.state = rsDone
	cid := in.conn.id
	c := &e.conns[cid]
	if c.app && !e.p.bio {
		e.releaseWorker()
	}
	c = &e.conns[cid]
	if c.cli == tEst && in.waiting {
		e.schedule(e.now+e.p.halfTrip, evInnerResponse, ev.id, ev.gen)
		return
	}
	// The self-call gave up (socket_timeout) and closed: the server writes into the void and
	// closes its CLOSE_WAIT socket.
	c.req = ref{-1, 0}
	if c.app {
		e.serverClose(cid)
	} else {
		e.setSrv(c, tGone)
		c.acc = aClosed
		e.maybeFreeConn(cid)
	}
	e.maybeFreeRequest(ev.id)
}

// onInnerResponse: the page has its fragment; the connection goes back to the pool and the
// page finishes.
func (e *engine) onInnerResponse(ev event) {
	in := e.live(ref{ev.id, ev.gen})
	if in == nil || !in.waiting {
		return
	}
	in.waiting = false
	pr := in.other
	cid := in.conn.id
	c := &e.conns[cid]
	c.req = ref{-1, 0}
	c.idle = true
	e.poolIdle = append(e.poolIdle, e.connRef(cid))
	e.armIdle(cid)
	e.releaseLease()
	p := e.live(pr)
	if p == nil || p.state != rsCalling {
		e.maybeFreeRequest(ev.id)
		return
	}
	p.other = ref{-1, 0}
	e.selfcallN++
	e.selfcallSum += e.now - p.callStart
	p.state = rsFinishing
	p.status = 200
	e.schedule(e.now+e.p.pageOverhead, evPageEnd, pr.id, pr.gen)
	e.maybeFreeRequest(ev.id)
}

// onSocketTimeout: no byte of the self-call's response within socket_timeout. The client closes
// the connection (the pool drops it), the page answers 502 and frees its worker; the inner
// request stays queued on the server, whose socket turns CLOSE_WAIT.
func (e *engine) onSocketTimeout(ev event) {
	in := e.live(ref{ev.id, ev.gen})
	if in == nil || !in.waiting {
		return
	}
	in.waiting = false
	pr := in.other
	cid := in.conn.id
	e.clientClose(cid)
	e.maybeFreeRequest(ev.id)
	if p := e.live(pr); p != nil && p.state == rsCalling {
		p.other = ref{-1, 0}
		e.selfCallFailed(pr.id, true)
	}
}

// selfCallFailed: page pid's self-call failed; it gives back its lease and answers 502, as the
// app's http.Error(..., StatusBadGateway).
func (e *engine) selfCallFailed(pid int32, leased bool) {
	if leased {
		e.releaseLease()
	}
	e.failPage(pid)
}

func (e *engine) failPage(pid int32) {
	p := &e.reqs[pid]
	p.state = rsFinishing
	p.status = 502
	e.schedule(e.now, evPageEnd, pid, p.gen)
}

// endPage: page pid answers; its worker goes to the next request in line.
func (e *engine) endPage(pid int32) {
	p := &e.reqs[pid]
	p.state = rsDone
	e.serverDone(p)
	e.pages--
	if !e.p.bio {
		e.releaseWorker()
	}
	p = &e.reqs[pid]
	cid := p.conn.id
	c := &e.conns[cid]
	c.req = ref{-1, 0}
	if !p.waiting {
		// Its client left long ago: the server writes into a CLOSE_WAIT socket and closes it.
		e.serverClose(cid)
		e.maybeFreeRequest(pid)
		return
	}
	p.waiting = false
	e.answered++
	e.statusCounts[p.status]++
	kind := "ok"
	if p.status != 200 {
		kind = "http"
	}
	if e.obs != nil {
		e.obs.result(e, p, p.status, kind, e.now-p.sent)
	}
	page := p.kind == kindPage
	c = &e.conns[cid]
	if c.kind == connProbe || !e.p.keepAlive {
		// Connection: close: the server closes first.
		e.serverClose(cid)
	} else {
		c.idle = true
		e.armIdle(cid)
		if e.p.maxIdle > 0 && e.idleClients() >= e.p.maxIdle {
			// Go's transport keeps at most MaxIdleConnsPerHost: it closes this one.
			e.clientClose(cid)
			e.serverClose(cid)
		} else {
			e.clientIdle = append(e.clientIdle, e.connRef(cid))
		}
	}
	e.maybeFreeRequest(pid)
	if page {
		e.clientDone()
	}
}

// idleClients counts the load client's usable idle connections, dropping stale entries.
func (e *engine) idleClients() int {
	live := e.clientIdle[:0]
	for _, cr := range e.clientIdle {
		if c := e.liveConn(cr); c != nil && c.idle && c.cli == tEst && c.srv == tEst {
			live = append(live, cr)
		}
	}
	e.clientIdle = live
	return len(live)
}

// armIdle starts the server's keep-alive timer on an idle connection of the app.
func (e *engine) armIdle(cid int32) {
	c := &e.conns[cid]
	if !c.app || e.p.idleTimeout <= 0 {
		return
	}
	e.timers++
	if e.timers == 0 {
		e.timers++
	}
	c.timer = e.timers
	e.schedule(e.now+e.p.idleTimeout, evIdleTimeout, cid, c.timer)
}

// serverDone counts a load-client page the server is done with.
func (e *engine) serverDone(r *request) {
	if r.kind == kindPage {
		e.pagesDone++
	}
}

// --- what the estimators and the recorder read ---

// level is the number of workers held by pages.
func (e *engine) level() int { return e.pages }

// absorbed reports the hang for good: in the self topology every worker holds a page, and no
// timeout can free one. Then each page needs a worker for its self-call, and none will ever
// free: without socket_timeout a page waits for its inner request forever; without
// connection_request_timeout (or with every page able to hold a lease) it waits for a lease
// forever; and with connect_timeout, only once every lease is held and no dial is under way
// (otherwise a self-call dial into a full accept queue could still time out and free a worker).
func (e *engine) absorbed() bool {
	p := &e.p
	if !p.self || e.pages < p.workers || p.sockTimeout > 0 {
		return false
	}
	leaseCap := min(p.perRoute, p.maxTotal)
	if p.leaseTimeout > 0 && p.workers > leaseCap {
		return false
	}
	if p.connTimeout > 0 && (e.totalHeld < min(leaseCap, p.workers) || e.dialing > 0) {
		return false
	}
	return true
}

// workDist draws work times exactly as simulator/app's workTimes does (same formulas, same
// cap, rounded to the nanosecond), so that a generator seeded like the app's draws the same
// sequence.
type workDist struct {
	dist  string
	base  float64 // ns
	sigma float64
	cap   float64 // ns
}

// workPCGStream equals simulator/app's workPCGStream (worktime.go): with it and work_time_seed
// the model draws the work times `sim serve` draws, in the same order.
const workPCGStream = 0xb7e151628aed2a6a

func newWorkDist(c app.Config) workDist {
	w := workDist{dist: c.WorkTimeDist, base: float64(c.WorkTime)}
	var p99 float64
	switch c.WorkTimeDist {
	case app.WorkExponential:
		p99 = float64(int64(float64(c.WorkTime) * math.Log(100)))
	case app.WorkLognormal:
		w.sigma = math.Log(float64(c.WorkTimeP99)/w.base) / z99
		p99 = float64(c.WorkTimeP99)
	}
	w.cap = math.Min(workCapP99s*p99, float64(maxWorkDraw))
	return w
}

// The cap of simulator/app's draws: min(10 × p99, 60 s); z99 is the standard normal's 99th
// percentile.
const (
	workCapP99s = 10
	maxWorkDraw = 60e9
	z99         = 2.3263478740408408
)

// draw returns the next work time in seconds.
func (w workDist) draw(rng *rand.Rand) float64 {
	var d float64
	switch w.dist {
	case app.WorkExponential:
		d = w.base * rng.ExpFloat64()
	case app.WorkLognormal:
		d = w.base * math.Exp(w.sigma*rng.NormFloat64())
	default:
		return w.base / 1e9
	}
	return math.Round(math.Min(d, w.cap)) / 1e9
}

// clone deep-copies the engine's state; the copy draws from rng. The observer and pacer are not
// copied (only steady systems are cloned).
func (e *engine) clone(rng *rand.Rand) *engine {
	c := *e
	c.rng = rng
	c.h = append(eventHeap(nil), e.h...)
	c.reqs = append([]request(nil), e.reqs...)
	c.freeReqs = append([]int32(nil), e.freeReqs...)
	c.conns = append([]conn(nil), e.conns...)
	c.freeConn = append([]int32(nil), e.freeConn...)
	c.queue = e.queue.clone()
	c.backlog = e.backlog.clone()
	c.routeWait = e.routeWait.clone()
	c.totalWait = e.totalWait.clone()
	c.poolIdle = append([]ref(nil), e.poolIdle...)
	c.clientIdle = append([]ref(nil), e.clientIdle...)
	c.statusCounts = make(map[uint16]int64, len(e.statusCounts))
	for k, v := range e.statusCounts {
		c.statusCounts[k] = v
	}
	c.obs, c.pacer = nil, nil
	return &c
}
