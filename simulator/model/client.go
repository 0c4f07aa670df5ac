package model

import "fmt"

// loadClient is the load client, the shape of vegeta's attacker with Go's transport: hits at
// the times the profile's pacer (or, for a steady system, a Poisson source at rate) gives,
// keep-alive connections reused most recently used first, the client timeout (a timed-out
// client closes its connection), the worker cap (a hit held back until a worker frees), and
// the recovery probes, each on a fresh connection.
type loadClient struct {
	idle     []ref // idle keep-alive connections, most recently used last
	inflight int
	heldHit  bool // a hit the worker cap held back
	seq      uint64
	// arrivals counts the hits sent; answered the pages and probes answered, any status;
	// timedOut those given up by their client before an answer; pagesDone the pages the server
	// is done with (answered, dropped, never reached); statuses the answers by status.
	arrivals, answered, timedOut, pagesDone int64
	statuses                                statusCounts

	// The arrivals: a steady Poisson source at rate, or a pacer (Run).
	rate  float64
	pacer func(now float64) (float64, bool)
}

// clone: a clone has no pacer (a steady system's arrivals are its rate's).
func (cl *loadClient) clone(a *cloner) {
	a.refs(&cl.idle)
	cl.pacer = nil
}

// onArrival sends the next hit (unless a worker cap holds it back) and schedules the one after.
func (cl *loadClient) onArrival(e *engine) {
	if e.p.maxWorkers > 0 && cl.inflight >= e.p.maxWorkers {
		// vegeta blocks on its ticks channel until a worker frees; the pacer is asked again
		// only after that hit went out.
		cl.heldHit = true
		return
	}
	cl.sendHit(e)
	cl.scheduleArrival(e)
}

func (cl *loadClient) scheduleArrival(e *engine) {
	if cl.pacer != nil {
		if t, ok := cl.pacer(e.now); ok {
			e.ag.setArrival(t)
		}
		return
	}
	if cl.rate > 0 {
		e.ag.setArrival(e.now + e.rng.ExpFloat64()/cl.rate)
	}
}

// sendHit sends one page request from the load client.
func (cl *loadClient) sendHit(e *engine) {
	id := e.reqs.add(kindPage)
	r := &e.reqs.all[id]
	r.sent, r.waiting, r.seq = e.now, true, cl.seq
	cl.seq++
	cl.arrivals++
	cl.inflight++
	if e.obs != nil {
		e.obs.sent(e, r)
	}
	if e.p.clientTimeout > 0 {
		e.after(qClientTimeout, evClientTimeout, id, r.gen)
	}
	for e.p.keepAlive && len(cl.idle) > 0 {
		cr := cl.idle[len(cl.idle)-1]
		cl.idle = cl.idle[:len(cl.idle)-1]
		if c := e.conns.live(cr); c != nil && c.idle && c.cli == tEst && c.srv == tEst {
			cl.sendOn(e, cr.id, id)
			return
		}
	}
	cl.dial(e, id, connClient)
}

// dial sends request id on a new connection of kind: to the app's listener, or to the front
// proxy, which accepts it at once and forwards the request.
func (cl *loadClient) dial(e *engine, id int32, kind uint8) {
	cid := e.conns.add(kind, !e.p.frontProxy)
	c := &e.conns.all[cid]
	c.front = e.p.frontProxy
	c.req = e.reqs.ref(id)
	if c.front {
		e.reqs.all[id].front = e.conns.ref(cid)
		e.tcp.dial(e, cid)
		e.proxy.forward(e, id)
		return
	}
	e.reqs.all[id].conn = e.conns.ref(cid)
	e.tcp.dial(e, cid)
}

// sendProbe sends a recovery probe: a fresh connection, one request, timeout.
func (cl *loadClient) sendProbe(e *engine, timeout float64) int32 {
	id := e.reqs.add(kindProbe)
	r := &e.reqs.all[id]
	r.sent, r.waiting = e.now, true
	e.schedule(e.now+timeout, evClientTimeout, id, r.gen)
	cl.dial(e, id, connProbe)
	return id
}

// sendOn sends request id on the established, idle connection cid.
func (cl *loadClient) sendOn(e *engine, cid, id int32) {
	c := &e.conns.all[cid]
	c.idle = false
	c.req = e.reqs.ref(id)
	if c.front {
		e.reqs.all[id].front = e.conns.ref(cid)
		e.proxy.forward(e, id)
		return
	}
	e.reqs.all[id].conn = e.conns.ref(cid)
	if c.acc == aAccepted {
		e.app.startRequest(e, cid)
	}
}

// onClientTimeout: the client gives up on request id and closes its connection.
func (cl *loadClient) onClientTimeout(e *engine, ev event) bool {
	r := e.reqs.live(ref{ev.id, ev.gen})
	if r == nil || !r.waiting {
		return false
	}
	r.waiting = false
	cl.timedOut++
	if e.obs != nil {
		e.obs.result(e, r, 0, "timeout", e.now-r.sent)
	}
	page := r.kind == kindPage
	if r.front.id >= 0 {
		e.proxy.clientLeft(e, ev.id)
	} else if c := e.conns.live(r.conn); c != nil {
		e.tcp.clientClose(e, r.conn.id)
		if c := &e.conns.all[r.conn.id]; c.acc == aNone && r.state == rsPending {
			// It never reached the server: its SYNs were all dropped.
			r.state = rsDone
			e.page.serverDone(e, r)
			c.req = ref{-1, 0}
			e.conns.maybeFree(r.conn.id, &e.reqs)
		}
	}
	e.reqs.maybeFree(ev.id)
	if page {
		// Last: a hit the worker cap held back goes out now, and may reuse this request's slot.
		cl.clientDone(e)
	}
	return true
}

// clientDone frees a load-client worker, sending a hit the cap held back.
func (cl *loadClient) clientDone(e *engine) {
	cl.inflight--
	if cl.heldHit {
		cl.heldHit = false
		cl.sendHit(e)
		cl.scheduleArrival(e)
	}
}

// idleClients counts the load client's usable idle connections, dropping stale entries.
func (cl *loadClient) idleClients(e *engine) int {
	live := cl.idle[:0]
	for _, cr := range cl.idle {
		if c := e.conns.live(cr); c != nil && c.idle && c.cli == tEst && c.srv == tEst {
			live = append(live, cr)
		}
	}
	cl.idle = live
	return len(live)
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
