package model

import "math"

// tcpTable is the sockets of the app's process as ss and the fd table see them: how many
// server-side and client-side sockets of the app's port are in each TCP state, the client's
// SYN_SENT sockets, and the fds the process holds (its base files, accepted connections of
// both connectors, the self-call pool's client sockets) against its nofile limit. Its methods
// are TCP's mechanics on a connection: the handshake and its SYN retries, who closes first
// and what lingers (CLOSE_WAIT, FIN_WAIT2, TIME_WAIT), keepalive reaping, the idle timer.
type tcpTable struct {
	srv, cli [nTCP]int
	// fsrv and fcli are the front proxy's port's sockets (front_proxy), counted as srv and cli
	// are, but for TIME_WAIT, which they do not follow.
	fsrv, fcli [nTCP]int
	synSent    int
	// base are the fds the process holds with no connection open, limit its nofile (0: none);
	// open the fds of its sockets.
	base, limit, open int
}

func (t *tcpTable) fds() int { return t.base + t.open }

// full: the process is out of fds (accept and socket fail with EMFILE).
func (t *tcpTable) full() bool { return t.limit > 0 && t.fds() >= t.limit }

func (t *tcpTable) openFD()  { t.open++ }
func (t *tcpTable) closeFD() { t.open-- }

// setSrv moves c's server side to state st; only the app's port is counted (ss filters on it).
func (t *tcpTable) setSrv(c *conn, st uint8) {
	if c.app {
		t.srv[c.srv]--
		t.srv[st]++
	}
	if c.front {
		t.fsrv[c.srv]--
		t.fsrv[st]++
	}
	c.srv = st
}

// setCli moves c's client side to state st, counted as setSrv counts.
func (t *tcpTable) setCli(c *conn, st uint8) {
	if c.app {
		if c.cli == tSyn {
			t.synSent--
		}
		if st == tSyn {
			t.synSent++
		}
		t.cli[c.cli]--
		t.cli[st]++
	}
	if c.front {
		t.fcli[c.cli]--
		t.fcli[st]++
	}
	c.cli = st
}

// clone: the table holds no slice.
func (t *tcpTable) clone(*cloner) {}

// dial opens connection cid: the SYN. It is dropped when the accept queue is full; the
// client then retries with Linux's doubling RTO. A pending request goes out once connected.
func (t *tcpTable) dial(e *engine, cid int32) {
	c := &e.conns.all[cid]
	if c.front {
		e.proxy.accept(e, cid)
		return
	}
	k := e.connectorOf(c)
	if k == nil {
		// The split topology's static server: its own process, always accepting.
		t.setCli(c, tEst)
		t.setSrv(c, tEst)
		c.acc = aAccepted
		return
	}
	// The bulkhead's static connector's accept queue never fills (the self-call pool's
	// max_total connections at most): its backlogCap is unbounded.
	if k.backlogLive >= k.backlogCap {
		if c.cli != tSyn {
			t.setCli(c, tSyn)
		}
		e.schedule(e.now+synRTO*math.Ldexp(1, int(c.synTries)), evSynRetry, cid, c.gen)
		if c.synTries < 30 {
			c.synTries++
		}
		return
	}
	t.setCli(c, tEst)
	t.setSrv(c, tEst)
	c.acc = aBacklog
	k.backlog.push(e.conns.ref(cid))
	k.backlogLive++
	k.accept(e)
}

func (t *tcpTable) onSynRetry(e *engine, ev event) {
	c := e.conns.live(ref{ev.id, ev.gen})
	if c == nil || c.cli != tSyn {
		return
	}
	t.dial(e, ev.id)
	if c := &e.conns.all[ev.id]; c.kind == connPool && c.cli == tEst {
		e.pool.dialed(e, ev.id)
	} else if c.kind == connUpstream && c.cli == tEst {
		e.proxy.connected(e, ev.id)
	}
}

// clientClose: the client end of cid closes first (a timeout).
func (t *tcpTable) clientClose(e *engine, cid int32) {
	c := &e.conns.all[cid]
	switch c.cli {
	case tSyn:
		// Never connected: nothing on the server side.
		if c.kind == connUpstream {
			t.closeFD() // the proxy's socket
		}
		t.setCli(c, tGone)
		e.conns.maybeFree(cid, &e.reqs)
		return
	case tEst:
	default:
		return
	}
	if c.kind == connPool || c.kind == connUpstream {
		t.closeFD()
	}
	c.closedAt = e.now
	c.idle = false
	if c.srv == tEst {
		t.setSrv(c, tCloseWait)
		t.setCli(c, tFinWait2)
		if e.p.sockets {
			e.after(qFinWait, evFinWaitEnd, cid, c.gen)
		}
		if c.acc == aAccepted && !c.front {
			t.scheduleReap(e, cid)
		}
		if e.p.honorClose && (c.app || c.bulk) && c.acc == aAccepted {
			e.connectorOf(c).abandon(e, cid)
		}
		return
	}
	t.setCli(c, tGone)
	e.conns.maybeFree(cid, &e.reqs)
}

// scheduleReap arms the keepalive reaping of a CLOSE_WAIT socket: probes every
// keepAliveInterval after keepAliveIdle of silence; the first one after the client's orphaned
// FIN_WAIT2 has died (finTimeout) gets a RST.
func (t *tcpTable) scheduleReap(e *engine, cid int32) {
	c := &e.conns.all[cid]
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
func (t *tcpTable) serverClose(e *engine, cid int32) {
	c := &e.conns.all[cid]
	if c.acc != aAccepted {
		return
	}
	c.acc = aClosed
	c.idle = false
	if k := e.connectorOf(c); k != nil {
		k.open--
		t.closeFD()
	} else if c.front {
		e.proxy.closed(e)
	}
	switch c.srv {
	case tEst:
		// The server closes first: it keeps TIME_WAIT, the client closes at once.
		t.lingerServer(e, c)
		if c.cli == tEst {
			if c.kind == connPool || c.kind == connUpstream {
				t.closeFD()
			}
			t.setCli(c, tGone)
		}
	case tCloseWait, tReaped:
		t.setSrv(c, tGone)
		if c.cli == tFinWait2 {
			t.lingerClient(e, c)
		}
	}
	if c.worker {
		c.worker = false
		e.app.releaseWorker(e)
	}
	e.app.accept(e)
	e.conns.maybeFree(cid, &e.reqs)
}

// lingerServer: c's server side closed first and lingers in TIME_WAIT for timeWait. Such a
// socket holds no fd and no slot, and nothing waits for its end: it is only counted (tcpTable.srv), and
// the connection is done with at once. A system without a record (params.sockets off) does not
// even count it.
func (t *tcpTable) lingerServer(e *engine, c *conn) {
	if !c.app || !e.p.sockets {
		t.setSrv(c, tGone)
		return
	}
	t.setSrv(c, tTimeWait) // counted until evServerTimeWaitEnd
	c.srv = tGone
	e.after(qTimeWait, evServerTimeWaitEnd, -1, 0)
}

// lingerClient: c's client side, in FIN_WAIT2, gets the server's FIN and lingers in TIME_WAIT,
// as lingerServer.
func (t *tcpTable) lingerClient(e *engine, c *conn) {
	if !c.app || !e.p.sockets {
		t.setCli(c, tGone)
		return
	}
	t.setCli(c, tTimeWait) // counted until evClientTimeWaitEnd
	c.cli = tGone
	e.after(qTimeWait, evClientTimeWaitEnd, -1, 0)
}

// armIdle starts the server's keep-alive timer on a connection of the app (or of the
// bulkhead's connector, which has the same settings) that has just gone idle (see
// conn.timerSet).
func (t *tcpTable) armIdle(e *engine, cid int32) {
	c := &e.conns.all[cid]
	q := qIdle
	if c.front {
		q = qProxyIdle
	} else if !c.app && !c.bulk {
		return
	}
	if e.p.delays[q] <= 0 {
		return
	}
	c.idleAt = e.now
	if !c.timerSet {
		c.timerSet = true
		e.after(q, evIdleTimeout, cid, c.gen)
	}
}

// onIdleTimeout: cid's timer is due. The server closes the connection if it has been idle for
// keep_alive_timeout; if it was used since and is idle again, the timer is set for the end of
// the new idle spell.
func (t *tcpTable) onIdleTimeout(e *engine, ev event) bool {
	c := e.conns.live(ref{ev.id, ev.gen})
	if c == nil {
		return false
	}
	c.timerSet = false
	if !c.idle {
		return false
	}
	timeout := e.p.idleTimeout
	if c.front {
		timeout = e.p.proxyIdle
	}
	if due := c.idleAt + timeout; due > e.now {
		c.timerSet = true
		e.schedule(due, evIdleTimeout, ev.id, ev.gen)
		return false
	}
	t.serverClose(e, ev.id)
	return true
}
