package model

import (
	"math"
	"math/rand/v2"

	"github.com/simdev/sim/internal/serverconf"
)

// observer receives what a run records; nil for the steady systems of the hazard estimators.
type observer interface {
	sent(e *engine, r *request)
	result(e *engine, r *request, status uint16, kind string, latency float64)
}

// engine is the discrete-event simulation of one server and its clients: a clock, an agenda
// of events, and the parts, each a type of its own with its own state, methods and clone, in
// the shape of the socket engine's packages. The engine only dispatches events to them.
//
//   - reqs, conns: the requests and connections every part refers to (tables.go);
//   - tcp: the sockets by TCP state and the process's fds (tcp.go);
//   - app, bulk: the app's connector and the bulkhead's static connector (connector.go);
//   - page: the /page handler and its admission limit (handler.go);
//   - pool: the self-call client's pool (pool.go);
//   - proxy: the front proxy in front of the app's connector (proxy.go);
//   - client: the load client and the recovery probes (client.go);
//   - dog: the watchdog that kills a worker stuck in one page (watchdog.go).
//
// A new mechanic is a new part: a type with its state, its methods taking the engine, its
// clone, and its events dispatched here.
type engine struct {
	p   *params // shared by clones: never changed once the engine runs
	now float64
	ag  agenda
	rng *rand.Rand // work times (and, for a steady system, arrivals)

	reqs   reqTable
	conns  connTable
	tcp    tcpTable
	app    connector
	bulk   connector
	page   pageHandler
	pool   selfCallPool
	proxy  frontProxy
	client loadClient
	dog    watchdog

	obs observer
}

func newEngine(p *params, rng *rand.Rand) *engine {
	e := &engine{}
	e.init(p, rng)
	return e
}

// init makes e a fresh engine: nothing in flight, time 0.
func (e *engine) init(p *params, rng *rand.Rand) {
	*e = engine{
		p: p, rng: rng,
		tcp:  tcpTable{base: p.baseFDs, limit: p.nofile},
		app:  newConnector(p, false),
		bulk: newConnector(p, true),
		page: pageHandler{permits: semaphore{size: p.permits}},
		pool: newSelfCallPool(p),
	}
	e.ag.delay = &p.delays
	if p.poolStart > 0 {
		e.schedule(spawnInterval, evPoolTick, -1, 0)
	}
}

// schedule schedules an event at time t (a delay that varies: on the agenda's heap).
func (e *engine) schedule(t float64, kind evKind, id int32, gen uint32) {
	e.ag.at(t, kind, id, gen)
}

// after schedules an event the fixed delay of agenda queue q from now.
func (e *engine) after(q int, kind evKind, id int32, gen uint32) {
	e.ag.after(e.now, q, kind, id, gen)
}

// connectorOf is the connector whose listener c connects to: the app's, the bulkhead's static
// connector, or nil (the split topology's static server, another process).
func (e *engine) connectorOf(c *conn) *connector {
	switch {
	case c.app:
		return &e.app
	case c.bulk:
		return &e.bulk
	}
	return nil
}

// Which waiters of a semaphore still wait, by their request's state (semaphore.release).

func (e *engine) queued(r ref) bool {
	q := e.reqs.live(r)
	return q != nil && q.state == rsQueued
}

func (e *engine) admitWaiting(r ref) bool {
	q := e.reqs.live(r)
	return q != nil && (q.state == rsAdmitWait || q.state == rsGated)
}

func (e *engine) leasingTotal(r ref) bool {
	q := e.reqs.live(r)
	return q != nil && q.state == rsLeasing && q.route
}

func (e *engine) leasingRoute(r ref) bool {
	q := e.reqs.live(r)
	return q != nil && q.state == rsLeasing && !q.route
}

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
		e.client.onArrival(e)
	case evClientTimeout:
		return e.client.onClientTimeout(e, ev)
	case evSynRetry:
		e.tcp.onSynRetry(e, ev)
	case evConnectTimeout:
		return e.pool.onConnectTimeout(e, ev)
	case evAcceptRetry:
		e.app.retried(e)
	case evBulkRetry:
		e.bulk.retried(e)
	case evWorkEnd:
		r := e.reqs.live(ref{ev.id, ev.gen})
		if r == nil || r.state != rsWorking {
			return false
		}
		e.pool.startSelfCall(e, ev.id)
	case evLeaseTimeout:
		r := e.reqs.live(ref{ev.id, ev.gen})
		if r == nil || r.state != rsLeasing {
			return false
		}
		e.pool.onLeaseTimeout(e, ev.id)
	case evInnerArrive:
		e.onInnerArrive(ev)
	case evInnerServed:
		e.onInnerServed(ev)
	case evInnerResponse:
		e.pool.onInnerResponse(e, ev)
	case evSocketTimeout:
		return e.pool.onSocketTimeout(e, ev)
	case evPageEnd:
		r := e.reqs.live(ref{ev.id, ev.gen})
		if r == nil || r.state != rsFinishing {
			return false
		}
		e.page.endPage(e, ev.id)
	case evIdleTimeout:
		return e.tcp.onIdleTimeout(e, ev)
	case evPoolTick:
		e.app.maintain(e)
		e.schedule(e.now+spawnInterval, evPoolTick, -1, 0)
	case evProxyTimeout:
		return e.proxy.onReadTimeout(e, ev)
	case evProxyConnectTimeout:
		return e.proxy.onConnectTimeout(e, ev)
	case evReap:
		c := e.conns.live(ref{ev.id, ev.gen})
		if c == nil || c.srv != tCloseWait {
			return false
		}
		e.tcp.setSrv(c, tReaped)
	case evFinWaitEnd:
		c := e.conns.live(ref{ev.id, ev.gen})
		if c == nil || c.cli != tFinWait2 {
			return false
		}
		e.tcp.setCli(c, tGone)
		e.conns.maybeFree(ev.id, &e.reqs)
	case evWorkerTimeout:
		return e.dog.onTimeout(e, ev)
	case evWorkerBoot:
		e.dog.onBoot(e)
	case evServerTimeWaitEnd:
		e.tcp.srv[tTimeWait]--
		e.tcp.srv[tGone]++
	case evClientTimeWaitEnd:
		e.tcp.cli[tTimeWait]--
		e.tcp.cli[tGone]++
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

// --- what the estimators and the recorder read ---

// level is the number of workers held by pages.
func (e *engine) level() int { return e.page.pages }

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
//
// With a watchdog (worker_timeout) the state is left only through the kills, each replacement
// taking the next request in line: a dead page while traffic arrives faster than workers /
// (worker_timeout + worker_boot), so it is still the state to estimate the time to
// (topology.CanHang says why), not one the watchdog ends.
func (e *engine) absorbed() bool {
	p := e.p
	if !p.canHang || e.page.pages < p.workers {
		return false
	}
	leaseCap := min(p.perRoute, p.maxTotal)
	if p.connTimeout > 0 && (e.pool.total.held < min(leaseCap, p.workers) || e.pool.dialing > 0) {
		return false
	}
	if p.queueLimit > 0 && e.app.innerQueued < min(leaseCap, p.workers) {
		return false
	}
	return true
}

// cloneInto makes c a deep copy of the state of a steady system (Steady: no observer, no
// pacer); the copy draws from rng, and its memoryless clocks are redrawn from it at once (see
// redraw). Each part clones itself; the config (params) is shared, never copied. A steady
// system holds a few dozen requests, connections and events (TIME_WAIT sockets are not even
// followed, see Steady), so a clone is a handful of small allocations (see cloner).
func (e *engine) cloneInto(c *engine, rng *rand.Rand) {
	*c = *e
	c.rng = rng
	c.obs = nil
	c.ag = e.ag.clone()
	a := cloner{sizing: true}
	c.cloneParts(&a)
	a.sized()
	c.cloneParts(&a)
	c.redraw()
}

// cloneParts has every part of a copy of an engine make its state its own (see cloner for the
// two passes).
func (e *engine) cloneParts(a *cloner) {
	e.reqs.clone(a)
	e.conns.clone(a)
	e.tcp.clone(a)
	e.app.clone(a)
	e.bulk.clone(a)
	e.page.clone(a)
	e.pool.clone(a)
	e.proxy.clone(a)
	e.client.clone(a)
	e.dog.clone(a)
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
	if e.client.pacer == nil && e.client.rate > 0 && e.ag.arrives {
		e.ag.arrival.t = e.now + e.rng.ExpFloat64()/e.client.rate
	}
	if e.p.work.dist != serverconf.WorkExponential {
		return
	}
	moved := false
	for i := range e.ag.h {
		ev := &e.ag.h[i]
		if ev.kind != evWorkEnd {
			continue
		}
		r := e.reqs.live(ref{ev.id, ev.gen})
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
