package model

import (
	"net/http"

	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/internal/topology"
)

// pageHandler is the app's /page handler, the shape of simulator/app: a page on its worker
// passes the admission limit (permits, a FIFO semaphore, as simulator/app's admission), works
// its work time, makes its self-call (selfCallPool) and answers; an async page gives its worker
// back during the self-call and takes one again to finish. pages counts the app's workers held
// by pages (the level the hazard estimators split on).
type pageHandler struct {
	pages   int
	permits semaphore
	// started counts the pages that started their work (a dropped one never does).
	started int64
}

func (h *pageHandler) clone(a *cloner) { h.permits.clone(a) }

// HTTP statuses the model answers with besides 200.
const (
	http502 = http.StatusBadGateway         // the page's self-call failed
	http503 = http.StatusServiceUnavailable // a full worker queue, an admission limit
	http504 = http.StatusGatewayTimeout     // the front proxy's read timeout
)

// run starts request id on one of the app's workers, already counted busy. A page first
// passes the admission limit's filter (wait, reject), which runs in the worker it holds; an
// async page taking a worker again finishes on it.
func (h *pageHandler) run(e *engine, id int32) {
	r := &e.reqs.all[id]
	if r.kind == kindInner {
		r.state = rsServing
		e.after(qStatic, evInnerServed, id, r.gen)
		return
	}
	r.onWorker = true
	h.pages++
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
	e.dog.arm(e, id)
	if adm := e.p.admission; (adm == topology.AdmitWait || adm == topology.AdmitReject) && !h.takePermit(e, id) {
		if adm == topology.AdmitReject {
			r.state = rsFinishing
			r.status = http503
			e.after(qNow, evPageEnd, id, r.gen)
			return
		}
		r.state = rsAdmitWait
		h.permits.enqueue(e.reqs.ref(id))
		return
	}
	h.startWork(e, id)
}

// startWork: page id, on its worker, starts its work time.
func (h *pageHandler) startWork(e *engine, id int32) {
	r := &e.reqs.all[id]
	r.state = rsWorking
	r.workAt = e.now
	h.started++
	if e.p.work.dist == serverconf.WorkFixed {
		e.after(qWork, evWorkEnd, id, r.gen)
		return
	}
	e.schedule(e.now+e.p.work.draw(e.rng), evWorkEnd, id, r.gen)
}

// refuse answers request id at once without a worker, because the worker queue is full: a
// page or probe gets 503; a self-call's 503 travels back to its page, which answers 502; an
// async page that cannot take a worker again to finish answers 502 (the app's "resume async
// page" error).
func (h *pageHandler) refuse(e *engine, id int32) {
	r := &e.reqs.all[id]
	if r.kind == kindInner {
		r.state = rsDone
		r.status = http503
		e.pool.innerAnswered(e, id)
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

// takePermit gives page id an admission permit if one is free and nobody waits for one
// (a FIFO semaphore, as simulator/app's admission).
func (h *pageHandler) takePermit(e *engine, id int32) bool {
	if h.permits.tryAcquire() {
		e.reqs.all[id].permit = true
		return true
	}
	return false
}

// dropPermit gives back the permit r holds, if any, to the longest waiter: in wait mode it
// starts its work on the worker it holds, in queue mode it goes on to the worker queue.
func (h *pageHandler) dropPermit(e *engine, r *request) {
	if !r.permit {
		return
	}
	r.permit = false
	if rr, ok := h.permits.release(e.admitWaiting); ok {
		w := &e.reqs.all[rr.id]
		w.permit = true
		if w.state == rsAdmitWait {
			h.startWork(e, rr.id)
		} else {
			e.app.toWorker(e, rr.id)
		}
	}
}

// failPage: page pid answers 502 at once; an async page first takes a worker again (the app
// writes its error on a worker, as its answer).
func (h *pageHandler) failPage(e *engine, pid int32) {
	p := &e.reqs.all[pid]
	p.status = http502
	if e.p.async && !p.onWorker {
		h.resume(e, pid)
		return
	}
	p.state = rsFinishing
	e.after(qNow, evPageEnd, pid, p.gen)
}

// endPage: page pid answers; its worker goes to the next request in line, its admission
// permit to the next page waiting for one (in the order simulator/app gives them back: the
// servlet filter's permit before the worker, the connector's gate's after it).
func (h *pageHandler) endPage(e *engine, pid int32) {
	p := &e.reqs.all[pid]
	p.state = rsDone
	h.serverDone(e, p)
	gate := e.p.admission == topology.AdmitQueue
	if !gate {
		h.dropPermit(e, p)
	}
	p = &e.reqs.all[pid]
	if p.onWorker {
		p.onWorker = false
		h.pages--
		if !e.p.bio {
			e.app.releaseWorker(e)
		}
	}
	if p = &e.reqs.all[pid]; gate {
		h.dropPermit(e, p)
	}
	p = &e.reqs.all[pid]
	cid := p.conn.id
	c := &e.conns.all[cid]
	c.req = ref{-1, 0}
	if !p.waiting {
		// Its client left long ago: the server writes into a CLOSE_WAIT socket and closes it.
		e.tcp.serverClose(e, cid)
		e.reqs.maybeFree(pid)
		return
	}
	if p.front.id >= 0 {
		// Through the front proxy: it closes its upstream connection and answers the client.
		e.proxy.answered(e, pid)
	}
	h.answerClient(e, pid, p.status)
}

// answerClient: the client of page or probe pid gets status, on the connection it sent the
// request on (the front proxy's, with one); the connection stays open for the next request
// unless either side closes it.
func (h *pageHandler) answerClient(e *engine, pid int32, status uint16) {
	p := &e.reqs.all[pid]
	p.waiting = false
	e.client.answered++
	e.client.statuses.add(status)
	kind := "ok"
	if status != http.StatusOK {
		kind = "http"
	}
	if e.obs != nil {
		e.obs.result(e, p, status, kind, e.now-p.sent)
	}
	page := p.kind == kindPage
	cid := p.conn.id
	proxied := p.front.id >= 0
	if proxied {
		cid = p.front.id
		p.front = ref{-1, 0}
	}
	c := &e.conns.all[cid]
	c.req = ref{-1, 0}
	// keep_alive false is the pool's: the front proxy keeps its clients' connections alive.
	if c.kind == connProbe || !e.p.keepAlive || e.p.closeEach && !proxied {
		// Connection: close, asked by the client or the server's own (keep_alive false): the
		// server closes first; the client's next request dials anew.
		e.tcp.serverClose(e, cid)
	} else {
		c.idle = true
		e.tcp.armIdle(e, cid)
		if e.p.maxIdle > 0 && e.client.idleClients(e) >= e.p.maxIdle {
			// Go's transport keeps at most MaxIdleConnsPerHost: it closes this one.
			e.tcp.clientClose(e, cid)
			e.tcp.serverClose(e, cid)
		} else {
			e.client.idle = append(e.client.idle, e.conns.ref(cid))
		}
	}
	e.reqs.maybeFree(pid)
	if page {
		e.client.clientDone(e)
	}
}

// resume: async page pid, its self-call over (p.status says how), takes a worker again to
// finish, at the tail of the worker queue, as the connector's Worker.Reacquire does.
func (h *pageHandler) resume(e *engine, pid int32) {
	p := &e.reqs.all[pid]
	p.resume = true
	e.app.toWorker(e, pid)
}

// serverDone counts a load-client page the server is done with.
func (h *pageHandler) serverDone(e *engine, r *request) {
	if r.kind == kindPage {
		e.client.pagesDone++
	}
}
