package model

import (
	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/internal/topology"
)

// params are the mechanics in float64 seconds.
type params struct {
	bio bool
	// reactor (connector reactor, Puma): accept only while a worker is free and nobody waits for
	// one, as bio, but a worker per request: the accepted connection's first request runs on the
	// worker the acceptor took, later ones queue for one, FIFO, as in nio.
	reactor bool
	// retries: a self-call that timed out reading is sent again on a new connection this many
	// times (selfcall_retries).
	retries int
	// fragment is where a page gets its static fragment (the topology's Mechanics.Fragment).
	fragment topology.Fragment
	// canHang: these mechanics and keys have an absorbing state at all (topology.CanHang, the
	// one decision sim has); absorbed checks whether the state is in it.
	canHang bool
	// queueLimit bounds the nio worker queue (Mechanics.QueueLimit: max_queue_size); 0: none.
	queueLimit int
	// admission is the admission limit's mode (Mechanics.Admission: topology.AdmitWait,
	// AdmitReject, AdmitQueue), "" without one; permits is how many pages it admits at once.
	admission string
	permits   int
	// async: a page releases its worker during its self-call (Mechanics.Async).
	async bool
	// bulkWorkers is the bulkhead connector's pool (bulkhead_threads).
	bulkWorkers int
	// baseFDs are the fds the process holds with no connection open.
	baseFDs      int
	workers      int
	maxConns     int
	backlogCap   int
	nofile       int
	honorClose   bool
	idleTimeout  float64
	tcpKeepAlive bool
	// closeEach: the app's connectors answer Connection: close and close each connection after
	// its response (keep_alive false); unpooled: each self-call dials its own connection and
	// closes it after the answer, with no lease (selfcall_pool false).
	closeEach    bool
	unpooled     bool
	work         workDist
	perRoute     int
	maxTotal     int
	leaseTimeout float64
	connTimeout  float64
	sockTimeout  float64
	// workerTimeout and workerBoot are the watchdog's (worker_timeout, worker_boot); 0: none.
	workerTimeout float64
	workerBoot    float64
	static        float64
	halfTrip      float64
	pageOverhead  float64
	inProcess     float64 // an inproc page's time from its work's end to its answer
	clientTimeout float64 // 0: clients never give up
	keepAlive     bool
	maxIdle       int
	maxWorkers    int // 0: unbounded
	probeTimeout  float64
	// sockets: follow the socket states that only a record shows (TIME_WAIT sockets, the end of
	// an orphaned FIN_WAIT2). Run sets it; a steady system has no record and leaves it off (see
	// Steady for why that cannot change a hang).
	sockets bool
	// frontProxy: a front proxy stands in front of the pool (front_proxy); proxyRead is its read
	// timeout (0: none), proxyConnect its connect timeout and proxyIdle its keep-alive timeout.
	// poolStart > 0: a dynamic pool (pool_start_workers) that starts with poolStart workers
	// and keeps minSpare to maxSpare idle, up to workers.
	poolStart, minSpare, maxSpare      int
	frontProxy                         bool
	proxyRead, proxyConnect, proxyIdle float64
	// delays are the agenda's fixed delays, by queue (setDelays).
	delays [nQueues]float64
}

// newParams builds the mechanics of c's topology (the registry's Mechanics); c must be
// normalized and valid.
func newParams(c serverconf.Config) params {
	mech := topology.Must(c.Topology).Mechanics
	p := params{
		bio:           c.Connector == serverconf.BIO,
		reactor:       c.Connector == serverconf.Reactor,
		retries:       c.SelfCallRetries,
		fragment:      mech.Fragment,
		canHang:       c.CanHang(),
		baseFDs:       BaseFDs,
		workers:       c.Workers(), // connector_threads serve no request
		maxConns:      c.MaxConnections,
		backlogCap:    c.AcceptCount + 1, // Linux accepts while the queue holds no more than the backlog
		nofile:        c.NoFile,
		honorClose:    c.HonorClientClose,
		idleTimeout:   c.KeepAliveTimeout.Seconds(),
		tcpKeepAlive:  c.TCPKeepAlive,
		closeEach:     !c.KeepAlive,
		unpooled:      !c.SelfCallPool,
		work:          newWorkDist(c),
		perRoute:      c.MaxPerRoute,
		maxTotal:      c.MaxTotal,
		leaseTimeout:  c.ConnectionRequestTimeout.Seconds(),
		connTimeout:   c.ConnectTimeout.Seconds(),
		sockTimeout:   c.SocketTimeout.Seconds(),
		workerTimeout: c.WorkerTimeout.Seconds(),
		workerBoot:    c.WorkerBoot.Seconds(),
		static:        StaticServiceTime.Seconds(),
		halfTrip:      (SelfCallTime - StaticServiceTime).Seconds() / 2,
		pageOverhead:  PageOverhead.Seconds(),
		inProcess:     (PageOverhead + InProcessReadTime).Seconds(),
		sockets:       true,
	}
	if c.PoolStartWorkers > 0 && p.bio {
		p.poolStart, p.minSpare, p.maxSpare = c.PoolStartWorkers, c.PoolMinSpare, c.PoolMaxSpare
	}
	if c.FrontProxy {
		p.frontProxy = true
		p.proxyRead = c.ProxyReadTimeout.Seconds()
		p.proxyConnect = ProxyConnectTimeout.Seconds()
		p.proxyIdle = ProxyIdleTimeout.Seconds()
	}
	if p.bio {
		p.maxConns = p.workers
	}
	// The bounded queue, the admission gate in front of the pool and async pages are the nio
	// connector's, as in simulator/connector: bio has no worker queue (its connections wait in
	// the kernel backlog), no gate, and its pages keep the connection's worker.
	if mech.QueueLimit && !p.bio && !p.reactor {
		p.queueLimit = c.MaxQueueSize
	}
	if mech.Admission && !(p.bio && c.Admission == topology.AdmitQueue) {
		p.admission, p.permits = c.Admission, c.Workers()-c.Reserve
	}
	p.async = mech.Async && !p.bio && !p.reactor
	if p.fragment == topology.FromBulkhead {
		p.bulkWorkers = c.BulkheadThreads
		p.baseFDs++ // the static connector's listening socket
	}
	return p
}

// setDelays fills the delays of the agenda's fixed-delay queues; p must be complete.
func (p *params) setDelays() {
	d := &p.delays
	d[qClientTimeout] = p.clientTimeout
	d[qLeaseTimeout] = p.leaseTimeout
	d[qConnectTimeout] = p.connTimeout
	d[qSocketTimeout] = p.sockTimeout
	d[qWorkerTimeout] = p.workerTimeout
	d[qHalfTrip] = p.halfTrip
	d[qStatic] = p.static
	d[qOverhead] = p.pageOverhead
	d[qInProcess] = p.inProcess
	d[qNow] = 0
	d[qWork] = p.work.base / 1e9 // used only by fixed work times (workDist.draw)
	d[qIdle] = p.idleTimeout
	d[qFinWait] = finTimeout
	d[qTimeWait] = timeWait
	d[qProxyRead] = p.proxyRead
	d[qProxyConnect] = p.proxyConnect
	d[qProxyIdle] = p.proxyIdle
}
