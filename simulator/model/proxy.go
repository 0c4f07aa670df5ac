package model

// frontProxy is the front proxy, the shape of simulator/proxy (nginx in front of PHP-FPM): its
// listener accepts every connection at once and keeps it alive between requests; each request
// it gets goes to the pool's connector on a new upstream connection (connUpstream, whose server
// side is the pool's port: the census counts it); the upstream connection is closed the moment
// the client leaves (nginx's 499: the request then waits in the pool's backlog as a dead one)
// and after proxyRead without an answer (504 to the client, or to the page whose self-call it
// was). Its accepted connections and its upstream sockets are fds of the app's process, as the
// socket engine's proxy runs in it. The front port's sockets are counted apart (tcpTable.fsrv,
// fcli).
type frontProxy struct {
	// open counts the accepted front connections not closed.
	open int
	// requests counts the requests forwarded; timeouts the 504s; clientClosed the requests
	// whose client left before the answer (499).
	requests, timeouts, clientClosed int64
}

// clone: the proxy holds no slice, map or pointer.
func (px *frontProxy) clone(*cloner) {}

// accept: the proxy accepts front connection cid at once (nginx accepts every connection).
func (px *frontProxy) accept(e *engine, cid int32) {
	c := &e.conns.all[cid]
	e.tcp.setCli(c, tEst)
	e.tcp.setSrv(c, tEst)
	c.acc = aAccepted
	c.accAt = e.now
	px.open++
	e.tcp.openFD()
}

// forward: request id has reached the proxy on its front connection; the proxy dials a new
// upstream connection to the pool's connector and sends it there. Out of fds (socket() fails
// with EMFILE) the proxy answers 502 at once.
func (px *frontProxy) forward(e *engine, id int32) {
	px.requests++
	if e.tcp.full() {
		px.answer(e, id, http502)
		return
	}
	ucid := e.conns.add(connUpstream, true)
	e.tcp.openFD()
	r := &e.reqs.all[id]
	r.state = rsPending
	r.conn = e.conns.ref(ucid)
	e.conns.all[ucid].req = e.reqs.ref(id)
	e.tcp.dial(e, ucid)
	c := &e.conns.all[ucid]
	if c.cli == tEst {
		px.connected(e, ucid)
		return
	}
	// The pool's backlog is full: the SYN was dropped and is sent again (tcp.dial); nginx's
	// connect timeout bounds that.
	e.after(qProxyConnect, evProxyConnectTimeout, ucid, c.gen)
}

// connected: upstream connection ucid has connected and the request is sent: the read timer
// starts (nginx's fastcgi_read_timeout runs from the send).
func (px *frontProxy) connected(e *engine, ucid int32) {
	r := e.reqs.live(e.conns.all[ucid].req)
	if r == nil || e.p.proxyRead <= 0 {
		return
	}
	e.after(qProxyRead, evProxyTimeout, e.conns.all[ucid].req.id, r.gen)
}

// onConnectTimeout: upstream connection ucid did not connect within the proxy's connect
// timeout; its request gets 504.
func (px *frontProxy) onConnectTimeout(e *engine, ev event) bool {
	c := e.conns.live(ref{ev.id, ev.gen})
	if c == nil || c.cli != tSyn {
		return false
	}
	r := e.reqs.live(c.req)
	if r == nil || !r.waiting {
		return false
	}
	px.timeout(e, c.req.id)
	return true
}

// onReadTimeout: request id's answer has not come within proxyRead after it was sent.
func (px *frontProxy) onReadTimeout(e *engine, ev event) bool {
	r := e.reqs.live(ref{ev.id, ev.gen})
	if r == nil || !r.waiting || r.state == rsDone || r.front.id < 0 {
		return false // answered (or on its way back), or given up by its client
	}
	px.timeout(e, ev.id)
	return true
}

// timeout: the proxy gives up on request id: it closes the upstream connection (the request
// stays in the pool, dead) and answers 504.
func (px *frontProxy) timeout(e *engine, id int32) {
	px.timeouts++
	px.closeUpstream(e, id)
	px.answer(e, id, http504)
}

// answer: the proxy answers request id itself with status (504, 502), as the app would have:
// to the load client or probe on its front connection, or back to the page whose self-call it
// was.
func (px *frontProxy) answer(e *engine, id int32, status uint16) {
	r := &e.reqs.all[id]
	if r.kind == kindInner {
		r.waiting = false
		fc := r.front
		r.front = ref{-1, 0}
		e.pool.endCall(e, fc)
		pr := r.other
		e.reqs.maybeFree(id)
		if p := e.reqs.live(pr); p != nil && p.state == rsCalling {
			p.other = ref{-1, 0}
			e.pool.selfCallFailed(e, pr.id, true)
		}
		return
	}
	r.status = status
	e.page.answerClient(e, id, status)
}

// closeUpstream: the proxy closes request id's upstream connection before an answer (its
// client left, or the proxy timed out): the pool's socket turns CLOSE_WAIT where it is (in the
// backlog, or accepted). A request whose connection never connected never reaches the pool.
func (px *frontProxy) closeUpstream(e *engine, id int32) {
	r := &e.reqs.all[id]
	uc := e.conns.live(r.conn)
	if uc == nil || uc.kind != connUpstream {
		return
	}
	e.tcp.clientClose(e, r.conn.id)
	if uc := &e.conns.all[r.conn.id]; uc.acc == aNone && r.state == rsPending {
		r.state = rsDone
		e.page.serverDone(e, r)
		uc.req = ref{-1, 0}
		e.conns.maybeFree(r.conn.id, &e.reqs)
	}
}

// clientLeft: request id's client closed its front connection before the answer (a client
// timeout, a self-call's socket_timeout): the proxy closes the front connection and the
// upstream one at once (nginx's 499).
func (px *frontProxy) clientLeft(e *engine, id int32) {
	r := &e.reqs.all[id]
	fc := r.front
	r.front = ref{-1, 0}
	if c := e.conns.live(fc); c != nil {
		e.tcp.clientClose(e, fc.id)
		e.tcp.serverClose(e, fc.id)
		e.conns.all[fc.id].req = ref{-1, 0}
		e.conns.maybeFree(fc.id, &e.reqs)
	}
	px.clientClosed++
	px.closeUpstream(e, id)
}

// answered: the pool has answered request id (its client still waits): the upstream
// connection is closed (a new one per request), and the answer goes on to the client on the
// front connection.
func (px *frontProxy) answered(e *engine, id int32) {
	r := &e.reqs.all[id]
	if uc := e.conns.live(r.conn); uc != nil && uc.kind == connUpstream {
		uc.req = ref{-1, 0}
		e.tcp.serverClose(e, r.conn.id)
	}
}

// closed: front connection cid is closed by the proxy's side (tcp.serverClose).
func (px *frontProxy) closed(e *engine) {
	px.open--
	e.tcp.closeFD()
}
