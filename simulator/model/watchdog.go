package model

import "github.com/simdev/sim/results"

// watchdog is gunicorn's arbiter (worker_timeout), the shape of simulator/connector's
// watchdog.go: a page that has held its worker for worker_timeout is killed. The process dies:
// its client's connection is closed unanswered, its self-call's connection is closed from the
// client's side (if the call still waits in the accept queue, its server side stays there, in
// CLOSE_WAIT, for a later worker to take and serve into the void), a lease or admission permit
// it held goes back, and the worker comes back worker_boot later (the arbiter's SIGKILL a second
// after SIGABRT, the fork and the app's import), when it takes the next request: in bio the
// next connection of the accept queue, in nio the head of the worker queue.
//
// The timer is armed when a page takes its worker (pageHandler.run). A self-call's static
// request is served in StaticServiceTime, far below any watchdog a user sets, so only pages
// are watched; the socket engine watches every request alike.
type watchdog struct {
	// kills counts the workers killed; booting those whose replacement is not ready yet.
	kills   int64
	booting int
}

// clone: no slice, map or pointer to make its own.
func (w *watchdog) clone(*cloner) {}

// arm starts page id's timer: it has just taken its worker.
func (w *watchdog) arm(e *engine, id int32) {
	if e.p.workerTimeout > 0 {
		e.after(qWorkerTimeout, evWorkerTimeout, id, e.reqs.all[id].gen)
	}
}

// onTimeout: page id's worker_timeout is due. Moot when the page has answered (or failed)
// since, or holds no worker now (an async page parked during its self-call; it is not watched
// again when it takes one back to finish, a simplification the socket engine does not make).
func (w *watchdog) onTimeout(e *engine, ev event) bool {
	r := e.reqs.live(ref{ev.id, ev.gen})
	if r == nil || !r.onWorker || r.state == rsDone || r.state == rsFree {
		return false
	}
	w.kill(e, ev.id)
	return true
}

// kill is the arbiter's murder of the worker of page id.
func (w *watchdog) kill(e *engine, id int32) {
	w.kills++
	r := &e.reqs.all[id]
	pl := &e.pool
	// What the page was waiting for ends with its process.
	switch r.state {
	case rsAdmitWait:
		e.page.permits.leave()
	case rsLeasing:
		pl.waiters--
		if r.route {
			r.route = false
			pl.total.leave()
			pl.releaseRoute(e)
		} else {
			pl.route.leave()
		}
	case rsDialing:
		// Its connection is still connecting (its SYNs dropped by a full accept queue).
		for cid := range e.conns.all {
			c := &e.conns.all[cid]
			if !c.freed && c.kind == connPool && c.req == e.reqs.ref(id) && c.cli == tSyn {
				c.req = ref{-1, 0}
				e.tcp.closeFD()
				e.tcp.setCli(c, tGone)
				e.conns.maybeFree(int32(cid), &e.reqs)
				break
			}
		}
		pl.dialing--
		pl.releaseLease(e)
	case rsCalling:
		if in := e.reqs.live(r.other); in != nil && in.waiting {
			in.waiting = false
			if in.front.id >= 0 {
				// Through the front proxy: the dying page's socket to it closes, and the
				// proxy closes its upstream connection (a 499).
				e.proxy.clientLeft(e, r.other.id)
			} else {
				e.tcp.clientClose(e, in.conn.id)
			}
			e.reqs.maybeFree(r.other.id)
		}
		r = &e.reqs.all[id]
		r.other = ref{-1, 0}
		pl.releaseLease(e)
	}
	r = &e.reqs.all[id]
	r.state = rsDone
	e.page.serverDone(e, r)
	e.page.dropPermit(e, r)
	r = &e.reqs.all[id]
	r.onWorker = false
	e.page.pages--
	w.booting++
	e.schedule(e.now+e.p.workerBoot, evWorkerBoot, -1, 0)

	// Its client's connection closes unanswered; in bio the worker stays away until the boot.
	cid := r.conn.id
	c := &e.conns.all[cid]
	c.req = ref{-1, 0}
	c.worker = false
	waiting := r.waiting
	r.waiting = false
	e.tcp.serverClose(e, cid)
	if r = &e.reqs.all[id]; waiting && r.front.id >= 0 {
		// Behind the front proxy, the client is the proxy: it reads EOF from the pool and
		// answers its own client 502 (nginx's "upstream prematurely closed connection").
		r.waiting = true
		e.page.answerClient(e, id, http502)
		return
	}
	if waiting {
		// The client reads EOF: a reset, as results.Classify names it.
		if e.obs != nil {
			e.obs.result(e, r, 0, results.KindReset, e.now-r.sent)
		}
		if r.kind == kindPage {
			e.client.clientDone(e)
		}
	}
	e.reqs.maybeFree(id)
}

// onBoot: a replacement worker is ready and takes the next request.
func (w *watchdog) onBoot(e *engine) {
	w.booting--
	e.app.releaseWorker(e)
}
