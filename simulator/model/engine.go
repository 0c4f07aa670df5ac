package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"

	"github.com/simdev/sim/internal/topology"
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
	evBulkRetry                    // the bulkhead connector's acceptor's EMFILE back-off ends
	evWorkEnd                      // a page's work time ends (id: page)
	evLeaseTimeout                 // a page's connection_request_timeout (id: page)
	evInnerArrive                  // a self-call's request reaches its server (id: inner)
	evInnerServed                  // the static handler has written the file (id: inner)
	evInnerResponse                // the self-call's response reaches the page (id: inner)
	evSocketTimeout                // a self-call's socket_timeout (id: inner)
	evPageEnd                      // a page answers and frees its worker (id: page)
	evIdleTimeout                  // an idle keep-alive connection's timer is due (id: conn)
	evReap                         // keepalive reaps a CLOSE_WAIT socket (id: conn)
	evFinWaitEnd                   // a client's orphaned FIN_WAIT2 socket ends (id: conn)
	// A TIME_WAIT socket holds no fd and no slot, and nothing waits for it to end: it is a
	// count, and its end only lowers the count (id: none). Its connection is recycled at once.
	evServerTimeWaitEnd
	evClientTimeWaitEnd
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
	rsAdmitWait              // page: holds a worker, waits for an admission permit (admission wait)
	rsGated                  // page: waits for an admission permit at the gate, before the worker queue (admission queue)
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
	// workAt is when a page started its work time; callStart when it started its self-call
	// (lease wait included).
	workAt    float64
	callStart float64
	seq       uint64
	status    uint16 // the page's answer
	// route: a page waiting for its lease holds a route slot and waits for a total one.
	route bool
	// onWorker: a page holds one of the app's workers (it is counted in engine.pages). An async
	// page does not while its self-call is in flight.
	onWorker bool
	// permit: a page holds an admission permit (admission-limit).
	permit bool
	// resume: an async page whose self-call has ended waits for a worker to finish on.
	resume bool
}

// conn is one TCP connection to the app's listener (or to the split topology's static server, or
// the bulkhead's static connector).
type conn struct {
	gen  uint32
	kind uint8
	// app: the server side is the app's listener; false for the split topology's pool
	// connections to the static server (another process: its sockets are not the app's) and
	// for the bulkhead's.
	app bool
	// bulk: the server side is the bulkhead's static connector: the same process (its accepted
	// sockets hold the app's fds), another port (ss does not count them with the app's).
	bulk     bool
	acc      uint8
	srv, cli uint8
	worker   bool // bio: holds a worker
	freed    bool // in the free list
	idle     bool // keep-alive, between requests
	synTries uint8
	// timerSet: an idle-timer event is pending for this connection. It is not cancelled when
	// the connection is used again: it fires, finds the connection busy (nothing to do) or idle
	// since idleAt (then it is armed again for idleAt + keep_alive_timeout). So a connection
	// has at most one timer pending however often it goes idle, not one per answer.
	timerSet bool
	idleAt   float64 // when it last went idle
	req      ref
	closedAt float64 // when the client closed
	// accAt is when the server accepted it.
	accAt float64
}

// params are the mechanics in float64 seconds.
type params struct {
	bio bool
	// fragment is where a page gets its static fragment (the topology's Mechanics.Fragment).
	fragment topology.Fragment
	// canHang: these mechanics and keys have an absorbing state at all (topology.CanHang, the
	// one decision sim has); absorbed checks whether the state is in it.
	canHang bool
	// queueLimit bounds the nio worker queue (Mechanics.QueueLimit: max_queue_size); 0: none.
	queueLimit int
	// admission is the admission limit's mode (Mechanics.Admission: topology.AdmitWait,
	// AdmitReject, AdmitQueue), "" without one; permits is how many pages it admits at once.
	admission string
	permits   int
	// async: a page releases its worker during its self-call (Mechanics.Async).
	async bool
	// bulkWorkers is the bulkhead connector's pool (bulkhead_threads).
	bulkWorkers int
	// baseFDs are the fds the process holds with no connection open.
	baseFDs       int
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
	inProcess     float64 // an inproc page's time from its work's end to its answer
	clientTimeout float64 // 0: clients never give up
	keepAlive     bool
	maxIdle       int
	maxWorkers    int // 0: unbounded
	probeTimeout  float64
	// sockets: follow the socket states that only a record shows (TIME_WAIT sockets, the end of
	// an orphaned FIN_WAIT2). Run sets it; a steady system has no record and leaves it off (see
	// Steady for why that cannot change a hang).
	sockets bool
	// delays are the agenda's fixed delays, by queue (setDelays).
	delays [nQueues]float64
}

// newParams builds the mechanics of c's topology (the registry's Mechanics); c must be
// normalized and valid.
func newParams(c app.Config) params {
	mech := topology.Must(c.Topology).Mechanics
	p := params{
		bio:          c.Connector == connector.BIO,
		fragment:     mech.Fragment,
		canHang:      c.CanHang(),
		baseFDs:      BaseFDs,
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
		inProcess:    (PageOverhead + InProcessReadTime).Seconds(),
		sockets:      true,
	}
	if p.bio {
		p.maxConns = p.workers
	}
	// The bounded queue, the admission gate in front of the pool and async pages are the nio
	// connector's, as in simulator/connector: bio has no worker queue (its connections wait in
	// the kernel backlog), no gate, and its pages keep the connection's worker.
	if mech.QueueLimit && !p.bio {
		p.queueLimit = c.MaxQueueSize
	}
	if mech.Admission && !(p.bio && c.Admission == topology.AdmitQueue) {
		p.admission, p.permits = c.Admission, c.MaxThreads-c.Reserve
	}
	p.async = mech.Async && !p.bio
	if p.fragment == topology.FromBulkhead {
		p.bulkWorkers = c.BulkheadThreads
		p.baseFDs++ // the static connector's listening socket
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
	p   *params // shared by clones: never changed once the engine runs
	now float64
	ag  agenda
	rng *rand.Rand // work times (and, for a steady system, arrivals)

	reqs     []request
	freeReqs []int32
	conns    []conn
	freeConn []int32

	// Workers and their FIFO queue (nio). queueLive counts the queue's live entries,
	// innerQueued those that are self-calls (bounded-queue's absorbing state counts them).
	busy, pages int
	queue       fifo
	queueLive   int
	innerQueued int

	// The admission limit: permits held, and the pages waiting for one (FIFO; in wait mode
	// each on its worker, in queue mode before the worker queue).
	permitsHeld int
	permitWait  fifo
	permitLive  int

	// The bulkhead's static connector: its workers and unbounded FIFO queue, its accept queue
	// and acceptor (EMFILE back-off, as the app's), its open connections (app fds).
	bulkBusy        int
	bulkQueue       fifo
	bulkQueueLive   int
	bulkBacklog     fifo
	bulkAcceptWait  bool
	bulkAcceptDelay float64
	bulkOpen        int

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
	statusCounts statusCounts

	// Arrivals: a steady Poisson source at rate, or a pacer (Run).
	rate   float64
	pacer  func(now float64) (float64, bool)
	obs    observer
	seqNum uint64
}

func newEngine(p *params, rng *rand.Rand) *engine {
	e := &engine{}
	e.init(p, rng)
	return e
}

// init makes e a fresh engine: nothing in flight, time 0.
func (e *engine) init(p *params, rng *rand.Rand) {
	*e = engine{p: p, rng: rng}
	e.ag.delay = &p.delays
}

// setDelays fills the delays of the agenda's fixed-delay queues; p must be complete.
func (p *params) setDelays() {
	d := &p.delays
	d[qClientTimeout] = p.clientTimeout
	d[qLeaseTimeout] = p.leaseTimeout
	d[qConnectTimeout] = p.connTimeout
	d[qSocketTimeout] = p.sockTimeout
	d[qHalfTrip] = p.halfTrip
	d[qStatic] = p.static
	d[qOverhead] = p.pageOverhead
	d[qInProcess] = p.inProcess
	d[qNow] = 0
	d[qWork] = p.work.base / 1e9 // used only by fixed work times (workDist.draw)
	d[qIdle] = p.idleTimeout
	d[qFinWait] = finTimeout
	d[qTimeWait] = timeWait
}

// schedule schedules an event at time t (a delay that varies: on the agenda's heap).
func (e *engine) schedule(t float64, kind evKind, id int32, gen uint32) {
	e.ag.at(t, kind, id, gen)
}

// after schedules an event the fixed delay of agenda queue q from now.
func (e *engine) after(q int, kind evKind, id int32, gen uint32) {
	e.ag.after(e.now, q, kind, id, gen)
}

// statusCounts counts the answers by HTTP status. The model answers 200, 502 (a failed
// self-call) or 503 (a full queue, an admission limit), and a client that gives up gets none: a
// fixed array, copied with the engine, rather than a map a clone would have to rebuild.
type statusCounts [maxStatuses]statusCount

// maxStatuses bounds the distinct statuses the model answers with (three are used).
const maxStatuses = 4

type statusCount struct {
	status uint16
	n      int64
}

func (s *statusCounts) add(status uint16) {
	for i := range s {
		if s[i].status == status || s[i].n == 0 {
			s[i].status = status
			s[i].n++
			return
		}
	}
	panic(fmt.Sprintf("model: more than %d distinct statuses", maxStatuses))
}

// get is the count of status.
func (s *statusCounts) get(status uint16) int64 {
	for _, c := range s {
		if c.status == status && c.n > 0 {
			return c.n
		}
	}
	return 0
}

// total is the count of every status.
func (s *statusCounts) total() int64 {
	var n int64
	for _, c := range s {
		n += c.n
	}
	return n
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

func (e *engine) fds() int { return e.p.baseFDs + e.open + e.poolFDs + e.bulkOpen }

func (e *engine) fdsFull() bool { return e.p.nofile > 0 && e.fds() >= e.p.nofile }

// --- the step loop ---

// step processes the next event that changes something (an event made moot meanwhile, such as
// the timeout of a request answered in time, is dropped on the way); false when none is left.
func (e *engine) step() bool {
	for {
		src, t := e.ag.next()
		if src == srcNone {
			return false
		}
		ev := e.ag.take(src)
		e.now = t
		if e.dispatch(ev) {
			return true
		}
	}
}

// peek is the time of the next event, +Inf when none is pending.
func (e *engine) peek() float64 {
	if src, t := e.ag.next(); src != srcNone {
		return t
	}
	return math.Inf(1)
}

// dispatch handles ev; false when it was moot (it changed nothing).
func (e *engine) dispatch(ev event) bool {
	switch ev.kind {
	case evArrival:
		e.onArrival()
	case evClientTimeout:
		return e.onClientTimeout(ev)
	case evSynRetry:
		e.onSynRetry(ev)
	case evConnectTimeout:
		return e.onConnectTimeout(ev)
	case evAcceptRetry:
		e.acceptWait = false
		e.tryAccept()
	case evBulkRetry:
		e.bulkAcceptWait = false
		e.tryBulkAccept()
	case evWorkEnd:
		r := e.live(ref{ev.id, ev.gen})
		if r == nil || r.state != rsWorking {
			return false
		}
		e.startSelfCall(ev.id)
	case evLeaseTimeout:
		r := e.live(ref{ev.id, ev.gen})
		if r == nil || r.state != rsLeasing {
			return false
		}
		e.onLeaseTimeout(ev.id)
	case evInnerArrive:
		e.onInnerArrive(ev)
	case evInnerServed:
		e.onInnerServed(ev)
	case evInnerResponse:
		e.onInnerResponse(ev)
	case evSocketTimeout:
		return e.onSocketTimeout(ev)
	case evPageEnd:
		r := e.live(ref{ev.id, ev.gen})
		if r == nil || r.state != rsFinishing {
			return false
		}
		e.endPage(ev.id)
	case evIdleTimeout:
		return e.onIdleTimeout(ev)
	case evReap:
		c := e.liveConn(ref{ev.id, ev.gen})
		if c == nil || c.srv != tCloseWait {
			return false
		}
		e.setSrv(c, tReaped)
	case evFinWaitEnd:
		c := e.liveConn(ref{ev.id, ev.gen})
		if c == nil || c.cli != tFinWait2 {
			return false
		}
		e.setCli(c, tGone)
		e.maybeFreeConn(ev.id)
	case evServerTimeWaitEnd:
		e.srvN[tTimeWait]--
		e.srvN[tGone]++
	case evClientTimeWaitEnd:
		e.cliN[tTimeWait]--
		e.cliN[tGone]++
	default:
		e.dispatchRun(ev)
	}
	return true
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
			e.ag.setArrival(t)
		}
		return
	}
	if e.rate > 0 {
		e.ag.setArrival(e.now + e.rng.ExpFloat64()/e.rate)
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
		e.after(qClientTimeout, evClientTimeout, id, r.gen)
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
		e.setCli(c, tEst)
		e.setSrv(c, tEst)
		if c.bulk {
			// The bulkhead's static connector: its accept queue never fills (the self-call
			// pool's max_total connections at most), its acceptor needs an fd of the process.
			c.acc = aBacklog
			e.bulkBacklog.push(e.connRef(cid))
			e.tryBulkAccept()
			return
		}
		// The split topology's static server: its own process, always accepting.
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
func (e *engine) onClientTimeout(ev event) bool {
	r := e.live(ref{ev.id, ev.gen})
	if r == nil || !r.waiting {
		return false
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
	return true
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
	if c.srv == tEst {
		e.setSrv(c, tCloseWait)
		e.setCli(c, tFinWait2)
		if e.p.sockets {
			e.after(qFinWait, evFinWaitEnd, cid, c.gen)
		}
		if c.acc == aAccepted {
			e.scheduleReap(cid)
		}
		if e.p.honorClose && (c.app || c.bulk) && c.acc == aAccepted {
			e.abandon(cid)
		}
		return
	}
	e.setCli(c, tGone)
	e.maybeFreeConn(cid)
}

// abandon: under honor_client_close, a request on cid that waits (for a worker, or for an
// admission permit) is dropped when its client leaves, and its connection closed, as the
// connector's queue and the app's admission limit give up on a cancelled request context.
func (e *engine) abandon(cid int32) {
	c := &e.conns[cid]
	rid := c.req.id
	if e.live(c.req) == nil {
		return
	}
	r := &e.reqs[rid]
	switch r.state {
	case rsQueued:
		switch {
		case c.bulk:
			e.bulkQueueLive--
		case r.kind == kindInner:
			e.queueLive--
			e.innerQueued--
		default:
			e.queueLive--
		}
	case rsGated:
		e.permitLive--
	case rsAdmitWait:
		e.permitLive--
		r.onWorker = false
		e.pages--
		e.releaseWorker()
	default:
		return
	}
	r = &e.reqs[rid]
	r.state = rsDone
	e.serverDone(r)
	e.dropPermit(r)
	e.conns[cid].req = ref{-1, 0}
	e.serverClose(cid)
	e.maybeFreeRequest(rid)
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
	switch {
	case c.app:
		e.open--
	case c.bulk:
		e.bulkOpen--
	}
	switch c.srv {
	case tEst:
		// The server closes first: it keeps TIME_WAIT, the client closes at once.
		e.lingerServer(c)
		if c.cli == tEst {
			if c.kind == connPool {
				e.poolFDs--
			}
			e.setCli(c, tGone)
		}
	case tCloseWait, tReaped:
		e.setSrv(c, tGone)
		if c.cli == tFinWait2 {
			e.lingerClient(c)
		}
	}
	if c.worker {
		c.worker = false
		e.releaseWorker()
	}
	e.tryAccept()
	e.maybeFreeConn(cid)
}

// lingerServer: c's server side closed first and lingers in TIME_WAIT for timeWait. Such a
// socket holds no fd and no slot, and nothing waits for its end: it is only counted (srvN), and
// the connection is done with at once. A system without a record (params.sockets off) does not
// even count it.
func (e *engine) lingerServer(c *conn) {
	if !c.app || !e.p.sockets {
		e.setSrv(c, tGone)
		return
	}
	e.setSrv(c, tTimeWait) // counted until evServerTimeWaitEnd
	c.srv = tGone
	e.after(qTimeWait, evServerTimeWaitEnd, -1, 0)
}

// lingerClient: c's client side, in FIN_WAIT2, gets the server's FIN and lingers in TIME_WAIT,
// as lingerServer.
func (e *engine) lingerClient(c *conn) {
	if !c.app || !e.p.sockets {
		e.setCli(c, tGone)
		return
	}
	e.setCli(c, tTimeWait) // counted until evClientTimeWaitEnd
	c.cli = tGone
	e.after(qTimeWait, evClientTimeWaitEnd, -1, 0)
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
			e.acceptDelay = nextBackoff(e.acceptDelay)
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
// FIFO queue (a page of admission queue mode first waits for its permit), bio at once on the
// connection's own worker; the bulkhead's static connector to its own pool.
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
	if c.bulk {
		e.startBulk(id)
		return
	}
	if e.p.bio {
		e.run(id)
		return
	}
	if r.kind != kindInner && e.p.admission == topology.AdmitQueue && !e.takePermit(id) {
		// A limiter in front of the pool: the page waits for a permit, holding no worker.
		r.state = rsGated
		e.permitWait.push(e.reqRef(id))
		e.permitLive++
		return
	}
	e.toWorker(id)
}

// toWorker gives request id a worker, or a place in the worker queue; with a bounded queue
// (max_queue_size) already full, it is refused with 503 at once, holding no worker, as
// simulator/connector's AcquireBounded refuses.
func (e *engine) toWorker(id int32) {
	if e.busy < e.p.workers && e.queueLive == 0 {
		e.busy++
		e.run(id)
		return
	}
	if e.p.queueLimit > 0 && e.queueLive >= e.p.queueLimit {
		e.refuse(id)
		return
	}
	r := &e.reqs[id]
	r.state = rsQueued
	e.queue.push(e.reqRef(id))
	e.queueLive++
	if r.kind == kindInner {
		e.innerQueued++
	}
}

// refuse answers request id at once without a worker, because the worker queue is full: a
// page or probe gets 503; a self-call's 503 travels back to its page, which answers 502; an
// async page that cannot take a worker again to finish answers 502 (the app's "resume async
// page" error).
func (e *engine) refuse(id int32) {
	r := &e.reqs[id]
	if r.kind == kindInner {
		r.state = rsDone
		r.status = http503
		e.innerAnswered(id)
		return
	}
	r.state = rsFinishing
	r.status = http503
	if r.resume {
		r.resume = false
		r.status = http502
	}
	e.after(qNow, evPageEnd, id, r.gen)
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
		if r.kind == kindInner {
			e.innerQueued--
		}
		e.run(rr.id)
		return
	}
	e.busy--
}

// run starts request id on one of the app's workers, already counted busy. A page first
// passes the admission limit's filter (wait, reject), which runs in the worker it holds; an
// async page taking a worker again finishes on it.
func (e *engine) run(id int32) {
	r := &e.reqs[id]
	if r.kind == kindInner {
		r.state = rsServing
		e.after(qStatic, evInnerServed, id, r.gen)
		return
	}
	r.onWorker = true
	e.pages++
	if r.resume {
		r.resume = false
		r.state = rsFinishing
		if r.status == http502 {
			e.after(qNow, evPageEnd, id, r.gen)
		} else {
			e.after(qOverhead, evPageEnd, id, r.gen)
		}
		return
	}
	if adm := e.p.admission; (adm == topology.AdmitWait || adm == topology.AdmitReject) && !e.takePermit(id) {
		if adm == topology.AdmitReject {
			r.state = rsFinishing
			r.status = http503
			e.after(qNow, evPageEnd, id, r.gen)
			return
		}
		r.state = rsAdmitWait
		e.permitWait.push(e.reqRef(id))
		e.permitLive++
		return
	}
	e.startWork(id)
}

// startWork: page id, on its worker, starts its work time.
func (e *engine) startWork(id int32) {
	r := &e.reqs[id]
	r.state = rsWorking
	r.workAt = e.now
	if e.p.work.dist == app.WorkFixed {
		e.after(qWork, evWorkEnd, id, r.gen)
		return
	}
	e.schedule(e.now+e.p.work.draw(e.rng), evWorkEnd, id, r.gen)
}

// HTTP statuses the model answers with besides 200.
const (
	http502 = http.StatusBadGateway         // the page's self-call failed
	http503 = http.StatusServiceUnavailable // a full worker queue, an admission limit
)

// --- the admission limit ---

// takePermit gives page id an admission permit if one is free and nobody waits for one
// (a FIFO semaphore, as simulator/app's admission).
func (e *engine) takePermit(id int32) bool {
	if e.permitsHeld < e.p.permits && e.permitLive == 0 {
		e.permitsHeld++
		e.reqs[id].permit = true
		return true
	}
	return false
}

// dropPermit gives back the permit r holds, if any, to the longest waiter: in wait mode it
// starts its work on the worker it holds, in queue mode it goes on to the worker queue.
func (e *engine) dropPermit(r *request) {
	if !r.permit {
		return
	}
	r.permit = false
	for !e.permitWait.empty() {
		rr := e.permitWait.pop()
		w := e.live(rr)
		if w == nil || w.state != rsAdmitWait && w.state != rsGated {
			continue
		}
		e.permitLive--
		w.permit = true
		if w.state == rsAdmitWait {
			e.startWork(rr.id)
		} else {
			e.toWorker(rr.id)
		}
		return
	}
	e.permitsHeld--
}

// --- the bulkhead's static connector ---

// tryBulkAccept accepts the bulkhead connector's pending connections while an fd is free; out
// of fds it backs off as the app's acceptor does (its own acceptor, its own back-off).
func (e *engine) tryBulkAccept() {
	for !e.bulkAcceptWait && !e.bulkBacklog.empty() {
		if e.fdsFull() {
			e.bulkAcceptDelay = nextBackoff(e.bulkAcceptDelay)
			e.bulkAcceptWait = true
			e.schedule(e.now+e.bulkAcceptDelay, evBulkRetry, -1, 0)
			return
		}
		cr := e.bulkBacklog.pop()
		c := e.liveConn(cr)
		if c == nil || c.acc != aBacklog {
			continue
		}
		e.bulkAcceptDelay = 0
		c.acc = aAccepted
		c.accAt = e.now
		e.bulkOpen++
		if c.srv == tCloseWait {
			e.scheduleReap(cr.id)
		}
		if r := e.live(c.req); r != nil && r.state == rsPending {
			e.startRequest(cr.id)
		}
	}
}

// startBulk hands self-call id to a worker of the bulkhead connector, or to its queue.
func (e *engine) startBulk(id int32) {
	r := &e.reqs[id]
	if e.bulkBusy < e.p.bulkWorkers && e.bulkQueueLive == 0 {
		e.bulkBusy++
		r.state = rsServing
		e.after(qStatic, evInnerServed, id, r.gen)
		return
	}
	r.state = rsQueued
	e.bulkQueue.push(e.reqRef(id))
	e.bulkQueueLive++
}

// releaseBulkWorker frees a worker of the bulkhead connector to the head of its queue.
func (e *engine) releaseBulkWorker() {
	for !e.bulkQueue.empty() {
		rr := e.bulkQueue.pop()
		r := e.live(rr)
		if r == nil || r.state != rsQueued {
			continue
		}
		e.bulkQueueLive--
		r.state = rsServing
		e.after(qStatic, evInnerServed, rr.id, rr.gen)
		return
	}
	e.bulkBusy--
}

// --- the page and its self-call ---

// startSelfCall: the page's work is done; it leases a pool connection, a route slot first,
// then a total one, each first come first served (HttpClient's pool, simulator/selfcall). An
// async page gives its worker back first; an inproc page makes no call: it reads the file and
// answers.
func (e *engine) startSelfCall(id int32) {
	r := &e.reqs[id]
	if e.p.fragment == topology.InProcess {
		r.state = rsFinishing
		r.status = http.StatusOK
		e.after(qInProcess, evPageEnd, id, r.gen)
		return
	}
	if e.p.async && r.onWorker {
		r.onWorker = false
		e.pages--
		e.releaseWorker()
		r = &e.reqs[id]
	}
	r.callStart = e.now
	r.state = rsLeasing
	e.leaseWaiters++
	if e.p.leaseTimeout > 0 {
		e.after(qLeaseTimeout, evLeaseTimeout, id, r.gen)
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
			e.sendInner(id, cr.id)
			return
		}
	}
	if e.fdsFull() {
		// socket() fails with EMFILE: the self-call fails at once.
		e.selfCallFailed(id, true)
		return
	}
	cid := e.newConn(connPool, e.p.fragment == topology.FromSelf)
	c := &e.conns[cid]
	c.bulk = e.p.fragment == topology.FromBulkhead
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
		e.after(qConnectTimeout, evConnectTimeout, cid, c.gen)
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
func (e *engine) onConnectTimeout(ev event) bool {
	c := e.liveConn(ref{ev.id, ev.gen})
	if c == nil || c.cli != tSyn {
		return false
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
	return true
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
	e.after(qHalfTrip, evInnerArrive, iid, in.gen)
	if e.p.sockTimeout > 0 {
		e.after(qSocketTimeout, evSocketTimeout, iid, in.gen)
	}
}

// onInnerArrive: the self-call's request reaches its server. On the app (self) it waits for a
// worker like any request, and on the bulkhead's connector for one of its own; the split
// topology's static server serves it at once.
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
	case !c.app && !c.bulk:
		in.state = rsServing
		e.after(qStatic, evInnerServed, ev.id, ev.gen)
	case c.acc == aAccepted:
		e.startRequest(in.conn.id)
	}
	// Otherwise the connection waits in the accept queue; tryAccept starts the request.
}

// onInnerServed: the static handler has written the file. On the app it frees its worker
// (nio; in bio the worker stays with the keep-alive connection), on the bulkhead's connector
// one of that one's.
func (e *engine) onInnerServed(ev event) {
	in := e.live(ref{ev.id, ev.gen})
	if in == nil || in.state != rsServing {
		return
	}
	in.state = rsDone
	in.status = http.StatusOK
	c := &e.conns[in.conn.id]
	switch {
	case c.app && !e.p.bio:
		e.releaseWorker()
	case c.bulk:
		e.releaseBulkWorker()
	}
	e.innerAnswered(ev.id)
}

// innerAnswered: the server has answered self-call iid (in.status); the answer travels back
// to the page.
func (e *engine) innerAnswered(iid int32) {
	in := &e.reqs[iid]
	cid := in.conn.id
	c := &e.conns[cid]
	if c.cli == tEst && in.waiting {
		e.after(qHalfTrip, evInnerResponse, iid, in.gen)
		return
	}
	// The self-call gave up (socket_timeout) and closed: the server writes into the void and
	// closes its CLOSE_WAIT socket.
	c.req = ref{-1, 0}
	if c.app || c.bulk {
		e.serverClose(cid)
	} else {
		e.setSrv(c, tGone)
		c.acc = aClosed
		e.maybeFreeConn(cid)
	}
	e.maybeFreeRequest(iid)
}

// onInnerResponse: the self-call's answer reaches the page; the connection goes back to the
// pool. With the fragment (200) the page finishes; an async page first takes a worker again,
// at the queue's tail. A refused self-call (503) fails the page, 502.
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
	if in.status != http.StatusOK {
		e.failPage(pr.id)
		e.maybeFreeRequest(ev.id)
		return
	}
	e.selfcallN++
	e.selfcallSum += e.now - p.callStart
	p.status = http.StatusOK
	if !p.onWorker {
		e.resume(pr.id)
	} else {
		p.state = rsFinishing
		e.after(qOverhead, evPageEnd, pr.id, pr.gen)
	}
	e.maybeFreeRequest(ev.id)
}

// resume: async page pid, its self-call over (p.status says how), takes a worker again to
// finish, at the tail of the worker queue, as the connector's Worker.Reacquire does.
func (e *engine) resume(pid int32) {
	p := &e.reqs[pid]
	p.resume = true
	e.toWorker(pid)
}

// onSocketTimeout: no byte of the self-call's response within socket_timeout. The client closes
// the connection (the pool drops it), the page answers 502 and frees its worker; the inner
// request stays queued on the server, whose socket turns CLOSE_WAIT.
func (e *engine) onSocketTimeout(ev event) bool {
	in := e.live(ref{ev.id, ev.gen})
	if in == nil || !in.waiting {
		return false
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
	return true
}

// selfCallFailed: page pid's self-call failed; it gives back its lease and answers 502, as the
// app's http.Error(..., StatusBadGateway).
func (e *engine) selfCallFailed(pid int32, leased bool) {
	if leased {
		e.releaseLease()
	}
	e.failPage(pid)
}

// failPage: page pid answers 502 at once; an async page first takes a worker again (the app
// writes its error on a worker, as its answer).
func (e *engine) failPage(pid int32) {
	p := &e.reqs[pid]
	p.status = http502
	if e.p.async && !p.onWorker {
		e.resume(pid)
		return
	}
	p.state = rsFinishing
	e.after(qNow, evPageEnd, pid, p.gen)
}

// endPage: page pid answers; its worker goes to the next request in line, its admission
// permit to the next page waiting for one (in the order simulator/app gives them back: the
// servlet filter's permit before the worker, the connector's gate's after it).
func (e *engine) endPage(pid int32) {
	p := &e.reqs[pid]
	p.state = rsDone
	e.serverDone(p)
	gate := e.p.admission == topology.AdmitQueue
	if !gate {
		e.dropPermit(p)
	}
	p = &e.reqs[pid]
	if p.onWorker {
		p.onWorker = false
		e.pages--
		if !e.p.bio {
			e.releaseWorker()
		}
	}
	if p = &e.reqs[pid]; gate {
		e.dropPermit(p)
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
	e.statusCounts.add(p.status)
	kind := "ok"
	if p.status != http.StatusOK {
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

// armIdle starts the server's keep-alive timer on a connection of the app (or of the
// bulkhead's connector, which has the same settings) that has just gone idle (see
// conn.timerSet).
func (e *engine) armIdle(cid int32) {
	c := &e.conns[cid]
	if !c.app && !c.bulk || e.p.idleTimeout <= 0 {
		return
	}
	c.idleAt = e.now
	if !c.timerSet {
		c.timerSet = true
		e.after(qIdle, evIdleTimeout, cid, c.gen)
	}
}

// onIdleTimeout: cid's timer is due. The server closes the connection if it has been idle for
// keep_alive_timeout; if it was used since and is idle again, the timer is set for the end of
// the new idle spell.
func (e *engine) onIdleTimeout(ev event) bool {
	c := e.liveConn(ref{ev.id, ev.gen})
	if c == nil {
		return false
	}
	c.timerSet = false
	if !c.idle {
		return false
	}
	if due := c.idleAt + e.p.idleTimeout; due > e.now {
		c.timerSet = true
		e.schedule(due, evIdleTimeout, ev.id, ev.gen)
		return false
	}
	e.serverClose(ev.id)
	return true
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

// absorbed reports the hang for good: every worker holds a page, no timeout can free one, and
// no self-call can still be refused. Whether such a state exists at all for these mechanics and
// keys is topology.CanHang's answer (p.canHang: the page's self-call goes to its own connector,
// not async, pages can hold every worker, no socket_timeout, and no connection_request_timeout
// unless every page can hold a lease); here is only whether the state is in it. Then each page
// needs a worker for its self-call, and none will ever free; with connect_timeout, only once
// every lease is held and no dial is under way (otherwise a self-call dial into a full accept
// queue could still time out and free a worker). A page waiting for an admission permit
// (admission wait) holds its worker too: the permits are all held by pages that wait for a
// worker.
//
// With a bounded queue (bounded-queue) a self-call that reaches a full queue is refused, and
// its page fails and frees its worker; so the state absorbs only once every lease a page can
// hold is held by a page whose self-call is already in the queue: those wait behind pages for
// good, and every other page waits for their leases.
func (e *engine) absorbed() bool {
	p := e.p
	if !p.canHang || e.pages < p.workers {
		return false
	}
	leaseCap := min(p.perRoute, p.maxTotal)
	if p.connTimeout > 0 && (e.totalHeld < min(leaseCap, p.workers) || e.dialing > 0) {
		return false
	}
	if p.queueLimit > 0 && e.innerQueued < min(leaseCap, p.workers) {
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

// rest returns a new draw of an exponential work time that has lasted elapsed seconds and not
// ended: by memorylessness, elapsed plus a fresh exponential, under the same cap and rounding
// as draw.
func (w workDist) rest(elapsed float64, rng *rand.Rand) float64 {
	d := elapsed*1e9 + w.base*rng.ExpFloat64()
	return math.Round(math.Min(d, w.cap)) / 1e9
}

// cloneInto makes c a deep copy of the state of a steady system (Steady: no observer, no
// pacer); the copy draws from rng, and its memoryless clocks are redrawn from it at once (see
// redraw). A steady system holds a few dozen requests, connections and events (TIME_WAIT
// sockets are not even followed, see Steady), so a clone is a handful of small allocations:
// the slices of one element type share one block (cloneAll), and the config (params) is
// shared, never copied.
func (e *engine) cloneInto(c *engine, rng *rand.Rand) {
	*c = *e
	c.rng = rng
	c.ag = e.ag.clone()
	cloneAll(cloneSlack, &c.reqs)
	cloneAll(cloneSlack, &c.conns)
	cloneAll(cloneSlack, &c.freeReqs, &c.freeConn)
	queues := []*fifo{&c.queue, &c.backlog, &c.routeWait, &c.totalWait, &c.permitWait, &c.bulkQueue, &c.bulkBacklog}
	for _, q := range queues {
		q.items, q.head = q.items[q.head:], 0
	}
	cloneAll(cloneSlack, &c.queue.items, &c.backlog.items, &c.routeWait.items, &c.totalWait.items, &c.permitWait.items,
		&c.bulkQueue.items, &c.bulkBacklog.items, &c.poolIdle, &c.clientIdle)
	c.obs, c.pacer = nil, nil
	c.redraw()
}

// cloneSlack is the room each slice of a clone has to grow before an append moves it: a
// trajectory adds a few requests and connections, and recycles them.
const cloneSlack = 4

// cloneAll replaces each slice by a copy; the copies share one new block, each with room for
// slack more elements (its capacity ends where the next one starts, so an append beyond it
// moves it rather than overwrite its neighbour).
func cloneAll[T any](slack int, ss ...*[]T) {
	n := 0
	for _, s := range ss {
		n += len(*s) + slack
	}
	block := make([]T, n)
	for _, s := range ss {
		k := len(*s)
		*s = append(block[:0:k+slack], *s...)
		block = block[k+slack:]
	}
}

// redraw draws again, from the engine's generator, every pending clock whose remaining time has
// the same law whatever the past: the Poisson source's next arrival, and the end of each
// exponential work time under way (capped like workDist.draw caps it). Fixed and lognormal
// work times keep their ends: what remains of them depends on how long they have run.
//
// Why this is sound: the state a clone copies is taken at an event, chosen by what happened up
// to it (for splitting, the entrance into a level). Given that past, the time to the next
// arrival of a Poisson source is exponential with its rate, independent of the past, and so is
// the rest of an exponential work time that has not ended (memorylessness; the cap only cuts
// it where the original draw would have been cut). A clone that redraws them follows exactly
// the law the original follows from that state on; it just does not share the original's
// draws. Without the redraw every clone of a state would get the arrival the original had
// already drawn, so the trajectories split from one state would start out alike and the
// estimate would be as unbiased but much less precise. The draws are made in a fixed order
// (the arrival, then the heap's events by index), so clones of one state with one seed evolve
// identically.
func (e *engine) redraw() {
	if e.pacer == nil && e.rate > 0 && e.ag.arrives {
		e.ag.arrival.t = e.now + e.rng.ExpFloat64()/e.rate
	}
	if e.p.work.dist != app.WorkExponential {
		return
	}
	moved := false
	for i := range e.ag.h {
		ev := &e.ag.h[i]
		if ev.kind != evWorkEnd {
			continue
		}
		r := e.live(ref{ev.id, ev.gen})
		if r == nil || r.state != rsWorking {
			continue
		}
		ev.t = max(r.workAt+e.p.work.rest(e.now-r.workAt, e.rng), e.now)
		moved = true
	}
	if moved {
		e.ag.h.init()
	}
}

// nextBackoff is an acceptor's next EMFILE back-off after d (0: none yet): Tomcat's, from
// acceptBackoffInitial doubling up to acceptBackoffMax.
func nextBackoff(d float64) float64 {
	if d == 0 {
		return acceptBackoffInitial
	}
	return math.Min(2*d, acceptBackoffMax)
}
