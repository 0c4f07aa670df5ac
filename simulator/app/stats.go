package app

import (
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/simdev/sim/simulator/proxy"
)

// Stats is the app's state as the admin listener reports it (/stats, and /metrics).
type Stats struct {
	Topology        string  `json:"topology"`
	Connector       string  `json:"connector"`
	MaxThreads      int     `json:"max_threads"`
	WorkersBusy     int     `json:"workers_busy"`
	Queued          int     `json:"queued"`
	ConnectionsOpen int64   `json:"connections_open"`
	MaxConnections  int     `json:"max_connections"`
	Accepted        int64   `json:"accepted"`
	AcceptErrors    int64   `json:"accept_errors"`
	SelfcallLeased  int     `json:"selfcall_leased"`
	SelfcallWaiting int     `json:"selfcall_waiting"`
	SelfcallMax     int     `json:"selfcall_max_per_route"`
	SelfcallCalls   int64   `json:"selfcall_calls"`
	SelfcallErrors  int64   `json:"selfcall_errors"`
	SelfcallMeanMS  float64 `json:"selfcall_mean_ms"`
	PagesOK         int64   `json:"pages_ok"`
	PagesFailed     int64   `json:"pages_failed"`

	// The topology's mechanics (package topology), zero when it has not got them.
	// MaxQueueSize bounds the worker queue (bounded-queue; 0 = unbounded); QueueRejected
	// counts the requests answered 503 because it was full, pages and self-calls alike.
	MaxQueueSize  int   `json:"max_queue_size"`
	QueueRejected int64 `json:"queue_rejected"`
	// AdmissionLimit is how many pages may be admitted at once (admission-limit: max_threads -
	// reserve); AdmissionAdmitted hold a permit now, AdmissionWaiting wait for one (inside a
	// worker with admission wait, before taking one with queue), AdmissionRejected were
	// answered 503 (reject).
	AdmissionLimit    int   `json:"admission_limit"`
	AdmissionAdmitted int   `json:"admission_admitted"`
	AdmissionWaiting  int   `json:"admission_waiting"`
	AdmissionRejected int64 `json:"admission_rejected"`
	// The bulkhead's static connector: its pool, busy workers, queued requests and open
	// connections.
	BulkheadMaxThreads      int   `json:"bulkhead_max_threads"`
	BulkheadWorkersBusy     int   `json:"bulkhead_workers_busy"`
	BulkheadQueued          int   `json:"bulkhead_queued"`
	BulkheadConnectionsOpen int64 `json:"bulkhead_connections_open"`
	// AsyncParked are async pages whose worker is released while their self-call is in
	// flight; AsyncResuming wait in the worker queue for one to finish (counted in Queued too).
	AsyncParked   int64 `json:"async_parked"`
	AsyncResuming int64 `json:"async_resuming"`
	// WorkersKilled counts the workers the watchdog (worker_timeout) killed since the start.
	WorkersKilled int64 `json:"workers_killed"`
	// The front proxy (front_proxy): its address and the pool's, and its counts (proxy.Stats).
	ProxyAddr string `json:"proxy_addr,omitempty"`
	PoolAddr  string `json:"pool_addr,omitempty"`
	proxy.Stats

	FDsOpen    int     `json:"fds_open"`
	FDLimit    int     `json:"fd_limit"`
	Goroutines int     `json:"goroutines"`
	UptimeS    float64 `json:"uptime_s"`
	PID        int     `json:"pid"`
}

// Stats returns a snapshot. It opens no file: it must work at the fd limit.
func (a *App) Stats() Stats {
	cs := a.conn.Stats()
	sc := a.client.Stats()
	var lim unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	s := Stats{
		Topology:        a.cfg.Topology,
		Connector:       a.cfg.Connector,
		MaxThreads:      cs.MaxThreads,
		WorkersBusy:     cs.WorkersBusy,
		Queued:          cs.Queued,
		ConnectionsOpen: cs.ConnectionsOpen,
		MaxConnections:  a.cfg.MaxConnections,
		Accepted:        cs.Accepted,
		AcceptErrors:    cs.AcceptErrors,
		SelfcallLeased:  sc.Leased,
		SelfcallWaiting: sc.Waiting,
		SelfcallMax:     a.cfg.MaxPerRoute,
		SelfcallCalls:   sc.Calls,
		SelfcallErrors:  sc.Errors,
		SelfcallMeanMS:  sc.MeanMS,
		PagesOK:         a.pagesOK.Load(),
		PagesFailed:     a.pagesFailed.Load(),
		FDsOpen:         a.fds.count(),
		FDLimit:         int(lim.Cur),
		Goroutines:      runtime.NumGoroutine(),
		UptimeS:         time.Since(a.started).Seconds(),
		PID:             os.Getpid(),
		QueueRejected:   cs.Rejected,
		AsyncParked:     a.parked.Load(),
		AsyncResuming:   a.resuming.Load(),
		WorkersKilled:   cs.Killed,
	}
	if a.mech.QueueLimit {
		s.MaxQueueSize = a.cfg.MaxQueueSize
	}
	if a.front != nil {
		s.ProxyAddr, s.PoolAddr = a.front.Addr().String(), a.conn.Addr().String()
		s.Stats = a.front.Stats()
	}
	if ad := a.admit; ad != nil {
		s.AdmissionLimit = ad.permits.Size()
		s.AdmissionAdmitted = ad.permits.Held()
		s.AdmissionWaiting = ad.permits.Waiting()
		s.AdmissionRejected = ad.rejected.Load()
	}
	if a.staticConn != nil {
		ss := a.staticConn.Stats()
		s.BulkheadMaxThreads = ss.MaxThreads
		s.BulkheadWorkersBusy = ss.WorkersBusy
		s.BulkheadQueued = ss.Queued
		s.BulkheadConnectionsOpen = ss.ConnectionsOpen
	}
	return s
}

// SetNoFile sets the process's RLIMIT_NOFILE, soft and hard, to n. Go raises the soft limit to
// the hard one at start-up, so the incident's `ulimit -n 4096` has to be applied from inside.
func SetNoFile(n int) error {
	lim := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	return nil
}

// NoFileHardLimit returns the process's hard RLIMIT_NOFILE: the most SetNoFile can set without
// CAP_SYS_RESOURCE. ok is false when it cannot be read or is unlimited.
func NoFileHardLimit() (hard uint64, ok bool) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Max == unix.RLIM_INFINITY {
		return 0, false
	}
	return lim.Max, true
}

// fdCounter counts the process's open descriptors by listing /proc/self/fd through a directory
// handle opened at start: at the fd limit a fresh open would fail with EMFILE, just when the
// count matters most.
type fdCounter struct {
	dir *os.File
	mu  chanMutex
}

type chanMutex chan struct{}

func newFDCounter() *fdCounter {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return &fdCounter{mu: make(chanMutex, 1)}
	}
	return &fdCounter{dir: d, mu: make(chanMutex, 1)}
}

func (f *fdCounter) count() int {
	if f == nil || f.dir == nil {
		return -1
	}
	f.mu <- struct{}{}
	defer func() { <-f.mu }()
	if _, err := f.dir.Seek(0, 0); err != nil {
		return -1
	}
	names, err := f.dir.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names) - 1 // the directory handle itself
}

func (f *fdCounter) close() {
	if f != nil && f.dir != nil {
		f.mu <- struct{}{}
		f.dir.Close()
		f.dir = nil
		<-f.mu
	}
}
