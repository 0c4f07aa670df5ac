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
	// WorkerTimeout is the watchdog (worker_timeout): a worker in one request that long is
	// killed and replaced WorkerBoot later. 0: none. It does not remove the hang (see
	// Watchdog): CanHang ignores it.
	WorkerTimeout time.Duration
	WorkerBoot    time.Duration
	// ProxyTimeout is the front proxy's read timeout (front_proxy's proxy_read_timeout); 0: no
	// proxy, or one that waits for ever. The self-call goes through the proxy, whose timeout
	// ends it as socket_timeout would.
	ProxyTimeout time.Duration
}

// CanHang says whether s has an absorbing hang state: a state in which every worker is held by
// a page that waits, with no timer, for something only a free worker could give. It is the one
// answer sim has to "can this hang": the planner (hazard or capacity), the model's absorbing
// check (simulator/model), and every command's message ask it.
//
// A watchdog (WorkerTimeout) does not change the answer. It frees a stuck worker, but the
// replacement takes the next request in line, and in a hung server that is a page whose client
// has gone (its self-call then queues behind the rest), not one of the self-calls that would
// unblock the others: the pool serves at most Workers / (WorkerTimeout + WorkerBoot) pages a
// second, dead ones first. While requests arrive faster than that (gunicorn's defaults: 16 / 32
// s = 0.5 a second, health checks and retries included) the state is never left, so the time to
// enter it is the hazard to plan on; what the watchdog changes is what follows (Watchdog).
func CanHang(s Server) bool { return WhyNoHang(s) == "" }

// DrainRate is the most pages a second a server whose watchdog kills every stuck worker can
// get through while hung: Workers / (WorkerTimeout + WorkerBoot); 0 without a watchdog.
func DrainRate(s Server) float64 {
	if s.WorkerTimeout <= 0 || s.Workers <= 0 {
		return 0
	}
	return float64(s.Workers) / (s.WorkerTimeout + s.WorkerBoot).Seconds()
}

// Measured on the model (simulator/model TestWatchdogDrainsAfterTheLoad, which measures it
// again): bench/runtimes/ramp.yaml's load on the gunicorn shape (16 workers x 200 ms, bio,
// backlog 2048, no keep-alive, a connection per self-call) with worker_timeout 30s and
// worker_boot 2s, then a probe every 30 s: 805 pages left behind, HANG for 120 s of 1 s probes
// (64 kills), drained and answering 1,710 s after the load (848 kills).
const (
	measuredDrainS     = 1710
	measuredDrainKills = 848
	measuredDeadPages  = 805
)

// Watchdog says, for messages, what a watchdog turns s's hang into; "" without a watchdog or
// when s cannot hang.
func Watchdog(s Server) string {
	if s.WorkerTimeout <= 0 || !CanHang(s) {
		return ""
	}
	cycle := s.WorkerTimeout + s.WorkerBoot
	return fmt.Sprintf("worker_timeout %s: a watchdog kills each worker stuck for %s and its replacement takes requests %s later, "+
		"but that does not end the hang: each new worker takes the next request in line, a page whose client has gone, "+
		"and its self-call queues behind the rest. Hung, the pool gets through at most %d / %s = %.2f pages a second, "+
		"so it stays hung while requests (health checks and retries included) arrive faster than that, and once they stop it needs "+
		"about (pages waiting) x %s / %d to drain: measured on the model after bench/runtimes/ramp.yaml's load on the gunicorn shape "+
		"(worker_timeout 30s, worker_boot 2s), %d pages waiting drained %d s (%.0f min) after the load, after %d kills; "+
		"with a probe every second it never drained",
		s.WorkerTimeout, s.WorkerTimeout, s.WorkerBoot, s.Workers, cycle, DrainRate(s), cycle, s.Workers,
		measuredDeadPages, measuredDrainS, float64(measuredDrainS)/60, measuredDrainKills)
}

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
	case s.ProxyTimeout > 0:
		// nginx in front of PHP-FPM, measured on the real rig (bench/runtimes): every 60 s the
		// 504s free the stuck children, which take the next dead requests from the backlog and
		// are stuck again; the pool drains only once the load has stopped, a few pages per
		// timeout. No absorbing state, but no quick recovery either.
		n := s.Workers
		if !s.Unpooled && s.Leases < n {
			n = s.Leases // only the self-calls holding a lease are timed by the proxy
		}
		return fmt.Sprintf("the front proxy answers a self-call stuck for proxy_read_timeout %s with 504, which frees its worker; "+
			"but each freed worker takes the next dead request from the backlog and its self-call is stuck again, so under load the pool stays hung "+
			"and after the load it drains at most %d pages per %s (%s)",
			s.ProxyTimeout, n, s.ProxyTimeout, ProxyDrainNote)
	case s.LeaseTimeout > 0 && !s.Unpooled && s.Workers > s.Leases:
		// With more workers than leases, once every worker holds a page some page waits for a
		// lease, and that wait times out and frees a worker. With no more workers than leases
		// every page holds one and waits for its self-call, which has no timer. Without a pool
		// no page waits for a lease, so the timeout never runs.
		return fmt.Sprintf("the self-call has connection_request_timeout %s and the pool more workers (%d) than leases (%d): a page waiting for a lease gives up and frees its worker", s.LeaseTimeout, s.Workers, s.Leases)
	}
	return ""
}

// ProxyDrainNote is what the model measured of a front proxy's drain after a hang (see
// WhyNoHang): said in every message that explains why such a server has no absorbing state.
const ProxyDrainNote = "the backlog of dead requests moves through one worker's worth per timeout and empties at once when its last dead page is reached, " +
	"about backlog / workers x proxy_read_timeout: measured on the model after bench/runtimes/ramp.yaml's load on PHP-FPM's shape " +
	"(16 workers, 60s, ~800 dead requests), 3,200 s (53 min) after the load, with a probe a minute"

// TimerEndsHang says whether s escapes the absorbing state only by a timer: it cannot hang for
// good, but would without its timeouts (the self-call's, the lease's, the front proxy's). Such
// a server stalls like a hung one when every worker holds a page, until the timer frees them:
// for a minute or two with Net::HTTP's or nginx's defaults.
func TimerEndsHang(s Server) bool {
	if CanHang(s) {
		return false
	}
	s.SocketTimeout, s.LeaseTimeout, s.ProxyTimeout = 0, 0, 0
	return CanHang(s)
}
