// Package model is the virtual-time model of sim's server: a discrete-event simulation of the
// mechanics `sim serve` runs on real sockets, fed the load a profile describes, that writes the
// same run record as the socket engine (simulator/runner) in milliseconds instead of minutes.
//
// What it simulates, one event at a time in float64 seconds, with no goroutine and no clock:
//
//   - the load client (vegeta): the profile's own pacer (uniform or seeded Poisson, so the model
//     is offered exactly the arrival times the socket engine is), keep-alive connections reused
//     most recently used first, the client timeout (a timed-out client closes its connection),
//     the worker cap; and the recovery probes after the load, each on a fresh connection;
//   - the listener and acceptor: the accept queue (accept_count; a SYN beyond it is dropped and
//     retried after 1 s, 2 s, ...), max_connections, the fd limit (nofile: accept fails with
//     EMFILE and backs off 50 ms doubling to 1.6 s), TIME_WAIT and CLOSE_WAIT sockets, TCP
//     keepalive reaping of CLOSE_WAIT when tcp_keepalive is on;
//   - the connector: nio (every connection accepted, requests wait for one of max_threads
//     workers in an unbounded FIFO queue with no timer; honor_client_close drops a queued
//     request whose client left) or bio (a worker per connection, held while it idles);
//   - the page: a worker, the work time (fixed, exponential or lognormal, drawn like the app
//     draws them, from the same seeded generator), the self-call through the pool (max_per_route
//     and max_total leases with FIFO waiters, connection_request_timeout, connect_timeout,
//     socket_timeout; a failed self-call answers 502), to the app itself (the inner request
//     joins the same worker queue), to a separate static server (split), or to the bulkhead's
//     second connector in the same process (its own pool of bulkhead_threads and unbounded
//     queue, its accepted connections holding the app's fds), or no call at all (inproc: the
//     file is read in process);
//   - the topology's other mechanics, as the registry (internal/topology) combines them: a
//     bounded worker queue that refuses with 503 (bounded-queue: pages and self-calls alike; a
//     refused self-call fails its page, 502), an admission limit of max_threads - reserve pages
//     whose other pages wait on their worker, get 503 or wait before the worker queue
//     (admission-limit: wait, reject, queue), and async pages that give their worker back
//     during the self-call and queue again, at the tail, to finish (async);
//   - the few timings that are not configuration, measured on real loopback sockets
//     (calibration.go): the static handler's time on a worker, the self-call's round trip, a
//     page's overhead beyond its work.
//
// Run drives a profile through it and writes a record marked engine "model" (it is the model's
// run.Engine: the record session, the recovery window and the verdicts are the run contract's,
// package simulator/run, as on sockets); Steady makes the steady Poisson systems the hazard
// estimators (simulator/hazard) drive.
//
// The engine is built from parts in the shape of the socket engine's packages, SimPy-like
// resources each with its state, its mechanics, its clone and its tests: the FIFO semaphore
// (sem.go), the TCP/fd table (tcp.go), the connector (connector.go: the app's, and the
// bulkhead's static connector), the /page handler and its admission limit (handler.go), the
// self-call pool (pool.go), the load client (client.go), the request and connection tables
// (tables.go); engine.go only dispatches the agenda's events to them. A new mechanic is a new
// part; TestCloneSharesNothing checks by reflection that a clone copies every part's state.
package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/detect"
	"github.com/simdev/sim/simulator/run"
)

// Options says what to simulate.
type Options struct {
	// Topology names the run in the record (a name of internal/topology's registry).
	Topology string
	// Profile is the load: stages, arrivals and seed, client, recovery probes, sample interval,
	// detection thresholds. It must be normalized and validated (loadprofiles.Load does both).
	Profile *loadprofiles.Profile
	// ProfileName is the profile as the user named it (a built-in name or a path).
	ProfileName string
	// Server is the server config. Left zero (MaxThreads 0), it is run.ServerConfig(Topology,
	// Profile): the defaults with the profile's server section, as `sim run` would start.
	Server serverconf.Config
	// RecordDir is the run record's folder; it must not exist yet.
	RecordDir string
	// Progress, if set, is called after every observation window, in virtual time.
	Progress func(run.Progress)
	// StopOnHang ends the load as soon as the collapse has held for hang_hold (run.StopNow), as
	// on sockets.
	StopOnHang bool
}

// Outcome is what a run produced: the record's folder and its summary (the run contract's).
type Outcome = run.Outcome

// Engine is the model as an engine of the run contract.
type Engine struct{}

var _ run.Engine = Engine{}

// Name is results.EngineModel.
func (Engine) Name() string { return results.EngineModel }

// Run simulates one run of s: the server config is run.ServerConfig's, adjusted by s.Server.
func (Engine) Run(ctx context.Context, s run.Spec) (*Outcome, error) {
	cfg, err := run.ServerConfig(s.Topology, s.Profile)
	if err != nil {
		return nil, err
	}
	if s.Server != nil {
		s.Server(&cfg)
	}
	return Run(ctx, Options{
		Topology: s.Topology, Profile: s.Profile, ProfileName: s.ProfileName, Server: cfg,
		RecordDir: s.RecordDir, Progress: s.Progress, StopOnHang: s.StopOnHang,
	})
}

// config is what config.json holds for a model run: the socket engine's effective config, and
// what the model adds.
type config struct {
	run.EffectiveConfig
	Engine string `json:"engine"`
	// Calibration are the measured timings the model used (calibration.go), in milliseconds.
	Calibration calibration `json:"calibration"`
}

type calibration struct {
	StaticServiceMS float64 `json:"static_service_ms"`
	SelfCallMS      float64 `json:"self_call_ms"`
	PageOverheadMS  float64 `json:"page_overhead_ms"`
	InProcessReadMS float64 `json:"in_process_read_ms"`
	BaseFDs         int     `json:"base_fds"`
}

// pageURL is the URL in the model's results.bin: no socket was opened, and the .invalid domain
// (RFC 2606) says so to anyone who reads it.
const pageURL = "http://model.invalid/page"

// ctxCheckEvery is how many events pass between two looks at the context: often enough to stop
// within a millisecond, rarely enough to cost nothing.
const ctxCheckEvery = 4096

// Run simulates one run of o.Profile on o.Server and writes its record, as runner.Run does for
// real sockets: config.json, timeline.csv (one row per sample_interval), probes.csv,
// results.bin (every simulated request, in vegeta's format) and summary.json (engine "model"),
// with the verdicts of package detect. The record is written even when the run is interrupted;
// the error then says why (wrapping run.ErrInterrupted) and the summary is marked incomplete.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	if o.Profile == nil {
		return nil, errors.New("model run: no profile")
	}
	cfg := o.Server
	if cfg.MaxThreads == 0 {
		var err error
		if cfg, err = run.ServerConfig(o.Topology, o.Profile); err != nil {
			return nil, err
		}
	}
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Topology == "" {
		o.Topology = cfg.Topology
	}
	rec, err := results.Create(o.RecordDir)
	if err != nil {
		return nil, err
	}
	th := run.Thresholds(o.Profile)
	r := &recorder{o: o, cfg: cfg, rec: rec, th: th, started: time.Now(), kinds: map[string]int{}}
	out, runErr := r.execute(ctx)
	if out == nil {
		if derr := rec.Discard(); derr != nil {
			runErr = errors.Join(runErr, derr)
		}
		return nil, runErr
	}
	return out, runErr
}

// recorder runs the engine for a profile and records what it sees, as the socket engine's
// runner does.
type recorder struct {
	o       Options
	cfg     serverconf.Config
	rec     *results.Writer
	th      detect.Thresholds
	started time.Time
	e       *engine

	window   results.Window
	metrics  vegeta.Metrics
	kinds    map[string]int
	timeline []results.Sample
	probes   []results.Probe
	// frontPeak is the front proxy's port's most CLOSE_WAIT sockets at a window's end.
	frontPeak int
	writeErr  error

	interval   float64
	loadEnd    float64       // when arrivals stop: the profile's duration, or the stop on a hang
	stopped    bool          // StopOnHang ended the load
	probesLeft int           // probes not answered or given up yet
	probesEnd  float64       // when the last probe finished; sampling stops there
	recovery   *run.Recovery // the recovery window of the batch in force
	extended   time.Duration // how far probing went past recovery.duration while the server drained
	sampleK    int
	selfcallMS float64
}

func (r *recorder) execute(ctx context.Context) (*Outcome, error) {
	p := r.o.Profile
	sess, err := run.Start(r.rec, config{
		EffectiveConfig: run.EffectiveConfig{
			Topology: r.o.Topology, Profile: r.o.ProfileName, Load: p, Server: r.cfg, Thresholds: r.th,
		},
		Engine: results.EngineModel,
		Calibration: calibration{
			StaticServiceMS: ms(StaticServiceTime), SelfCallMS: ms(SelfCallTime), PageOverheadMS: ms(PageOverhead),
			InProcessReadMS: float64(InProcessReadTime.Nanoseconds()) / 1e6, BaseFDs: BaseFDs,
		},
	}, results.Summary{
		Topology: r.o.Topology, Runtime: r.cfg.Runtime, Profile: r.o.ProfileName, Engine: results.EngineModel, StartedAt: r.started.UTC(),
	})
	if err != nil {
		return nil, err
	}
	return sess.Finish(r.simulate(ctx), r.finish)
}

// simulate runs the load and the recovery probes in virtual time.
func (r *recorder) simulate(ctx context.Context) error {
	p := r.o.Profile
	params := newParams(r.cfg)
	params.setClient(p.Client)
	params.probeTimeout = p.Recovery.Timeout.Seconds()
	params.setDelays()
	rng := rand.New(rand.NewPCG(uint64(r.cfg.WorkTimeSeed), workPCGStream))
	e := newEngine(&params, rng)
	e.obs = r
	r.e = e
	r.interval = p.SampleInterval.Seconds()
	r.loadEnd = p.Duration().Seconds()
	r.probesEnd = math.Inf(1)

	pacer := p.Pacer()
	loadDur := p.Duration()
	var hits uint64
	var lastNs int64
	e.client.pacer = func(now float64) (float64, bool) {
		if r.stopped {
			return 0, false
		}
		elapsed := max(lastNs, int64(math.Round(now*1e9)))
		if time.Duration(elapsed) > loadDur {
			return 0, false
		}
		wait, stop := pacer.Pace(time.Duration(elapsed), hits)
		if stop {
			return 0, false
		}
		hits++
		lastNs = elapsed + int64(wait)
		return float64(lastNs) / 1e9, true
	}
	e.client.scheduleArrival(e)
	e.schedule(r.interval, evSample, -1, 0)
	r.scheduleProbes(r.loadEnd, probesPlanned)

	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 && ctx.Err() != nil {
			return fmt.Errorf("%w: %v", run.ErrInterrupted, context.Cause(ctx))
		}
		if r.writeErr != nil {
			return r.writeErr
		}
		if r.probesLeft == 0 && e.client.inflight == 0 && e.peek() > r.probesEnd {
			return nil
		}
		if !e.step() {
			return nil
		}
	}
}

// Probe batches, in an evProbe's id: the probes planned at the profile's end, and those that
// replace them when StopOnHang ends the load early.
const (
	probesPlanned int32 = iota
	probesOnStop
	// drainCheck + batch is the check, after a batch's last probe, whether to go on probing
	// while the server drains its backlog (recovery.drain_max), as the runner does.
	drainCheck
)

// scheduleProbes plans the recovery probes from the end of the load: one every interval for
// the recovery duration, the first at once, as the runner sends them.
func (r *recorder) scheduleProbes(from float64, batch int32) {
	rc := r.o.Profile.Recovery
	n := run.Probes(rc)
	// The pending drain check counts as a probe left, so that the run does not end before it.
	r.probesLeft = n + 1
	r.recovery = run.NewRecovery(rc)
	for i := range n {
		r.e.schedule(from+float64(i)*rc.Interval.Seconds(), evProbe, batch, 0)
	}
	r.e.schedule(from+float64(n)*rc.Interval.Seconds(), evProbe, drainCheck+batch, 0)
}

// drain is a drain check: while the run contract's Recovery says so, send one more probe and
// check again an interval later.
func (r *recorder) drain(e *engine) {
	rc := r.o.Profile.Recovery
	if !r.recovery.Tick(r.timeline, r.probes) {
		r.probesLeft--
		if r.probesLeft == 0 {
			r.probesEnd = e.now
		}
		return
	}
	r.extended = r.recovery.Extended()
	r.probesLeft++
	e.client.sendProbe(e, e.p.probeTimeout)
	e.schedule(e.now+rc.Interval.Seconds(), evProbe, ev2batch(r.stopped), 0)
}

// ev2batch is the drain check's event id for the batch in force.
func ev2batch(stopped bool) int32 {
	if stopped {
		return drainCheck + probesOnStop
	}
	return drainCheck + probesPlanned
}

// event handles the run's own events: probes and observation windows.
func (r *recorder) event(e *engine, ev event) {
	switch ev.kind {
	case evProbe:
		if r.stopped && (ev.id == probesPlanned || ev.id == drainCheck+probesPlanned) {
			return // planned for the full load; replaced by the probes after the stop
		}
		if ev.id >= drainCheck {
			r.drain(e)
			return
		}
		r.recovery.Tick(r.timeline, r.probes) // one of the planned probes: always sent
		e.client.sendProbe(e, e.p.probeTimeout)
	case evSample:
		r.sample(e)
	}
}

func (r *recorder) sent(e *engine, q *request) {
	if q.kind == kindPage {
		r.window.AddSent(1)
	}
}

func (r *recorder) result(e *engine, q *request, status uint16, kind string, latency float64) {
	lat := time.Duration(math.Round(latency * 1e9))
	if q.kind == kindProbe {
		pr := results.Probe{
			T: q.sent, SinceLoadEnd: q.sent - r.loadEnd, Status: int(status),
			OK: status == http.StatusOK, LatencyMS: float64(lat.Microseconds()) / 1000,
		}
		if status == 0 {
			pr.Error = fmt.Sprintf("Get %q: context deadline exceeded", pageURL)
		}
		r.probes = append(r.probes, pr)
		r.keep(r.rec.AddProbe(pr))
		r.probesLeft--
		if r.probesLeft == 0 {
			r.probesEnd = e.now
		}
		return
	}
	res := vegeta.Result{
		Attack: "sim-" + r.o.Topology, Seq: q.seq, Code: status,
		Timestamp: r.started.Add(time.Duration(math.Round(q.sent * 1e9))), Latency: lat,
		Method: http.MethodGet, URL: pageURL,
	}
	switch {
	case status == 0:
		res.Error = fmt.Sprintf("Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", pageURL)
	case status != http.StatusOK:
		res.Error = fmt.Sprintf("%d %s", status, http.StatusText(int(status)))
	}
	r.window.Add(&res)
	r.metrics.Add(&res)
	r.kinds[results.Classify(&res)]++
	r.keep(r.rec.AddResult(&res))
}

func (r *recorder) keep(err error) {
	if err != nil && r.writeErr == nil {
		r.writeErr = err
	}
}

// sample closes the observation window ending now.
func (r *recorder) sample(e *engine) {
	r.sampleK++
	t := float64(r.sampleK) * r.interval
	if t > r.probesEnd {
		return
	}
	s := results.Sample{T: t, Phase: results.PhaseLoad}
	if t > r.loadEnd {
		s.Phase = results.PhaseRecovery
	} else {
		s.OfferedRPS = r.o.Profile.RateAt(time.Duration((t - r.interval/2) * 1e9))
	}
	r.window.Fill(&s, time.Duration(math.Round(r.interval*1e9)))
	s.InFlight = e.client.inflight
	// The states the model follows; FIN_WAIT1, FIN_WAIT2, SYN_RECV and LAST_ACK on the server
	// side pass within a round trip on loopback and are not modelled (zero).
	s.SocketCensus = results.SocketCensus{
		CloseWait:         e.tcp.srv[tCloseWait],
		Established:       e.tcp.srv[tEst],
		TimeWait:          e.tcp.srv[tTimeWait],
		ClientEstablished: e.tcp.cli[tEst],
		ClientFinWait2:    e.tcp.cli[tFinWait2],
		ClientTimeWait:    e.tcp.cli[tTimeWait],
		ClientSynSent:     e.tcp.synSent,
		AcceptQueue:       e.app.backlogLive,
		AcceptQueueMax:    r.cfg.AcceptCount,
	}
	s.AppUp = true
	s.AppStats = results.AppStats{
		WorkersBusy:       e.app.workers.held,
		Queued:            e.app.workers.waiting,
		ConnectionsOpen:   e.app.open,
		SelfcallLeased:    e.pool.total.held + e.pool.unpooled,
		SelfcallWaiting:   e.pool.route.waiting + e.pool.total.waiting,
		AcceptErrors:      e.app.acceptErrors,
		FDsOpen:           e.tcp.fds(),
		WorkersKilled:     e.dog.kills,
		ProxyTimeouts:     e.proxy.timeouts,
		ProxyClientClosed: e.proxy.clientClosed,
	}
	if e.p.frontProxy {
		r.frontPeak = max(r.frontPeak, e.tcp.fsrv[tCloseWait])
	}
	r.keep(r.rec.AddSample(s))
	r.timeline = append(r.timeline, s)
	if s.Phase == results.PhaseLoad {
		r.selfcallMS = 0
		if e.pool.calls > 0 {
			r.selfcallMS = e.pool.callTime / float64(e.pool.calls) * 1000
		}
		if r.o.StopOnHang && !r.stopped {
			if run.StopNow(r.timeline, r.th) {
				r.stopped = true
				r.loadEnd = t
				r.scheduleProbes(t, probesOnStop)
			}
		}
	}
	if r.o.Progress != nil {
		total := time.Duration((r.o.Profile.Duration() + r.o.Profile.Recovery.Duration).Seconds() * 1e9)
		r.o.Progress(run.Progress{Elapsed: time.Duration(t * 1e9), Total: total, Phase: s.Phase, Sample: s})
	}
	e.schedule(t+r.interval, evSample, -1, 0)
}

// finish fills the summary from what was observed, by the run contract's rule
// (run.Observation.Summarize), as on sockets.
func (r *recorder) finish(sum *results.Summary) {
	r.metrics.Close()
	m := r.metrics
	obs := run.Observation{
		Timeline: r.timeline, Probes: r.probes, Requests: int(m.Requests), Kinds: r.kinds,
		P50: m.Latencies.P50, P90: m.Latencies.P90, P99: m.Latencies.P99, Max: m.Latencies.Max,
		Extended: r.extended,
	}
	if r.stopped {
		obs.LoadStopped = time.Duration(math.Round(r.loadEnd * 1e9))
	}
	obs.Summarize(sum, r.th, r.o.Profile)
	sum.SelfcallMeanMS = r.selfcallMS
	if r.e != nil && r.e.p.frontProxy {
		sum.PeakFrontCloseWait = &r.frontPeak
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
