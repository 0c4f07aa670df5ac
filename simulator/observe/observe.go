// Package observe is the observer of a run: it attacks one URL with a load profile (vegeta),
// closes an observation window every sample_interval (the client's results, the socket census
// of the app's port, the app's /stats), probes the URL for recovery after the load, and hands
// every result, window and probe to a recorder as it goes. It knows nothing of how the target
// was started: the child-process runner (simulator/runner), the external mode (`sim run
// --target`, with a local or an agent's census) and the Tomcat benchmark (bench/tomcat/ramp)
// all drive this one loop.
//
// # Clock and gaps
//
// Every window is placed on the observer's clock: a window ends at a tick of the observer's
// ticker, its T is that tick's time since the attack started, and the socket census taken for
// it belongs to it whatever clock the census source keeps. A source that cannot give the census
// in time (an agent that does not answer within its timeout, refuses, or repeats a sample) makes
// the window a gap: results.Sample.SocketsMissing, empty socket cells in timeline.csv, a break in
// the report's charts, and no part in peak CLOSE_WAIT. A gap is never recorded as zero sockets.
package observe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/detect"
	"github.com/simdev/sim/simulator/run"
)

// Options says what to attack and how to watch it.
type Options struct {
	// URL is what the load is sent to and the recovery probes ask for.
	URL string
	// Name is vegeta's attack name, kept in every result ("sim-self").
	Name string
	// Profile is the load: stages, client settings, sample_interval and recovery probing.
	Profile *loadprofiles.Profile
	// Pacer, if set, paces the attack instead of Profile.Pacer(): a shard's (Profile.Shard),
	// whose uniform hits are offset from the profile's own.
	Pacer loadprofiles.Pacer
	// Census is where each window's socket columns come from; nil leaves them missing.
	Census Census
	// Stats, if set, is the app's admin /stats, polled on a loop of its own.
	Stats Stats
	// Record keeps every result, window and probe as it comes; nil keeps nothing. A write
	// error ends the run: a run that cannot record what it measures only loads the machine.
	Record Recorder
	// Hide masks credentials (of the URL) in whatever is recorded; nil masks nothing.
	Hide *strings.Replacer
	// Thresholds are the collapse detector's, used by StopOnHang.
	Thresholds detect.Thresholds
	// StopOnHang ends the load as soon as the collapse condition has held for hang_hold (the
	// rule of package detect), then probes for recovery as usual.
	StopOnHang bool
	// Progress, if set, is called after every observation window.
	Progress func(Progress)
	// Force is closed to stop waiting for vegeta's in-flight requests.
	Force <-chan struct{}
	// Down, if set, is closed when the target dies (a child process exited): the run ends
	// with an error that says DownReason().
	Down       <-chan struct{}
	DownReason func() string
	// AtLoadEnd, if set, is called once when the load stops, before the recovery probes
	// (the runner keeps the app's thread dump then).
	AtLoadEnd func(ctx context.Context)
}

// Recorder keeps what the observer measures as it goes. *results.Writer is one.
type Recorder interface {
	AddResult(*vegeta.Result) error
	AddSample(results.Sample) error
	AddProbe(results.Probe) error
}

var _ Recorder = (*results.Writer)(nil)

// Progress is what a live progress line shows.
type Progress = run.Progress

// Observation is what a run observed (the run contract's).
type Observation = run.Observation

// ErrInterrupted is returned (wrapped) when the run was cancelled.
var ErrInterrupted = run.ErrInterrupted

// Run attacks o.URL for the profile's load, then probes it for recovery, watching it all
// along. The observation is returned on every path; the error says why the run ended early.
func Run(ctx context.Context, o Options) (*Observation, error) {
	if o.Hide == nil {
		o.Hide = strings.NewReplacer()
	}
	ob := &observer{o: o, kinds: map[string]int{}, collapsed: make(chan struct{})}
	err := ob.attackAndObserve(ctx)
	return ob.observation(), err
}

type observer struct {
	o Options

	// abort ends the run early with err, a failure to write the record (a full disk).
	abort func(err error)

	window   results.Window
	mu       sync.Mutex
	metrics  vegeta.Metrics // whole-run totals; its latency quantiles are a bounded t-digest
	kinds    map[string]int
	timeline []results.Sample
	probes   []results.Probe
	gaps     int
	sent     atomic.Int64
	done     atomic.Int64

	// collapsed is closed by the sampler when Options.StopOnHang is set and the collapse
	// condition has held for hang_hold; stoppedAt is then when (since the attack started), the
	// end of the load phase for everything after it.
	collapsed chan struct{}
	stoppedAt atomic.Int64 // time.Duration; 0 while the load runs its planned length
	started   time.Time    // the attack's t0, set before any loop starts
	// extended is how far recovery probing went past recovery.duration while the server
	// drained its backlog (time.Duration).
	extended atomic.Int64
}

// phaseErr says why a run ended early.
type phaseErr struct{ reason string }

func (e *phaseErr) Error() string { return e.reason }

// attackAndObserve runs the load phase and the recovery phase, sampling all along.
func (ob *observer) attackAndObserve(ctx context.Context) error {
	p := ob.o.Profile
	loadDur := p.Duration()
	interval := p.SampleInterval

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ob.abort = func(err error) { cancel(&phaseErr{err.Error()}) }
	go func() {
		select {
		case <-ob.o.Down: // nil: never
			cancel(&phaseErr{ob.o.DownReason()})
		case <-ctx.Done():
		}
	}()

	atk := vegeta.NewAttacker(AttackerOptions(p.Client)...)
	target := vegeta.Target{Method: http.MethodGet, URL: ob.o.URL}
	targeter := func(t *vegeta.Target) error {
		*t = target
		ob.sent.Add(1)
		ob.window.AddSent(1)
		return nil
	}
	pacer := ob.o.Pacer
	if pacer == nil {
		pacer = p.Pacer()
	}
	t0 := time.Now()
	ob.mu.Lock()
	ob.started = t0
	ob.mu.Unlock()
	resc := atk.Attack(targeter, pacer, loadDur, ob.o.Name)

	drained := make(chan error, 1)
	go func() {
		var werr error
		for res := range resc {
			// vegeta copies the target's URL into each result, and net/http's errors quote it.
			res.URL, res.Error = ob.o.Hide.Replace(res.URL), ob.o.Hide.Replace(res.Error)
			if werr == nil && ob.o.Record != nil {
				if werr = ob.o.Record.AddResult(res); werr != nil {
					ob.abort(werr)
				}
			}
			ob.mu.Lock()
			ob.window.Add(res)
			ob.metrics.Add(res)
			ob.kinds[results.Classify(res)]++
			ob.mu.Unlock()
			ob.done.Add(1)
		}
		drained <- werr
	}()

	samplerDone := make(chan struct{})
	stopSampler := make(chan struct{})
	go func() {
		defer close(samplerDone)
		ob.sample(ctx, t0, loadDur, interval, stopSampler)
	}()
	stopAll := func() {
		atk.Stop()
		close(stopSampler)
		<-samplerDone
	}

	// Load phase.
	loadEnd := time.NewTimer(loadDur)
	defer loadEnd.Stop()
	select {
	case <-ctx.Done():
		stopAll()
		ob.drain(drained)
		return cause(ctx)
	case <-loadEnd.C:
	case <-ob.collapsed:
		// Stop sending now: the recovery probes must see the app without the load, as after
		// a load that ran its planned length.
		atk.Stop()
		loadDur = time.Duration(ob.stoppedAt.Load())
	}
	if ob.o.AtLoadEnd != nil {
		ob.o.AtLoadEnd(ctx)
	}

	// Recovery phase: probes start at load end, while vegeta's last requests drain.
	err := ob.recover(ctx, t0, loadDur)
	stopAll()
	if derr := ob.drain(drained); derr != nil && err == nil {
		err = derr
	}
	return err
}

func cause(ctx context.Context) error {
	c := context.Cause(ctx)
	var pe *phaseErr
	if errors.As(c, &pe) {
		return pe
	}
	return fmt.Errorf("%w: %v", ErrInterrupted, c)
}

// drain waits for vegeta's in-flight requests to finish (each is bounded by the client
// timeout), unless forced.
func (ob *observer) drain(drained <-chan error) error {
	select {
	case err := <-drained:
		return err
	case <-ob.o.Force:
		return fmt.Errorf("%w: forced stop", ErrInterrupted)
	case <-time.After(ob.o.Profile.Client.Timeout + 5*time.Second):
		return errors.New("vegeta did not drain its in-flight requests")
	}
}

// sample closes an observation window every interval until stopped.
func (ob *observer) sample(ctx context.Context, t0 time.Time, loadDur, interval time.Duration, stop <-chan struct{}) {
	pctx, cancel := context.WithCancel(ctx)
	poller := startStatsPoller(pctx, ob.o.Stats, interval)
	defer poller.wait()
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := t0
	p := ob.o.Profile
	total := loadDur + p.Recovery.Duration
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			elapsed := now.Sub(t0)
			s := results.Sample{T: elapsed.Seconds(), Phase: results.PhaseLoad}
			if at := ob.stoppedAt.Load(); at > 0 {
				loadDur = time.Duration(at)
			}
			if elapsed > loadDur {
				s.Phase = results.PhaseRecovery
			}
			mid := now.Add(-interval / 2).Sub(t0)
			if s.Phase == results.PhaseLoad {
				s.OfferedRPS = p.RateAt(mid)
			}
			ob.mu.Lock()
			ob.window.Fill(&s, now.Sub(last))
			ob.window.Reset()
			ob.mu.Unlock()
			last = now
			s.InFlight = int(ob.sent.Load() - ob.done.Load())
			// The census belongs to this window, taken now on this clock, whatever the
			// source's own clock says (see the package doc); without one, it is a gap.
			s.SocketsMissing = true
			if ob.o.Census != nil {
				if c, err := ob.o.Census.Sample(ctx); err == nil {
					FillSockets(&s, c)
					s.SocketsMissing = false
					if sc, ok := ob.o.Census.(SelfCaller); ok {
						FillSelfCalls(&s, sc.SelfCalls())
					}
				}
			}
			if st, fresh := poller.get(2*interval + time.Second); fresh {
				fillStats(&s, st)
			}
			if ob.o.Record != nil {
				if err := ob.o.Record.AddSample(s); err != nil {
					ob.abort(err)
				}
			}
			ob.mu.Lock()
			ob.timeline = append(ob.timeline, s)
			if s.SocketsMissing {
				ob.gaps++
			}
			ob.mu.Unlock()
			// Only this goroutine appends to the timeline, so it may read it unlocked.
			if ob.o.StopOnHang && s.Phase == results.PhaseLoad && ob.stoppedAt.Load() == 0 {
				if run.StopNow(ob.timeline, ob.o.Thresholds) {
					ob.stoppedAt.Store(int64(elapsed))
					close(ob.collapsed)
				}
			}
			if ob.o.Progress != nil {
				// A drain extension (see recover) lengthens the run beyond its planned total.
				ob.o.Progress(Progress{Elapsed: elapsed, Total: total + time.Duration(ob.extended.Load()), Phase: s.Phase, Sample: s})
			}
		}
	}
}

// recover probes the URL every recovery interval for the recovery duration, starting at
// load end.
func (ob *observer) recover(ctx context.Context, t0 time.Time, loadDur time.Duration) error {
	rc := ob.o.Profile.Recovery
	// Probes go out on schedule, each on its own, so a hung server that holds every probe for
	// the whole timeout still gets duration/interval of them, as the incident's users did; the
	// run contract's Recovery says when the window ends (a draining server extends it).
	rec := run.NewRecovery(rc)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(rc.Interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return cause(ctx)
			case <-tick.C:
			}
		}
		if !ob.tick(rec) {
			return nil
		}
		ob.extended.Store(int64(rec.Extended()))
		ob.probe(ctx, &wg, t0, loadDur, rc.Timeout)
	}
}

// probe sends one recovery probe in its own goroutine.
func (ob *observer) probe(ctx context.Context, wg *sync.WaitGroup, t0 time.Time, loadDur, timeout time.Duration) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A probe's time is when it was sent: one that answers after work_time still
		// shows the server was serving at that moment.
		t := time.Since(t0)
		pr := Probe(ctx, ob.o.URL, timeout)
		pr.Error = ob.o.Hide.Replace(pr.Error)
		pr.T = t.Seconds()
		pr.SinceLoadEnd = (t - loadDur).Seconds()
		if ob.o.Record != nil {
			if err := ob.o.Record.AddProbe(pr); err != nil {
				ob.abort(err)
			}
		}
		ob.mu.Lock()
		ob.probes = append(ob.probes, pr)
		ob.mu.Unlock()
	}()
}

// tick is rec.Tick on what has been observed so far.
func (ob *observer) tick(rec *run.Recovery) bool {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return rec.Tick(ob.timeline, ob.probes)
}

// observation collects what was observed, once the loops have stopped.
func (ob *observer) observation() *Observation {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	out := &Observation{
		Timeline:    append([]results.Sample(nil), ob.timeline...),
		Probes:      append([]results.Probe(nil), ob.probes...),
		Kinds:       map[string]int{},
		LoadStopped: time.Duration(ob.stoppedAt.Load()),
		Extended:    time.Duration(ob.extended.Load()),
		Started:     ob.started,
	}
	sort.Slice(out.Probes, func(i, j int) bool { return out.Probes[i].T < out.Probes[j].T })
	ob.metrics.Close()
	m := ob.metrics
	out.Requests = int(m.Requests)
	out.P50, out.P90, out.P99, out.Max = m.Latencies.P50, m.Latencies.P90, m.Latencies.P99, m.Latencies.Max
	for k, n := range ob.kinds {
		out.Kinds[k] = n
	}
	if ob.o.Census != nil {
		c := ob.o.Census.Describe()
		c.Windows, c.Gaps = len(ob.timeline), ob.gaps
		out.Census = &c
	}
	return out
}
