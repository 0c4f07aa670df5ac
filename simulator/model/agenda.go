package model

import "math/bits"

// agenda holds the engine's pending events and hands them out in (t, seq) order, as one heap
// would, but split by how they were scheduled, so that a system is cheap to step and to clone:
//
//   - the load client's next arrival, of which there is at most one, in a slot of its own (a
//     clone of a steady system redraws it: see engine.redraw);
//   - events that fire a fixed delay after they are scheduled (a timeout, the static handler's
//     service time, a self-call's half trip, a fixed work time, ...), in one FIFO per delay:
//     virtual time never goes back, so each FIFO is already sorted on (t, seq), and a push or a
//     pop costs O(1) instead of a heap's O(log n) (a run at 10 rps holds ~600 TIME_WAIT ends);
//   - everything else (random work times, SYN retries, the acceptor's back-off, keepalive
//     reaping, a run's samples and probes), in a binary heap.
type agenda struct {
	seq     uint64 // ties on t are broken by scheduling order, so runs are deterministic
	arrival event
	arrives bool // arrival is pending
	h       eventHeap
	q       [nQueues]timerQueue
	delay   *[nQueues]float64 // q[i]'s delay (params.delays)
	used    uint32            // bit i: q[i] is not empty
}

// The fixed-delay queues of an agenda. A delay shared by two kinds of event may share a queue;
// each queue must only ever hold events scheduled now + its delay.
const (
	qClientTimeout  = iota // a load client's timeout (params.clientTimeout)
	qLeaseTimeout          // connection_request_timeout
	qConnectTimeout        // connect_timeout
	qSocketTimeout         // socket_timeout
	qHalfTrip              // a self-call's way to its server and back (params.halfTrip)
	qStatic                // the static handler's service time
	qOverhead              // a page's overhead before it answers
	qInProcess             // an inproc page's read and overhead before it answers
	qNow                   // an answer due at once (a failed page)
	qWork                  // a fixed work time's end
	qIdle                  // the first idle timer of a keep-alive connection
	qFinWait               // an orphaned FIN_WAIT2 socket's end (finTimeout)
	qTimeWait              // a TIME_WAIT socket's end (timeWait)
	qWorkerTimeout         // the watchdog's worker_timeout
	qProxyRead             // the front proxy's read timeout (proxy_read_timeout)
	qProxyConnect          // the front proxy's connect timeout (nginx's 60 s)
	qProxyIdle             // the first idle timer of a front proxy's keep-alive connection
	nQueues
)

// at schedules an event at time t, on the heap.
func (a *agenda) at(t float64, kind evKind, id int32, gen uint32) {
	a.seq++
	a.h.push(event{t: t, seq: a.seq, kind: kind, id: id, gen: gen})
}

// after schedules an event queue q's delay after now.
func (a *agenda) after(now float64, q int, kind evKind, id int32, gen uint32) {
	a.seq++
	a.q[q].push(event{t: now + a.delay[q], seq: a.seq, kind: kind, id: id, gen: gen})
	a.used |= 1 << q
}

// setArrival schedules the load client's next arrival at t.
func (a *agenda) setArrival(t float64) {
	a.seq++
	a.arrival = event{t: t, seq: a.seq, kind: evArrival, id: -1}
	a.arrives = true
}

// Sources of the next event, besides a queue's index.
const (
	srcNone    = -1
	srcArrival = -2
	srcHeap    = -3
)

// next says where the earliest pending event is, and its time.
func (a *agenda) next() (src int, t float64) {
	src = srcNone
	var seq uint64
	if a.arrives {
		src, t, seq = srcArrival, a.arrival.t, a.arrival.seq
	}
	if len(a.h) > 0 {
		if h := &a.h[0]; src == srcNone || h.t < t || h.t == t && h.seq < seq {
			src, t, seq = srcHeap, h.t, h.seq
		}
	}
	for m := a.used; m != 0; m &= m - 1 {
		i := bits.TrailingZeros32(m)
		if h := a.q[i].peek(); src == srcNone || h.t < t || h.t == t && h.seq < seq {
			src, t, seq = i, h.t, h.seq
		}
	}
	return src, t
}

// take removes and returns the next event from src (as next returned it).
func (a *agenda) take(src int) event {
	switch src {
	case srcArrival:
		a.arrives = false
		return a.arrival
	case srcHeap:
		return a.h.pop()
	}
	ev := a.q[src].pop()
	if a.q[src].empty() {
		a.used &^= 1 << src
	}
	return ev
}

// clone copies the agenda. The heap's and the fixed-delay queues' events are copied into one
// block, each with room to grow by queueSlack before it needs an allocation of its own; a
// steady system holds a few dozen events in all (the arrival, work times, self-call steps,
// client timeouts), so that is one small allocation.
func (a *agenda) clone() agenda {
	c := *a
	n := len(a.h) + queueSlack
	for i := range a.q {
		if a.q[i].grown() {
			n += a.q[i].len() + queueSlack
		}
	}
	block := make([]event, n)
	k := len(a.h) + queueSlack
	c.h = append(block[:0:k], a.h...)
	block = block[k:]
	for i := range a.q {
		if !a.q[i].grown() {
			continue
		}
		k := a.q[i].len() + queueSlack
		c.q[i] = a.q[i].copyInto(block[:k:k])
		block = block[k:]
	}
	return c
}

// queueSlack is the room a cloned queue gets beyond its events: enough for the few a trajectory
// adds before it pops as many.
const queueSlack = 4

// timerQueue is a FIFO of events that all fire one fixed delay after they were scheduled, so
// that it is sorted on (t, seq) by construction: a ring buffer.
type timerQueue struct {
	buf  []event // the ring; len(buf) is its capacity
	head int32   // index of the head in buf
	n    int32   // events held
}

func (q *timerQueue) len() int    { return int(q.n) }
func (q *timerQueue) empty() bool { return q.n == 0 }

// grown reports that the queue has ever held an event: a clone gives it room.
func (q *timerQueue) grown() bool { return len(q.buf) > 0 }

// peek is the head; the queue must not be empty.
func (q *timerQueue) peek() *event { return &q.buf[q.head] }

func (q *timerQueue) push(ev event) {
	if int(q.n) == len(q.buf) {
		q.grow()
	}
	i := int(q.head + q.n)
	if i >= len(q.buf) {
		i -= len(q.buf)
	}
	q.buf[i] = ev
	q.n++
}

// grow doubles the ring (from minRing), its events moved to the front in order.
func (q *timerQueue) grow() {
	*q = q.copyInto(make([]event, max(2*len(q.buf), minRing)))
}

// minRing is a ring's first capacity.
const minRing = 4

// pop removes the head; the queue must not be empty.
func (q *timerQueue) pop() event {
	ev := q.buf[q.head]
	q.head++
	if int(q.head) == len(q.buf) {
		q.head = 0
	}
	q.n--
	return ev
}

// copyInto returns a queue of the same events in buf, which must hold them.
func (q *timerQueue) copyInto(buf []event) timerQueue {
	h, n := int(q.head), int(q.n)
	k := copy(buf, q.buf[h:min(h+n, len(q.buf))])
	copy(buf[k:], q.buf[:n-k])
	return timerQueue{buf: buf, n: q.n}
}
