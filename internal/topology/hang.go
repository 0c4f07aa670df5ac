package topology

import (
	"fmt"
	"time"
)

// Server is what decides whether a server can hang for good: the mechanics of its topology and
// the values of the keys that change them. It is decided from mechanics, never from a topology's
// name, so that a new topology (or a runtime: a listen backlog instead of an in-process queue, a
// watchdog that kills a silent worker, a front proxy's timeout) is answered by the one rule
// below once its mechanics are fields here.
type Server struct {
	// Mechanics are the topology's (where the page's fragment comes from, a bounded queue, an
	// admission limit, async pages).
	Mechanics Mechanics
	// Workers is the worker pool (max_threads).
	Workers int
	// Admission and Reserve are the admission limit's mode and the workers it keeps from pages
	// (used only with Mechanics.Admission).
	Admission string
	Reserve   int
	// Leases is how many self-calls can hold a pooled connection at once:
	// min(max_per_route, max_total).
	Leases int
	// LeaseTimeout is how long a self-call waits for a lease (connection_request_timeout);
	// SocketTimeout how long it waits for its answer (socket_timeout). 0: for ever.
	LeaseTimeout  time.Duration
	SocketTimeout time.Duration
	// Unpooled: each self-call dials its own connection (selfcall_pool false): there is no
	// lease, so Leases and LeaseTimeout do nothing.
	Unpooled bool
	// Retries is how many times a self-call that timed out reading is sent again
	// (selfcall_retries): it does not change whether the server can hang for good, only how
	// long a page waits before it gives up (SocketTimeout × (1 + Retries)).
	Retries int
}

// CanHang says whether s has an absorbing hang state: a state in which every worker is held by
// a page that waits, with no timer, for something only a free worker could give. It is the one
// answer sim has to "can this hang": the planner (hazard or capacity), the model's absorbing
// check (simulator/model), and every command's message ask it.
func CanHang(s Server) bool { return WhyNoHang(s) == "" }

// WhyNoHang is CanHang's reason: "" when s can hang, else why it cannot, as a phrase for
// messages ("the self-call has socket_timeout 1s: ...").
func WhyNoHang(s Server) string {
	m := s.Mechanics
	switch {
	case m.Fragment != FromSelf:
		// The fragment comes from a pool of its own (a separate server, a second connector)
		// or from the disk: a page never waits for one of its own pool's workers.
		return "the page's fragment does not need a worker of the page's own pool (" + m.Fragment.String() + ")"
	case m.Async:
		return "the page releases its worker during its self-call, so no worker waits for another"
	case m.Admission && s.Admission != AdmitWait && s.Reserve > 0:
		// Pages over the limit wait outside the pool (queue) or are refused (reject): the
		// reserved workers are never held by pages and keep serving self-calls.
		return fmt.Sprintf("the admission limit (%s) keeps %d worker(s) from pages for the self-calls", s.Admission, s.Reserve)
	case s.SocketTimeout > 0 && s.Retries > 0:
		// Measured on Puma 5.6 (Net::HTTP: read timeout 60 s, max_retries 1): hung 11 s into a
		// ramp, it answered again 131 s in, after every stuck self-call had timed out twice.
		return fmt.Sprintf("the self-call has socket_timeout %s with selfcall_retries %d: a page waiting for its self-call sends it again on a new connection (at the tail of the queue, where it waits again) after each timeout, and gives up and frees its worker after %s (%d × %s)",
			s.SocketTimeout, s.Retries, time.Duration(s.Retries+1)*s.SocketTimeout, s.Retries+1, s.SocketTimeout)
	case s.SocketTimeout > 0:
		return fmt.Sprintf("the self-call has socket_timeout %s: a page waiting for its self-call gives up and frees its worker", s.SocketTimeout)
	case s.LeaseTimeout > 0 && !s.Unpooled && s.Workers > s.Leases:
		// With more workers than leases, once every worker holds a page some page waits for a
		// lease, and that wait times out and frees a worker. With no more workers than leases
		// every page holds one and waits for its self-call, which has no timer. Without a pool
		// no page waits for a lease, so the timeout never runs.
		return fmt.Sprintf("the self-call has connection_request_timeout %s and the pool more workers (%d) than leases (%d): a page waiting for a lease gives up and frees its worker", s.LeaseTimeout, s.Workers, s.Leases)
	}
	return ""
}
