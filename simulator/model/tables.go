package model

// evKind is what an event does.
type evKind uint8

const (
	evArrival        evKind = iota // the load client's next hit is due
	evProbe                        // a recovery probe is due (Run)
	evSample                       // an observation window ends (Run)
	evClientTimeout                // a client gives up on its request (id: request)
	evSynRetry                     // a dropped SYN is sent again (id: conn)
	evConnectTimeout               // a self-call dial's connect_timeout (id: conn)
	evAcceptRetry                  // the acceptor's EMFILE back-off ends
	evBulkRetry                    // the bulkhead connector's acceptor's EMFILE back-off ends
	evWorkEnd                      // a page's work time ends (id: page)
	evLeaseTimeout                 // a page's connection_request_timeout (id: page)
	evInnerArrive                  // a self-call's request reaches its server (id: inner)
	evInnerServed                  // the static handler has written the file (id: inner)
	evInnerResponse                // the self-call's response reaches the page (id: inner)
	evSocketTimeout                // a self-call's socket_timeout (id: inner)
	evPageEnd                      // a page answers and frees its worker (id: page)
	evIdleTimeout                  // an idle keep-alive connection's timer is due (id: conn)
	evReap                         // keepalive reaps a CLOSE_WAIT socket (id: conn)
	evFinWaitEnd                   // a client's orphaned FIN_WAIT2 socket ends (id: conn)
	// A TIME_WAIT socket holds no fd and no slot, and nothing waits for it to end: it is a
	// count, and its end only lowers the count (id: none). Its connection is recycled at once.
	evServerTimeWaitEnd
	evClientTimeWaitEnd
	evWorkerTimeout       // the watchdog's worker_timeout of a page on its worker (id: page)
	evWorkerBoot          // a killed worker's replacement is ready (id: none)
	evProxyTimeout        // the front proxy's read timeout on a request (id: request)
	evProxyConnectTimeout // the front proxy's connect timeout on an upstream connection (id: conn)
	evPoolTick            // a dynamic pool's maintenance (pool_start_workers), every spawnInterval
)

// Request kinds.
const (
	kindPage  uint8 = iota // GET /page from the load client
	kindProbe              // GET /page from a recovery probe: a fresh connection, no keep-alive
	kindInner              // the self-call's GET of the static file
)

// Server-side request states.
const (
	rsPending   uint8 = iota // sent, on a connection the server has not accepted yet
	rsQueued                 // in the worker queue
	rsWorking                // page: holds a worker, in its work time
	rsLeasing                // page: waits for a self-call connection lease
	rsDialing                // page: its self-call connection is connecting
	rsCalling                // page: waits for the self-call's response
	rsFinishing              // page: answering (PageOverhead)
	rsServing                // inner: the static handler runs
	rsDone                   // answered (or dropped)
	rsInFlight               // inner: on its way to the server
	rsFree                   // recycled: in the free list
	rsAdmitWait              // page: holds a worker, waits for an admission permit (admission wait)
	rsGated                  // page: waits for an admission permit at the gate, before the worker queue (admission queue)
)

// TCP states of one side of a connection, as ss shows them.
const (
	tNone      uint8 = iota // no socket on this side (yet)
	tSyn                    // client: SYN_SENT
	tEst                    // ESTABLISHED
	tCloseWait              // server: the client closed first, the server has not
	tReaped                 // server: reset by a keepalive probe; the fd stays, no TCP state
	tFinWait2               // client: closed first, the server has not
	tTimeWait               // TIME_WAIT
	tGone                   // closed for good
	nTCP
)

// Accept states of a connection's server side.
const (
	aNone     uint8 = iota // not (yet) connected
	aBacklog               // in the listener's accept queue: no fd, no worker
	aAccepted              // accepted: holds an fd and a connection slot (bio: a worker)
	aClosed                // the server closed it
)

// Connection kinds.
const (
	connClient   uint8 = iota // the load client's (keep-alive)
	connProbe                 // a recovery probe's (closed after one answer)
	connPool                  // a self-call pool connection
	connUpstream              // the front proxy's connection to the pool's connector, one per request
)

// request is one HTTP request. Pages and probes come from outside; an inner request is a page's
// self-call.
type request struct {
	gen   uint32
	kind  uint8
	state uint8
	// waiting: the client still waits for the answer (page, probe), or the page still waits for
	// the self-call (inner).
	waiting bool
	conn    ref // the connection it was sent on
	other   ref // page: its inner request; inner: its page
	sent    float64
	// workAt is when a page started its work time; callStart when it started its self-call
	// (lease wait included).
	workAt    float64
	callStart float64
	seq       uint64
	status    uint16 // the page's answer
	// route: a page waiting for its lease holds a route slot and waits for a total one.
	route bool
	// onWorker: a page holds one of the app's workers (it is counted in pageHandler.pages). An async
	// page does not while its self-call is in flight.
	onWorker bool
	// permit: a page holds an admission permit (admission-limit).
	permit bool
	// resume: an async page whose self-call has ended waits for a worker to finish on.
	resume bool
	// retries: the times a page's self-call has been sent again (selfcall_retries).
	retries uint8
	// front: with a front proxy, the connection the request came on to the proxy (conn is then
	// the proxy's upstream connection to the pool); none once the proxy is done with it.
	front ref
}

// conn is one TCP connection to the app's listener (or to the split topology's static server, or
// the bulkhead's static connector).
type conn struct {
	gen  uint32
	kind uint8
	// app: the server side is the app's listener; false for the split topology's pool
	// connections to the static server (another process: its sockets are not the app's) and
	// for the bulkhead's.
	app bool
	// bulk: the server side is the bulkhead's static connector: the same process (its accepted
	// sockets hold the app's fds), another port (ss does not count them with the app's).
	bulk bool
	// front: the server side is the front proxy's listener (front_proxy): it accepts at once;
	// its sockets are counted apart from the pool's port (tcpTable.fsrv, fcli).
	front    bool
	acc      uint8
	srv, cli uint8
	worker   bool // bio: holds a worker
	freed    bool // in the free list
	idle     bool // keep-alive, between requests
	synTries uint8
	// timerSet: an idle-timer event is pending for this connection. It is not cancelled when
	// the connection is used again: it fires, finds the connection busy (nothing to do) or idle
	// since idleAt (then it is armed again for idleAt + keep_alive_timeout). So a connection
	// has at most one timer pending however often it goes idle, not one per answer.
	timerSet bool
	idleAt   float64 // when it last went idle
	req      ref
	closedAt float64 // when the client closed
	// accAt is when the server accepted it.
	accAt float64
}

// reqTable holds every request, recycled through a free list: a request is named by a ref
// whose generation tells a live request from the recycled slot's next occupant.
type reqTable struct {
	all  []request
	free []int32
}

// add takes a fresh request of kind.
func (t *reqTable) add(kind uint8) int32 {
	id := slot(&t.all, &t.free)
	r := &t.all[id]
	*r = request{gen: r.gen + 1, kind: kind, conn: ref{-1, 0}, other: ref{-1, 0}, front: ref{-1, 0}}
	return id
}

func (t *reqTable) ref(id int32) ref { return ref{id, t.all[id].gen} }

// live is the request r names, nil when it has been recycled since.
func (t *reqTable) live(r ref) *request {
	if r.id < 0 {
		return nil
	}
	q := &t.all[r.id]
	if q.gen != r.gen {
		return nil
	}
	return q
}

// maybeFree recycles a request nobody waits for and the server is done with.
func (t *reqTable) maybeFree(id int32) {
	r := &t.all[id]
	if r.waiting || r.state != rsDone { // rsFree: freed already
		return
	}
	if r.kind != kindInner {
		if in := t.live(r.other); in != nil {
			return // its inner request still refers to it
		}
	} else if pg := t.live(r.other); pg != nil && pg.other == t.ref(id) {
		return
	}
	r.gen++
	r.state = rsFree
	t.free = append(t.free, id)
}

func (t *reqTable) clone(a *cloner) {
	table(a, &t.all)
	a.ids(&t.free)
}

// connTable holds every connection, recycled as reqTable recycles requests.
type connTable struct {
	all  []conn
	free []int32
}

// add opens a fresh connection of kind; app: its server side is the app's listener.
func (t *connTable) add(kind uint8, app bool) int32 {
	id := slot(&t.all, &t.free)
	c := &t.all[id]
	*c = conn{gen: c.gen + 1, kind: kind, app: app, req: ref{-1, 0}}
	return id
}

func (t *connTable) ref(id int32) ref { return ref{id, t.all[id].gen} }

// live is the connection r names, nil when it has been recycled since.
func (t *connTable) live(r ref) *conn {
	if r.id < 0 {
		return nil
	}
	c := &t.all[r.id]
	if c.gen != r.gen {
		return nil
	}
	return c
}

// maybeFree recycles connection id once both its sockets are gone, no live request of reqs is
// on it and no acceptor holds it.
func (t *connTable) maybeFree(id int32, reqs *reqTable) {
	c := &t.all[id]
	if c.freed || c.srv != tNone && c.srv != tGone || c.cli != tNone && c.cli != tGone || c.req.id >= 0 && reqs.live(c.req) != nil {
		return
	}
	if c.acc == aBacklog || c.acc == aAccepted {
		return
	}
	c.gen++
	c.freed = true
	t.free = append(t.free, id)
}

func (t *connTable) clone(a *cloner) {
	table(a, &t.all)
	a.ids(&t.free)
}

// slot returns a free slot of a table: the last one freed, or a new one at the end of all.
func slot[T any](all *[]T, free *[]int32) int32 {
	if n := len(*free); n > 0 {
		id := (*free)[n-1]
		*free = (*free)[:n-1]
		return id
	}
	var zero T
	*all = append(*all, zero)
	return int32(len(*all) - 1)
}
