package model

import (
	"net/http"

	"github.com/simdev/sim/internal/topology"
)

// selfCallPool is the page's HTTP client, the shape of simulator/selfcall (Apache HttpClient
// 4's pool): a lease is a route slot (max_per_route) and then a total one (max_total), each a
// FIFO semaphore, with connection_request_timeout on the wait; a leased page takes an idle
// pooled connection (most recently used first) or dials one (connect_timeout), sends its
// request and waits for the answer (socket_timeout). Its methods are the self-call from the
// page's side, up to the answer it hands back to the page.
type selfCallPool struct {
	route, total semaphore
	idle         []ref // idle pooled connections
	waiters      int   // pages waiting for a lease
	dialing      int   // pages whose self-call connection is connecting
	// calls and callTime are the self-calls answered 200 and their time, lease wait included.
	calls    int64
	callTime float64
	// unpooled is the self-calls in flight without a pool (selfcall_pool false): each holds
	// its own connection, as a lease would, and the app's stats count it as leased.
	unpooled int
}

func newSelfCallPool(p *params) selfCallPool {
	return selfCallPool{route: semaphore{size: p.perRoute}, total: semaphore{size: p.maxTotal}}
}

func (pl *selfCallPool) clone(a *cloner) {
	pl.route.clone(a)
	pl.total.clone(a)
	a.refs(&pl.idle)
}

// startSelfCall: the page's work is done; it leases a pool connection, a route slot first,
// then a total one, each first come first served (HttpClient's pool, simulator/selfcall). An
// async page gives its worker back first; an inproc page makes no call: it reads the file and
// answers.
func (pl *selfCallPool) startSelfCall(e *engine, id int32) {
	r := &e.reqs.all[id]
	if e.p.fragment == topology.InProcess {
		r.state = rsFinishing
		r.status = http.StatusOK
		e.after(qInProcess, evPageEnd, id, r.gen)
		return
	}
	if e.p.async && r.onWorker {
		r.onWorker = false
		e.page.pages--
		e.app.releaseWorker(e)
		r = &e.reqs.all[id]
	}
	r.callStart = e.now
	r.state = rsLeasing
	pl.waiters++
	if e.p.unpooled {
		// No pool, no lease: the call dials at once (leased skips the idle list, always empty).
		pl.unpooled++
		pl.leased(e, id)
		return
	}
	if e.p.leaseTimeout > 0 {
		e.after(qLeaseTimeout, evLeaseTimeout, id, r.gen)
	}
	if pl.route.tryAcquire() {
		r.route = true
		pl.leaseTotal(e, id)
		return
	}
	pl.route.enqueue(e.reqs.ref(id))
}

func (pl *selfCallPool) leaseTotal(e *engine, id int32) {
	if pl.total.tryAcquire() {
		pl.leased(e, id)
		return
	}
	pl.total.enqueue(e.reqs.ref(id))
}

// onLeaseTimeout: connection_request_timeout ran out while page id waited for a lease; a route
// slot it already held goes back (simulator/selfcall does the same).
func (pl *selfCallPool) onLeaseTimeout(e *engine, id int32) {
	r := &e.reqs.all[id]
	pl.waiters--
	if r.route {
		r.route = false
		pl.total.leave()
		pl.releaseRoute(e)
	} else {
		pl.route.leave()
	}
	e.page.failPage(e, id)
}

// releaseLease gives back a page's total and route slots, in that order, each to its longest
// waiter.
func (pl *selfCallPool) releaseLease(e *engine) {
	if e.p.unpooled {
		pl.unpooled-- // nothing was leased: the call is over
		return
	}
	if rr, ok := pl.total.release(e.leasingTotal); ok {
		pl.leased(e, rr.id)
	}
	pl.releaseRoute(e)
}

func (pl *selfCallPool) releaseRoute(e *engine) {
	if rr, ok := pl.route.release(e.leasingRoute); ok {
		e.reqs.all[rr.id].route = true
		pl.leaseTotal(e, rr.id)
	}
}

// leased: page id holds a lease; it takes an idle pooled connection or dials a new one.
func (pl *selfCallPool) leased(e *engine, id int32) {
	r := &e.reqs.all[id]
	r.route = false
	pl.waiters--
	pl.connect(e, id)
}

// connect: page id, holding its lease, takes an idle pooled connection or dials a new one for
// its self-call (a first try or a retry).
func (pl *selfCallPool) connect(e *engine, id int32) {
	r := &e.reqs.all[id]
	for len(pl.idle) > 0 {
		cr := pl.idle[len(pl.idle)-1]
		pl.idle = pl.idle[:len(pl.idle)-1]
		if c := e.conns.live(cr); c != nil && c.idle && c.cli == tEst && c.srv == tEst {
			c.idle = false
			pl.sendInner(e, id, cr.id)
			return
		}
	}
	if e.tcp.full() {
		// socket() fails with EMFILE: the self-call fails at once.
		pl.selfCallFailed(e, id, true)
		return
	}
	// With a front proxy the self-call goes to the proxy (the app's public address), which
	// forwards it to the pool's connector.
	viaProxy := e.p.frontProxy && e.p.fragment == topology.FromSelf
	cid := e.conns.add(connPool, e.p.fragment == topology.FromSelf && !viaProxy)
	c := &e.conns.all[cid]
	c.bulk = e.p.fragment == topology.FromBulkhead
	c.front = viaProxy
	c.req = e.reqs.ref(id) // the page, while it dials
	e.tcp.openFD()
	r.state = rsDialing
	pl.dialing++
	e.tcp.dial(e, cid)
	if c := &e.conns.all[cid]; c.cli == tEst {
		pl.dialed(e, cid)
		return
	}
	if e.p.connTimeout > 0 {
		e.after(qConnectTimeout, evConnectTimeout, cid, c.gen)
	}
}

// dialed: pool connection cid has connected; the page that dialed it sends its request.
func (pl *selfCallPool) dialed(e *engine, cid int32) {
	c := &e.conns.all[cid]
	pr := c.req
	if p := e.reqs.live(pr); p == nil || p.state != rsDialing {
		return
	}
	c.req = ref{-1, 0}
	pl.dialing--
	pl.sendInner(e, pr.id, cid)
}

// onConnectTimeout: a self-call's connect did not complete (its SYNs were dropped by a full
// accept queue) within connect_timeout; the page answers 502.
func (pl *selfCallPool) onConnectTimeout(e *engine, ev event) bool {
	c := e.conns.live(ref{ev.id, ev.gen})
	if c == nil || c.cli != tSyn {
		return false
	}
	pr := c.req
	c.req = ref{-1, 0}
	e.tcp.closeFD()
	e.tcp.setCli(c, tGone)
	e.conns.maybeFree(ev.id, &e.reqs)
	if p := e.reqs.live(pr); p != nil && p.state == rsDialing {
		pl.dialing--
		pl.selfCallFailed(e, pr.id, true)
	}
	return true
}

// sendInner sends page pid's self-call request on pool connection cid.
func (pl *selfCallPool) sendInner(e *engine, pid, cid int32) {
	iid := e.reqs.add(kindInner)
	in := &e.reqs.all[iid]
	p := &e.reqs.all[pid]
	in.waiting = true
	in.state = rsInFlight
	in.sent = e.now
	in.other = e.reqs.ref(pid)
	in.conn = e.conns.ref(cid)
	if e.conns.all[cid].front {
		// To the front proxy: it dials its upstream connection when the request reaches it.
		in.front, in.conn = in.conn, ref{-1, 0}
	}
	p.other = e.reqs.ref(iid)
	p.state = rsCalling
	e.conns.all[cid].req = e.reqs.ref(iid)
	e.after(qHalfTrip, evInnerArrive, iid, in.gen)
	if e.p.sockTimeout > 0 {
		e.after(qSocketTimeout, evSocketTimeout, iid, in.gen)
	}
}

// innerAnswered: the server has answered self-call iid (in.status); the answer travels back
// to the page.
func (pl *selfCallPool) innerAnswered(e *engine, iid int32) {
	in := &e.reqs.all[iid]
	cid := in.conn.id
	c := &e.conns.all[cid]
	if c.cli == tEst && in.waiting {
		e.after(qHalfTrip, evInnerResponse, iid, in.gen)
		return
	}
	// The self-call gave up (socket_timeout) and closed: the server writes into the void and
	// closes its CLOSE_WAIT socket.
	c.req = ref{-1, 0}
	if c.app || c.bulk {
		e.tcp.serverClose(e, cid)
	} else {
		e.tcp.setSrv(c, tGone)
		c.acc = aClosed
		e.conns.maybeFree(cid, &e.reqs)
	}
	e.reqs.maybeFree(iid)
}

// onInnerResponse: the self-call's answer reaches the page; the connection goes back to the
// pool. With the fragment (200) the page finishes; an async page first takes a worker again,
// at the queue's tail. A refused self-call (503) fails the page, 502.
func (pl *selfCallPool) onInnerResponse(e *engine, ev event) {
	in := e.reqs.live(ref{ev.id, ev.gen})
	if in == nil || !in.waiting {
		return
	}
	in.waiting = false
	pr := in.other
	e.conns.all[in.conn.id].req = ref{-1, 0}
	if fc := in.front; fc.id >= 0 {
		// Through the front proxy: it closes its upstream connection and passes the answer on.
		e.proxy.answered(e, ev.id)
		in = &e.reqs.all[ev.id]
		in.front = ref{-1, 0}
		pl.endCall(e, fc)
	} else {
		pl.endCall(e, in.conn)
	}
	pl.releaseLease(e)
	p := e.reqs.live(pr)
	if p == nil || p.state != rsCalling {
		e.reqs.maybeFree(ev.id)
		return
	}
	p.other = ref{-1, 0}
	if in.status != http.StatusOK {
		e.page.failPage(e, pr.id)
		e.reqs.maybeFree(ev.id)
		return
	}
	pl.calls++
	pl.callTime += e.now - p.callStart
	p.status = http.StatusOK
	if !p.onWorker {
		e.page.resume(e, pr.id)
	} else {
		p.state = rsFinishing
		e.after(qOverhead, evPageEnd, pr.id, pr.gen)
	}
	e.reqs.maybeFree(ev.id)
}

// onSocketTimeout: no byte of the self-call's response within socket_timeout. The client closes
// the connection (the pool drops it), the page answers 502 and frees its worker; the inner
// request stays queued on the server, whose socket turns CLOSE_WAIT.
func (pl *selfCallPool) onSocketTimeout(e *engine, ev event) bool {
	in := e.reqs.live(ref{ev.id, ev.gen})
	if in == nil || !in.waiting {
		return false
	}
	in.waiting = false
	pr := in.other
	if in.front.id >= 0 {
		e.proxy.clientLeft(e, ev.id)
	} else {
		e.tcp.clientClose(e, in.conn.id)
	}
	e.reqs.maybeFree(ev.id)
	if p := e.reqs.live(pr); p != nil && p.state == rsCalling {
		p.other = ref{-1, 0}
		if int(p.retries) < e.p.retries {
			// Net::HTTP's retry: the same GET on a new connection, at the tail of the queue,
			// the lease kept.
			p.retries++
			pl.connect(e, pr.id)
			return true
		}
		pl.selfCallFailed(e, pr.id, true)
	}
	return true
}

// endCall: the self-call's connection cr has brought its answer (or the front proxy's 504):
// Connection: close, the client's (no pool) or the app's (keep_alive false, when the call goes
// straight to it): the server closes after its answer, the client at once after reading it,
// and the next self-call dials anew; else it goes back to the pool, idle.
func (pl *selfCallPool) endCall(e *engine, cr ref) {
	c := e.conns.live(cr)
	if c == nil {
		return
	}
	c.req = ref{-1, 0}
	if e.p.unpooled || e.p.closeEach && (c.app || c.bulk) {
		e.tcp.serverClose(e, cr.id)
		return
	}
	c.idle = true
	pl.idle = append(pl.idle, cr)
	e.tcp.armIdle(e, cr.id)
}

// selfCallFailed: page pid's self-call failed; it gives back its lease and answers 502, as the
// app's http.Error(..., StatusBadGateway).
func (pl *selfCallPool) selfCallFailed(e *engine, pid int32, leased bool) {
	if leased {
		pl.releaseLease(e)
	}
	e.page.failPage(e, pid)
}
