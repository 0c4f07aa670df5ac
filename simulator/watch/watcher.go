package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simdev/sim/simulator/sockets"
)

// WarningSamplesMetric counts the census samples with the self-call warning on, by rule.
const WarningSamplesMetric = "sim_selfcall_warning_samples_total"

// Options configures a Watcher.
type Options struct {
	// Port is the port to watch (1 to 65535).
	Port uint16
	// Upstream, when not 0, is the port of the app behind Port's proxy: PHP-FPM's behind
	// nginx, whose workers call nginx's port, which hands each call to FPM. The processes
	// holding Upstream's listener (and their descendants) join those behind Port, so that
	// their client sockets to Port count as self-calls; without it the agent sees none on
	// either port (nginx makes no call, FPM's calls go to another port).
	Upstream uint16
	// PID is the process whose fds to count; 0 finds the owner of the port's listening
	// socket.
	PID int
	// Sampler counts the sockets; nil uses sockets.New() (netlink, /proc as a fallback). The
	// Watcher owns it and closes it in Close. Self-calls are found only with a sampler that
	// lists sockets (sockets.Detailer: netlink).
	Sampler sockets.Sampler
	// WarnAfter is the self-call warning's threshold (SelfCalls.Warning); 0 is
	// DefaultWarnAfter.
	WarnAfter time.Duration
	// Workers is the app's worker pool (maxThreads, gunicorn's workers x threads, ...), for
	// the pool warning; 0 leaves it off.
	Workers int
	// WarnFraction is the pool warning's share of Workers; 0 is DefaultWarnFraction.
	WarnFraction float64
	// Notify, when not nil, is called with one line the first time a sample finds a
	// self-call, and once more if the pool rule turns off (SelfCalls.PoolRuleOff); with the
	// Watcher's lock held: it must not call the Watcher.
	Notify func(line string)
}

// Watcher takes census samples of one port. Concurrent callers share samples: a caller gets
// the first sample that started after it asked, so a burst of scrapes costs one sample, and
// none gets a sample older than its request. Safe for concurrent use.
type Watcher struct {
	port     uint16
	upstream uint16
	sampler  sockets.Sampler
	// lock is held while sampling; a channel so that a waiter can give up with its context.
	lock chan struct{}
	// Guarded by lock.
	owner     owner
	last      Census
	lastErr   error
	lastStart time.Time // monotonic start of the last sample
	closed    bool
	self      selfState
	list      []sockets.Socket // reused by every sample

	warnAfter    time.Duration
	warnFraction float64
	workers      int
	notify       func(string)

	descs    *descs
	reg      *prometheus.Registry
	duration prometheus.Histogram
	samples  prometheus.Counter
	warned   *prometheus.CounterVec
	failures prometheus.Counter
}

// owner remembers the process whose fds are counted.
type owner struct {
	pid     int
	holders []int // every process holding the listener, pid first
	foundBy string
	start   uint64    // start time of pid, to notice a recycled pid
	retryAt time.Time // no new search before, after a failed one
	err     error     // the failed search's error, repeated until retryAt
}

// New returns a Watcher of o.Port. It fails when the port is 0 or the PID negative.
func New(o Options) (*Watcher, error) {
	if o.Port == 0 {
		return nil, errors.New("new watcher: port 0")
	}
	if o.PID < 0 {
		return nil, fmt.Errorf("new watcher: pid %d", o.PID)
	}
	if o.Upstream == o.Port {
		return nil, fmt.Errorf("new watcher: upstream port %d is the port", o.Upstream)
	}
	if o.WarnAfter < 0 {
		return nil, fmt.Errorf("new watcher: warn after %v", o.WarnAfter)
	}
	if o.Workers < 0 || !(o.WarnFraction >= 0 && o.WarnFraction <= 1) {
		return nil, fmt.Errorf("new watcher: workers %d, warn fraction %v", o.Workers, o.WarnFraction)
	}
	w := &Watcher{port: o.Port, upstream: o.Upstream, sampler: o.Sampler, lock: make(chan struct{}, 1), warnAfter: o.WarnAfter, notify: o.Notify}
	if w.warnAfter == 0 {
		w.warnAfter = DefaultWarnAfter
	}
	w.workers, w.warnFraction = o.Workers, o.WarnFraction
	if w.warnFraction == 0 {
		w.warnFraction = DefaultWarnFraction
	}
	if w.sampler == nil {
		w.sampler = sockets.New()
	}
	if o.PID > 0 {
		w.owner = owner{pid: o.PID, foundBy: FoundByFlag}
	}
	w.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "sim", Subsystem: "watch", Name: "sample_duration_seconds",
		Help: "Time the agent spent on one census sample: sockets, then the process (the agent's own cost).",
		// A netlink sample of 10,000 sockets takes about 7.5 ms (PITFALLS.md), a /proc
		// fallback 34 ms, an owner search up to scanTimeMax.
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
	})
	w.samples = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sim", Subsystem: "watch", Name: "samples_total",
		Help: "Census samples taken.",
	})
	w.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sim", Subsystem: "watch", Name: "sample_errors_total",
		Help: "Census samples whose socket count failed (served as an error, not as zeros).",
	})
	// A counter, beside the sim_selfcall_*_warning gauges: a pool warning can be on for one
	// census (a burst that came and went) between two scrapes, which a gauge loses and
	// increase() over the counter does not (deploy/prometheus/selfcall-rules.yml).
	w.warned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        WarningSamplesMetric,
		Help:        "Census samples with the self-call warning on, by rule (wait, pool): rate or increase over it sees a warning that came and went between two scrapes.",
		ConstLabels: prometheus.Labels{"port": strconv.Itoa(int(o.Port))},
	}, []string{"rule"})
	w.warned.WithLabelValues("wait")
	w.warned.WithLabelValues("pool")
	w.descs = newDescs()
	w.reg = prometheus.NewRegistry()
	w.reg.MustRegister(w.duration, w.samples, w.failures, w.warned)
	return w, nil
}

// Port returns the watched port.
func (w *Watcher) Port() uint16 { return w.port }

// Method returns how the sockets are counted: sockets.MethodNetlink or sockets.MethodProc.
func (w *Watcher) Method() string { return w.sampler.Method() }

// Sample returns a census that started after the call: a fresh one, or the one another caller
// started meanwhile. The error is a failed socket count; a process that cannot be read is
// reported in Census.ProcessError instead. It returns ctx's error if ctx ends while waiting
// for another caller's sample.
func (w *Watcher) Sample(ctx context.Context) (Census, error) {
	asked := time.Now()
	select {
	case w.lock <- struct{}{}:
	case <-ctx.Done():
		return Census{}, fmt.Errorf("wait for census sample: %w", ctx.Err())
	}
	defer func() { <-w.lock }()
	if w.closed {
		return Census{}, errors.New("census sample: watcher closed")
	}
	if w.lastStart.After(asked) {
		return w.last, w.lastErr
	}
	start := time.Now()
	c, err := w.sample(start)
	took := time.Since(start)
	w.duration.Observe(took.Seconds())
	w.samples.Inc()
	if err != nil {
		w.failures.Inc()
		c = Census{}
	} else {
		c.DurationNanos = took.Nanoseconds()
		if sc := c.SelfCall; sc != nil {
			if sc.WaitWarning {
				w.warned.WithLabelValues("wait").Inc()
			}
			if sc.PoolWarning {
				w.warned.WithLabelValues("pool").Inc()
			}
		}
	}
	w.last, w.lastErr, w.lastStart = c, err, start
	return c, err
}

// sample takes one census; the caller holds the lock.
func (w *Watcher) sample(start time.Time) (Census, error) {
	var counts sockets.Counts
	var err error
	d, detail := w.sampler.(sockets.Detailer)
	if detail {
		counts, w.list, err = d.SampleSockets(w.port, w.list[:0])
	} else {
		counts, err = w.sampler.Sample(w.port)
	}
	if err != nil {
		return Census{}, fmt.Errorf("census of port %d: %w", w.port, err)
	}
	c := censusOf(w.port, w.sampler.Method(), counts)
	c.TimeUnixNano = start.UnixNano()
	p, err := w.process(counts.Listening, start)
	if err != nil {
		c.ProcessError = err.Error()
	}
	c.Process = p
	switch {
	case !detail:
		c.SelfCallError = fmt.Sprintf("self-calls need the netlink sampler (sock_diag); this census counts with %s", w.sampler.Method())
	case p == nil:
		c.SelfCallError = "no process behind the port: self-calls cannot be attributed"
	default:
		roots := w.owner.holders
		if w.owner.foundBy == FoundByFlag || len(roots) == 0 {
			roots = []int{p.PID}
		}
		sc, err := w.selfCalls(w.list, roots, start)
		if err != nil {
			c.SelfCallError = err.Error()
		}
		c.SelfCall = sc
	}
	if cap(w.list) > maxKeptSockets {
		w.list = nil // a burst of sockets must not pin its memory for the agent's life
	}
	return c, nil
}

// process reads the owner's figures, finding the owner first if needed; the caller holds the
// lock.
func (w *Watcher) process(listening bool, now time.Time) (*Process, error) {
	o := &w.owner
	if o.foundBy == FoundByFlag {
		p, err := readProcess(o.pid, FoundByFlag)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("process %d (--pid) is gone", o.pid)
		}
		return p, err
	}
	if o.pid != 0 {
		if st, err := startTime(o.pid); err == nil && st == o.start {
			p, err := readProcess(o.pid, FoundByListener)
			if !errors.Is(err, fs.ErrNotExist) {
				return p, err
			}
		}
		// The owner exited (or its pid now names another process): find the new one.
		*o = owner{}
	}
	if !listening {
		return nil, fmt.Errorf("nothing listens on port %d: no owner to read", w.port)
	}
	if now.Before(o.retryAt) {
		return nil, o.err
	}
	holders, st, err := w.findOwner()
	if err != nil {
		o.retryAt, o.err = now.Add(rediscoverAfter), err
		return nil, err
	}
	pid := holders[0]
	*o = owner{pid: pid, holders: holders, foundBy: FoundByListener, start: st}
	return readProcess(pid, FoundByListener)
}

// findOwner finds the processes that hold the port's listening socket, the owner (the
// lowest pid: a pre-fork master, older than its workers) first, and the owner's start time.
func (w *Watcher) findOwner() (holders []int, start uint64, err error) {
	inodes, err := listenInodes(w.port)
	if err != nil {
		return nil, 0, err
	}
	if len(inodes) == 0 {
		return nil, 0, fmt.Errorf("find owner: no listening socket of port %d in /proc/net/tcp{,6}", w.port)
	}
	holders, err = findHolders(inodes)
	if err != nil {
		return nil, 0, fmt.Errorf("port %d: %w", w.port, err)
	}
	st, err := startTime(holders[0])
	if err != nil {
		return nil, 0, fmt.Errorf("find owner: process %d: %w", holders[0], err)
	}
	return holders, st, nil
}

// maxKeptSockets bounds the socket list a Watcher keeps between samples: 100,000 sockets of
// about 100 bytes.
const maxKeptSockets = 100_000

// Close releases the sampler. It waits for a sample in progress.
func (w *Watcher) Close() error {
	w.lock <- struct{}{}
	defer func() { <-w.lock }()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.sampler.Close()
}
