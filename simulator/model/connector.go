package model

import (
	"math"
	"net/http"

	"github.com/simdev/sim/internal/topology"
)

// connector is a virtual Tomcat connector, the shape of simulator/connector: the listener's
// accept queue and the acceptor (max_connections, EMFILE back-off), and the worker pool with
// its unbounded FIFO queue (nio; bounded by queueLimit with bounded-queue) or a worker per
// connection (bio). The app has one; the bulkhead topology adds the static connector, the same
// type with its own pool, whose accepted connections hold the app's fds.
type connector struct {
	bio bool
	// reactor: Puma's connector (params.reactor); the worker an accepted connection takes
	// (conn.worker) serves its first request only.
	reactor bool
	// maxConns bounds the accepted connections (bio: the workers); backlogCap the accept queue
	// (accept_count + 1: Linux accepts while the queue holds no more than the backlog).
	maxConns, backlogCap int
	// queueLimit bounds the worker queue (max_queue_size); 0: unbounded.
	queueLimit int
	// retry is the event that ends the acceptor's EMFILE back-off.
	retry evKind

	backlog     fifo
	backlogLive int
	open        int // accepted connections not closed: connection slots and server fds
	// acceptWait: the acceptor backs off (acceptDelay) after EMFILE; acceptErrors counts them.
	acceptWait   bool
	acceptDelay  float64
	acceptErrors int64

	// workers are the connector's pool; its waiters are the worker queue. innerQueued counts
	// the queue's self-calls (bounded-queue's absorbing state counts them).
	workers     semaphore
	innerQueued int
}

// newConnector is the app's connector for p (static: the bulkhead's static connector).
func newConnector(p *params, static bool) connector {
	if static {
		return connector{
			maxConns: math.MaxInt, backlogCap: math.MaxInt, retry: evBulkRetry,
			workers: semaphore{size: p.bulkWorkers},
		}
	}
	size := p.workers
	if p.poolStart > 0 {
		size = p.poolStart
	}
	return connector{
		bio: p.bio, reactor: p.reactor, maxConns: p.maxConns, backlogCap: p.backlogCap, queueLimit: p.queueLimit,
		retry: evAcceptRetry, workers: semaphore{size: size},
	}
}

// maintain is a dynamic pool's maintenance (pool_start_workers), every spawnInterval, as
// PHP-FPM's fpm_pctl_perform_idle_server_maintenance and simulator/connector's: with fewer
// than minSpare workers idle it starts the missing ones (up to max_threads), which accept at
// once; with more than maxSpare idle it stops one.
func (k *connector) maintain(e *engine) {
	p := e.p
	size := k.workers.size
	idle := size - k.workers.held
	switch {
	case idle < p.minSpare && size < p.workers:
		k.workers.size += min(p.minSpare-idle, p.workers-size)
		k.accept(e)
	case idle > p.maxSpare:
		k.workers.size--
	}
}

// accept accepts from the accept queue while a connection slot (bio: a worker) and an fd are
// free. Out of fds, accept fails with EMFILE and the acceptor backs off, 50 ms doubling to
// 1.6 s, as simulator/connector does.
func (k *connector) accept(e *engine) {
	for !k.acceptWait {
		if k.open >= k.maxConns || k.bio && k.workers.held >= k.workers.size || k.reactor && !k.workers.free() {
			// reactor: Puma accepts only while its busy threads and queued requests are fewer
			// than its threads (ThreadPool#wait_until_not_full).
			return
		}
		if k.backlogLive == 0 {
			return
		}
		if e.tcp.full() {
			k.acceptErrors++
			k.acceptDelay = nextBackoff(k.acceptDelay)
			k.acceptWait = true
			e.schedule(e.now+k.acceptDelay, k.retry, -1, 0)
			return
		}
		cr := k.backlog.pop()
		c := e.conns.live(cr)
		if c == nil || c.acc != aBacklog {
			continue
		}
		k.backlogLive--
		k.acceptDelay = 0
		c.acc = aAccepted
		c.accAt = e.now
		k.open++
		e.tcp.openFD()
		if k.bio || k.reactor {
			c.worker = true
			k.workers.take()
		}
		if c.srv == tCloseWait {
			e.tcp.scheduleReap(e, cr.id)
		}
		if r := e.reqs.live(c.req); r != nil && r.state == rsPending {
			k.startRequest(e, cr.id)
		}
	}
}

// retried: the acceptor's back-off is over.
func (k *connector) retried(e *engine) {
	k.acceptWait = false
	k.accept(e)
}

func (k *connector) clone(a *cloner) {
	a.fifo(&k.backlog)
	k.workers.clone(a)
}

// startRequest hands the request on the accepted connection cid to a worker: nio through the
// FIFO queue (a page of admission queue mode first waits for its permit), bio at once on the
// connection's own worker.
func (k *connector) startRequest(e *engine, cid int32) {
	c := &e.conns.all[cid]
	id := c.req.id
	r := &e.reqs.all[id]
	if e.p.honorClose && c.srv != tEst {
		// The client is gone already: the handler is abandoned, the connection closed.
		r.state = rsDone
		e.page.serverDone(e, r)
		c.req = ref{-1, 0}
		e.tcp.serverClose(e, cid)
		e.reqs.maybeFree(id)
		return
	}
	if k.bio {
		e.page.run(e, id)
		return
	}
	if k.reactor && c.worker {
		// The connection's first request: the worker the acceptor took is now the request's,
		// freed when it is answered, as a request's in nio.
		c.worker = false
		e.page.run(e, id)
		return
	}
	if r.kind != kindInner && e.p.admission == topology.AdmitQueue && !e.page.takePermit(e, id) {
		// A limiter in front of the pool: the page waits for a permit, holding no worker.
		r.state = rsGated
		e.page.permits.enqueue(e.reqs.ref(id))
		return
	}
	k.toWorker(e, id)
}

// toWorker gives request id a worker, or a place in the worker queue; with a bounded queue
// (max_queue_size) already full, it is refused with 503 at once, holding no worker, as
// simulator/connector's AcquireBounded refuses.
func (k *connector) toWorker(e *engine, id int32) {
	if k.workers.tryAcquire() {
		e.page.run(e, id)
		return
	}
	if k.queueLimit > 0 && k.workers.waiting >= k.queueLimit {
		e.page.refuse(e, id)
		return
	}
	r := &e.reqs.all[id]
	r.state = rsQueued
	k.workers.enqueue(e.reqs.ref(id))
	if r.kind == kindInner {
		k.innerQueued++
	}
}

// releaseWorker frees a worker: nio hands it to the head of the queue, bio to the acceptor.
func (k *connector) releaseWorker(e *engine) {
	if k.bio {
		k.workers.drop()
		k.accept(e)
		return
	}
	if rr, ok := k.workers.release(e.queued); ok {
		if e.reqs.all[rr.id].kind == kindInner {
			k.innerQueued--
		}
		e.page.run(e, rr.id)
		return
	}
	if k.reactor {
		k.accept(e) // a worker free and nobody waiting: the acceptor takes the next connection
	}
}

// abandon: under honor_client_close, a request on cid that waits (for a worker, or for an
// admission permit) is dropped when its client leaves, and its connection closed, as the
// connector's queue and the app's admission limit give up on a cancelled request context.
func (k *connector) abandon(e *engine, cid int32) {
	c := &e.conns.all[cid]
	rid := c.req.id
	if e.reqs.live(c.req) == nil {
		return
	}
	r := &e.reqs.all[rid]
	switch r.state {
	case rsQueued:
		k.workers.leave()
		if r.kind == kindInner {
			k.innerQueued--
		}
	case rsGated:
		e.page.permits.leave()
	case rsAdmitWait:
		e.page.permits.leave()
		r.onWorker = false
		e.page.pages--
		k.releaseWorker(e)
	default:
		return
	}
	r = &e.reqs.all[rid]
	r.state = rsDone
	e.page.serverDone(e, r)
	e.page.dropPermit(e, r)
	e.conns.all[cid].req = ref{-1, 0}
	e.tcp.serverClose(e, cid)
	e.reqs.maybeFree(rid)
}

// onInnerArrive: the self-call's request reaches its server. On the app (self) it waits for a
// worker like any request, and on the bulkhead's connector for one of its own; the split
// topology's static server serves it at once.
func (e *engine) onInnerArrive(ev event) {
	in := e.reqs.live(ref{ev.id, ev.gen})
	if in == nil || in.state != rsInFlight {
		return
	}
	in.state = rsPending
	if in.front.id >= 0 {
		// It has reached the front proxy, which forwards it to the pool's connector.
		e.proxy.forward(e, ev.id)
		return
	}
	c := e.conns.live(in.conn)
	if c == nil {
		return
	}
	switch k := e.connectorOf(c); {
	case k == nil:
		in.state = rsServing
		e.after(qStatic, evInnerServed, ev.id, ev.gen)
	case c.acc == aAccepted:
		k.startRequest(e, in.conn.id)
	}
	// Otherwise the connection waits in the accept queue; connector.accept starts the request.
}

// onInnerServed: the static handler has written the file. On the app it frees its worker
// (nio; in bio the worker stays with the keep-alive connection), on the bulkhead's connector
// one of that one's.
func (e *engine) onInnerServed(ev event) {
	in := e.reqs.live(ref{ev.id, ev.gen})
	if in == nil || in.state != rsServing {
		return
	}
	in.state = rsDone
	in.status = http.StatusOK
	c := &e.conns.all[in.conn.id]
	if k := e.connectorOf(c); k != nil && !k.bio {
		k.releaseWorker(e)
	}
	e.pool.innerAnswered(e, ev.id)
}
