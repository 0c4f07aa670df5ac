// Package runner drives one run: it starts a topology as `sim serve` child processes on fresh
// loopback ports, ramps load on its /page with vegeta, watches it from outside (client results,
// kernel sockets) and inside (the admin /stats), probes for recovery after the load, decides the
// verdicts and leaves a run record that outlives the run.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/internal/redact"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/child"
	"github.com/simdev/sim/simulator/detect"
	"github.com/simdev/sim/simulator/sockets"
	"github.com/simdev/sim/simulator/static"
)

// Options says what to run.
type Options struct {
	Topology    string
	Profile     *loadprofiles.Profile
	ProfileName string // as the user named it (a built-in name or a path)
	// Exe is the sim binary to start as `sim serve`.
	Exe string
	// RecordDir is the run record's folder; it must not exist yet.
	RecordDir string
	// Progress, if set, is called after every observation window.
	Progress func(Progress)
	// Force is closed on a second interrupt: stop waiting for anything and kill the children.
	Force <-chan struct{}
	// Target, if set, is the URL to attack on a server that is already running (external
	// mode): no child is started, WatchPort's sockets are sampled, and AdminURL, if set, is a
	// sim admin listener to read /stats from.
	Target    string
	WatchPort uint16
	AdminURL  string
	// Server, if set, adjusts the server config after the profile's section is applied (e.g.
	// `sim reproduce --static embedded`); the result is validated again.
	Server func(*app.Config)
	// StopOnHang ends the load phase as soon as the collapse detector's condition has held for
	// hang_hold (the rule of package detect), then probes for recovery as usual: a steady hold
	// that hangs 40 s in costs about 40 s plus the recovery window instead of its full length.
	// The summary then has StoppedOnHang and LoadStoppedS.
	StopOnHang bool
}

// Progress is what a live progress line shows.
type Progress struct {
	Elapsed, Total time.Duration
	Phase          string
	Sample         results.Sample
}

// Outcome is what a run produced.
type Outcome struct {
	Dir     string
	Summary results.Summary
}

// ErrInterrupted is returned (wrapped) when the run was cancelled; the record is marked
// incomplete.
var ErrInterrupted = errors.New("interrupted")

// childGrace is how long a child gets between SIGTERM and SIGKILL.
const childGrace = 3 * time.Second

// ServerConfig is the server config a run uses: the defaults, the profile's server section, the
// topology, and loopback port 0 for every listener (fresh ports each run: a killed server leaves
// its sockets in TIME_WAIT for a minute).
func ServerConfig(topology string, p *loadprofiles.Profile) (app.Config, error) {
	c := app.Defaults()
	c.Topology = topology
	s := p.Server
	setS := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setD := func(dst *time.Duration, v *time.Duration) {
		if v != nil {
			*dst = *v
		}
	}
	setS(&c.Connector, s.Connector)
	setI(&c.MaxThreads, s.MaxThreads)
	setI(&c.MaxConnections, s.MaxConnections)
	setI(&c.AcceptCount, s.AcceptCount)
	setD(&c.ConnectionTimeout, s.ConnectionTimeout)
	setD(&c.KeepAliveTimeout, s.KeepAliveTimeout)
	if s.HonorClientClose != nil {
		c.HonorClientClose = *s.HonorClientClose
	}
	if s.TCPKeepAlive != nil {
		c.TCPKeepAlive = *s.TCPKeepAlive
	}
	setD(&c.WorkTime, s.WorkTime)
	setS(&c.WorkTimeDist, s.WorkTimeDist)
	setD(&c.WorkTimeP99, s.WorkTimeP99)
	setI(&c.WorkTimeSeed, s.WorkTimeSeed)
	setI(&c.MaxPerRoute, s.MaxPerRoute)
	setI(&c.MaxTotal, s.MaxTotal)
	setD(&c.ConnectionRequestTimeout, s.ConnectionRequestTimeout)
	setD(&c.ConnectTimeout, s.ConnectTimeout)
	setD(&c.SocketTimeout, s.SocketTimeout)
	setI(&c.NoFile, s.NoFile)
	setS(&c.Static.Server, s.Static.Server)
	c.Addr, c.AdminAddr, c.StaticAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.Normalize()
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// EffectiveConfig is what config.json holds.
type EffectiveConfig struct {
	Topology   string                `json:"topology"`
	Profile    string                `json:"profile"`
	Load       *loadprofiles.Profile `json:"load_profile"`
	Server     app.Config            `json:"server"`
	ServeArgs  []string              `json:"serve_args"`
	Thresholds detect.Thresholds     `json:"thresholds"`
	Target     string                `json:"target,omitempty"`
	WatchPort  uint16                `json:"watch_port,omitempty"`
}

// Run performs one run. The record is written even when the run fails or is interrupted; the
// error then says why and the summary is marked incomplete.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	var cfg app.Config
	var err error
	if o.Target == "" {
		cfg, err = ServerConfig(o.Topology, o.Profile)
	}
	if err != nil {
		return nil, err
	}
	if o.Server != nil && o.Target == "" {
		o.Server(&cfg)
		cfg.Normalize()
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	// Without nginx, `sim serve` would start and exit at once: say so before making a record
	// of a run that cannot happen.
	if o.Target == "" && cfg.Topology == app.Split && cfg.Static.Server == static.Nginx && cfg.Static.URL == "" {
		if _, err := static.FindNginx(); err != nil {
			return nil, err
		}
	}
	rec, err := results.Create(o.RecordDir)
	if err != nil {
		return nil, err // "create record DIR: ..."
	}
	r := &run{o: o, cfg: cfg, rec: rec, started: time.Now(), kinds: map[string]int{}, collapsed: make(chan struct{}),
		hide: redact.Replacer(o.Target)}
	r.th = detect.Thresholds{
		HangFraction:  o.Profile.Detect.HangFraction,
		HangHold:      o.Profile.Detect.HangHold,
		MinOfferedRPS: 1,
	}
	out, runErr := r.execute(ctx)
	if out == nil {
		// Not even the first summary could be written (a full or read-only disk): a folder
		// without one is no record, and `sim report` would refuse it.
		if derr := rec.Discard(); derr != nil {
			runErr = errors.Join(runErr, derr)
		}
		return nil, runErr
	}
	if cerr := rec.Close(); cerr != nil && runErr == nil {
		runErr = fmt.Errorf("close run record: %w", cerr)
	}
	return out, runErr
}

type run struct {
	o       Options
	cfg     app.Config
	rec     *results.Writer
	th      detect.Thresholds
	started time.Time

	serve *child.Process
	admin *adminClient // nil when there is no admin listener to read
	// hide masks the credentials of an external target in whatever the record keeps: they go
	// on the wire only.
	hide *strings.Replacer
	// What the run attacks and watches: the child's app, or an external target.
	pageURL   string
	port      uint16
	childDone <-chan struct{}

	// abort ends the run early with err, a failure to write the record (a full disk): a run
	// that cannot record what it measures only loads the machine. Set before the load starts.
	abort func(err error)

	mu             sync.Mutex
	window         results.Window
	metrics        vegeta.Metrics // whole-run totals; its latency quantiles are a bounded t-digest
	kinds          map[string]int
	selfcallMeanMS float64
	timeline       []results.Sample
	probes         []results.Probe
	sent           atomic.Int64
	done           atomic.Int64

	// collapsed is closed by the sampler when Options.StopOnHang is set and the collapse
	// condition has held for hang_hold; stoppedAt is then when (since the attack started), the
	// end of the load phase for everything after it.
	collapsed chan struct{}
	stoppedAt atomic.Int64 // time.Duration; 0 while the load runs its planned length
}

func (r *run) execute(ctx context.Context) (*Outcome, error) {
	var args []string
	if r.o.Target == "" {
		args = append([]string{"serve"}, r.cfg.Flags()...)
	}
	if err := r.rec.WriteConfig(EffectiveConfig{
		Topology: r.o.Topology, Profile: r.o.ProfileName, Load: r.o.Profile,
		Server: r.cfg, ServeArgs: args, Thresholds: r.th,
		Target: redact.URL(r.o.Target), WatchPort: r.o.WatchPort,
	}); err != nil {
		return nil, err
	}
	sum := r.baseSummary()
	sum.InterruptedReason = "run in progress (or killed before it could finish)"
	if err := r.rec.WriteSummary(sum); err != nil {
		return nil, err
	}

	adminURL := r.o.AdminURL
	if r.o.Target == "" {
		if err := r.startServe(ctx, args); err != nil {
			return r.fail(sum, err)
		}
		defer r.stopServe()
		sum.AppURL, sum.AdminURL, sum.StaticURL = r.serve.URL("app"), r.serve.URL("admin"), r.serve.URL("static")
		sum.ServePID = r.serve.PID()
		r.pageURL, r.port, r.childDone = sum.AppURL+"/page", portOf(sum.AppURL), r.serve.Done()
		adminURL = sum.AdminURL
	} else {
		r.pageURL, r.port = r.o.Target, r.o.WatchPort
		sum.AppURL, sum.AdminURL = redact.URL(r.o.Target), adminURL
	}
	if err := r.rec.WriteSummary(sum); err != nil {
		return r.fail(sum, err)
	}
	if adminURL != "" {
		r.admin = newAdminClient(adminURL)
		defer r.admin.close()
		if _, err := r.admin.stats(ctx, 2*time.Second); err != nil {
			return r.fail(sum, fmt.Errorf("admin listener %s: %w", adminURL, err))
		}
	}

	err := r.attackAndObserve(ctx)
	// The streams are closed, flushed and synced before the summary says complete=true, so that
	// it promises whole files; closing also frees the record's reserve for this last write.
	if cerr := r.rec.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close run record: %w", cerr)
	}
	r.finish(&sum, err)
	if werr := r.rec.WriteSummary(sum); werr != nil {
		if err == nil {
			err = werr
		} else {
			err = fmt.Errorf("%w (and the final summary: %v)", err, werr)
		}
	}
	return &Outcome{Dir: r.rec.Dir(), Summary: sum}, err
}

// startServe starts `sim serve` with args and waits until its listeners are up.
func (r *run) startServe(ctx context.Context, args []string) error {
	serveLog, err := os.Create(filepath.Join(r.rec.Dir(), "serve.log"))
	if err != nil {
		return err
	}
	ready := []string{"app", "admin"}
	if r.cfg.Topology == app.Split && r.cfg.Static.URL == "" {
		ready = append(ready, "static")
	}
	r.serve, err = child.Start(ctx, child.Spec{
		Name: "sim serve", Path: r.o.Exe, Args: args, Ready: ready, Log: &lossyWriter{w: serveLog},
		ReadyTimeout: 15 * time.Second,
	})
	if err != nil {
		serveLog.Close()
		if ctx.Err() != nil {
			return cause(ctx)
		}
		return fmt.Errorf("start topology %s: %w", r.o.Topology, err)
	}
	// The child writes to the file, not through us: closing our handle is fine once it runs.
	go func() { <-r.serve.Done(); serveLog.Close() }()
	return nil
}

func (r *run) baseSummary() results.Summary {
	return results.Summary{
		SchemaVersion: results.SchemaVersion,
		Topology:      r.o.Topology,
		Profile:       r.o.ProfileName,
		Engine:        results.EngineSockets,
		StartedAt:     r.started.UTC(),
		Verdict:       "incomplete",
	}
}

func (r *run) fail(sum results.Summary, err error) (*Outcome, error) {
	sum.Complete = false
	sum.InterruptedReason = r.hide.Replace(err.Error())
	sum.FinishedAt = time.Now().UTC()
	_ = r.rec.Close() // frees the reserve for the summary; Run reports a close error
	_ = r.rec.WriteSummary(sum)
	return &Outcome{Dir: r.rec.Dir(), Summary: sum}, err
}

// lossyWriter passes writes on until the first error and then drops them, reporting success.
// The child's stderr is copied into serve.log through a pipe: an error here would close that
// pipe, and the next log line would kill `sim serve` with SIGPIPE. A full disk must not.
type lossyWriter struct {
	w      io.Writer
	failed atomic.Bool
}

func (l *lossyWriter) Write(b []byte) (int, error) {
	if !l.failed.Load() {
		if _, err := l.w.Write(b); err != nil {
			l.failed.Store(true)
		}
	}
	return len(b), nil
}

func (r *run) stopServe() {
	grace := childGrace
	select {
	case <-r.o.Force:
		grace = 0
	default:
	}
	_ = r.serve.Stop(grace)
}

// phaseErr says why a run ended early.
type phaseErr struct{ reason string }

func (e *phaseErr) Error() string { return e.reason }

// attackAndObserve runs the load phase and the recovery phase, sampling all along.
func (r *run) attackAndObserve(ctx context.Context) error {
	p := r.o.Profile
	loadDur := p.Duration()
	interval := p.SampleInterval

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.abort = func(err error) { cancel(&phaseErr{err.Error()}) }
	go func() {
		select {
		case <-r.childDone: // nil in external mode: never
			cancel(&phaseErr{fmt.Sprintf("sim serve exited during the run (%v): %s", r.serve.Err(), lastLine(r.serve.Output()))})
		case <-ctx.Done():
		}
	}()

	atk := vegeta.NewAttacker(AttackerOptions(r.o.Profile.Client)...)
	target := vegeta.Target{Method: http.MethodGet, URL: r.pageURL}
	targeter := func(t *vegeta.Target) error {
		*t = target
		r.sent.Add(1)
		r.window.AddSent(1)
		return nil
	}
	t0 := time.Now()
	resc := atk.Attack(targeter, p.Pacer(), loadDur, "sim-"+r.o.Topology)

	drained := make(chan error, 1)
	go func() {
		var werr error
		for res := range resc {
			// vegeta copies the target's URL into each result, and net/http's errors quote it.
			res.URL, res.Error = r.hide.Replace(res.URL), r.hide.Replace(res.Error)
			if werr == nil {
				if werr = r.rec.AddResult(res); werr != nil {
					r.abort(werr)
				}
			}
			r.mu.Lock()
			r.window.Add(res)
			r.metrics.Add(res)
			r.kinds[results.Classify(res)]++
			r.mu.Unlock()
			r.done.Add(1)
		}
		drained <- werr
	}()

	samplerDone := make(chan struct{})
	stopSampler := make(chan struct{})
	go func() {
		defer close(samplerDone)
		r.sample(ctx, t0, loadDur, interval, stopSampler)
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
		r.drain(drained)
		return cause(ctx)
	case <-loadEnd.C:
	case <-r.collapsed:
		// Stop sending now: the recovery probes must see the app without the load, as after
		// a load that ran its planned length.
		atk.Stop()
		loadDur = time.Duration(r.stoppedAt.Load())
	}
	r.saveGoroutines()
	if st, err := r.admin.stats(ctx, 3*time.Second); err == nil {
		r.mu.Lock()
		r.selfcallMeanMS = st.SelfcallMeanMS
		r.mu.Unlock()
	}

	// Recovery phase: probes start at load end, while vegeta's last requests drain.
	err := r.recover(ctx, r.pageURL, t0, loadDur)
	stopAll()
	if derr := r.drain(drained); derr != nil && err == nil {
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
func (r *run) drain(drained <-chan error) error {
	select {
	case err := <-drained:
		return err
	case <-r.o.Force:
		return fmt.Errorf("%w: forced stop", ErrInterrupted)
	case <-time.After(r.o.Profile.Client.Timeout + 5*time.Second):
		return errors.New("vegeta did not drain its in-flight requests")
	}
}

// maxBodyCounted is how much of each response body vegeta reads into its result. vegeta's
// BytesIn is the length of what it kept (a MaxBody of 0 recorded 0 bytes in for every request),
// so the body must be kept to be counted; results.Writer drops it before writing results.bin.
// sim's page is about 3 KB; an external target's larger bodies are counted up to this much
// (vegeta reads the rest and drops it), so that memory stays bounded at in-flight requests x
// 1 MiB whatever the target serves.
const maxBodyCounted = 1 << 20

// AttackerOptions are the vegeta options of a profile's client settings: its timeout,
// keep-alive, connections and worker cap, no redirects, HTTP/1.1, and bodies read up to
// maxBodyCounted so that BytesIn counts them.
func AttackerOptions(c loadprofiles.Client) []func(*vegeta.Attacker) {
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(c.Timeout),
		vegeta.KeepAlive(c.Keepalive),
		vegeta.Connections(c.Connections),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.HTTP2(false),
		vegeta.MaxBody(maxBodyCounted),
	}
	if c.MaxWorkers > 0 {
		opts = append(opts, vegeta.MaxWorkers(uint64(c.MaxWorkers)))
	}
	return opts
}

// sample closes an observation window every interval until stopped.
func (r *run) sample(ctx context.Context, t0 time.Time, loadDur, interval time.Duration, stop <-chan struct{}) {
	sampler := sockets.New()
	defer sampler.Close()
	pctx, cancel := context.WithCancel(ctx)
	poller := startStatsPoller(pctx, r.admin, interval)
	defer poller.wait()
	defer cancel()
	port := r.port
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := t0
	total := loadDur + r.o.Profile.Recovery.Duration
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			elapsed := now.Sub(t0)
			s := results.Sample{T: elapsed.Seconds(), Phase: "load"}
			if at := r.stoppedAt.Load(); at > 0 {
				loadDur = time.Duration(at)
			}
			if elapsed > loadDur {
				s.Phase = "recovery"
			}
			mid := now.Add(-interval / 2).Sub(t0)
			if s.Phase == "load" {
				s.OfferedRPS = r.o.Profile.RateAt(mid)
			}
			r.mu.Lock()
			r.window.Fill(&s, now.Sub(last))
			r.window.Reset()
			r.mu.Unlock()
			last = now
			s.InFlight = int(r.sent.Load() - r.done.Load())
			if c, err := sampler.Sample(port); err == nil {
				FillSockets(&s, c)
			}
			if st, fresh := poller.get(2*interval + time.Second); fresh {
				fillStats(&s, st)
			}
			if err := r.rec.AddSample(s); err != nil {
				r.abort(err)
			}
			r.mu.Lock()
			r.timeline = append(r.timeline, s)
			r.mu.Unlock()
			// Only this goroutine appends to the timeline, so it may read it unlocked.
			if r.o.StopOnHang && s.Phase == "load" && r.stoppedAt.Load() == 0 {
				if _, hung := detect.Collapse(r.timeline, r.th); hung {
					r.stoppedAt.Store(int64(elapsed))
					close(r.collapsed)
				}
			}
			if r.o.Progress != nil {
				r.o.Progress(Progress{Elapsed: elapsed, Total: total, Phase: s.Phase, Sample: s})
			}
		}
	}
}

// FillSockets copies a socket sample into a timeline row.
func FillSockets(s *results.Sample, c sockets.Counts) {
	s.CloseWait = c.Server[sockets.CloseWait]
	s.Established = c.Server[sockets.Established]
	s.TimeWait = c.Server[sockets.TimeWait]
	s.FinWait1 = c.Server[sockets.FinWait1]
	s.FinWait2 = c.Server[sockets.FinWait2]
	s.SynRecv = c.Server[sockets.SynRecv]
	s.LastAck = c.Server[sockets.LastAck]
	s.ClientEstablished = c.Client[sockets.Established]
	s.ClientFinWait2 = c.Client[sockets.FinWait2]
	s.ClientTimeWait = c.Client[sockets.TimeWait]
	s.ClientSynSent = c.Client[sockets.SynSent]
	s.AcceptQueue = c.AcceptQueue
	s.AcceptQueueMax = c.AcceptQueueMax
}

func fillStats(s *results.Sample, st app.Stats) {
	s.AppUp = true
	s.WorkersBusy = st.WorkersBusy
	s.Queued = st.Queued
	s.ConnectionsOpen = int(st.ConnectionsOpen)
	s.SelfcallLeased = st.SelfcallLeased
	s.SelfcallWaiting = st.SelfcallWaiting
	s.AcceptErrors = st.AcceptErrors
	s.FDsOpen = st.FDsOpen
}

// recover probes /page every interval for the recovery duration, starting at load end.
func (r *run) recover(ctx context.Context, pageURL string, t0 time.Time, loadDur time.Duration) error {
	rc := r.o.Profile.Recovery
	// Probes go out on schedule, each on its own, so a hung server that holds every probe for
	// the whole timeout still gets duration/interval of them, as the incident's users did.
	n := int(rc.Duration/rc.Interval) + 1
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(rc.Interval)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return cause(ctx)
			case <-tick.C:
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A probe's time is when it was sent: one that answers after work_time still
			// shows the server was serving at that moment.
			t := time.Since(t0)
			pr := Probe(ctx, pageURL, rc.Timeout)
			pr.Error = r.hide.Replace(pr.Error)
			pr.T = t.Seconds()
			pr.SinceLoadEnd = (t - loadDur).Seconds()
			if err := r.rec.AddProbe(pr); err != nil {
				r.abort(err)
			}
			r.mu.Lock()
			r.probes = append(r.probes, pr)
			r.mu.Unlock()
		}()
	}
	return nil
}

// Probe is one recovery probe: GET url on a fresh connection, as a new user would open one,
// within timeout.
func Probe(ctx context.Context, url string, timeout time.Duration) results.Probe {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	// A Transport, unlike a Client (and vegeta), sends no credentials from the URL by itself.
	if u := req.URL.User; u != nil {
		password, _ := u.Password()
		req.SetBasicAuth(u.Username(), password)
	}
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	p := results.Probe{}
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		p.Status = resp.StatusCode
	}
	p.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		p.Error = err.Error()
	}
	p.OK = err == nil && p.Status == http.StatusOK
	return p
}

// saveGoroutines keeps the app's goroutine dump at load end: sim's thread dump, showing where
// every worker waits.
func (r *run) saveGoroutines() {
	dump, err := r.admin.get(context.Background(), "/debug/pprof/goroutine?debug=1", 3*time.Second)
	if err == nil {
		_ = r.rec.WriteFile("goroutines.txt", dump)
	}
}

// finish fills the summary from what was observed.
func (r *run) finish(sum *results.Summary, runErr error) {
	r.mu.Lock()
	timeline := append([]results.Sample(nil), r.timeline...)
	probes := append([]results.Probe(nil), r.probes...)
	sort.Slice(probes, func(i, j int) bool { return probes[i].T < probes[j].T })
	r.mu.Unlock()
	detect.Summarize(sum, timeline, probes, r.th, r.o.Profile.Stages...)
	r.mu.Lock()
	r.metrics.Close()
	m := r.metrics
	sum.Requests = int(m.Requests)
	sum.SelfcallMeanMS = r.selfcallMeanMS
	sum.OK = r.kinds["ok"]
	sum.P50MS = ms(m.Latencies.P50)
	sum.P90MS = ms(m.Latencies.P90)
	sum.P99MS = ms(m.Latencies.P99)
	sum.MaxMS = ms(m.Latencies.Max)
	sum.Errors = map[string]int{}
	for k, n := range r.kinds {
		if k != "ok" {
			sum.Errors[k] = n
		}
	}
	r.mu.Unlock()
	sum.LoadDurationS = r.o.Profile.Duration().Seconds()
	sum.StoppedOnHang, sum.LoadStoppedS = false, nil
	if at := time.Duration(r.stoppedAt.Load()); at > 0 {
		stopped := at.Seconds()
		sum.StoppedOnHang, sum.LoadStoppedS, sum.LoadDurationS = true, &stopped, stopped
	}
	sum.RecoveryWindowS = r.o.Profile.Recovery.Duration.Seconds()
	sum.FinishedAt = time.Now().UTC()
	sum.Complete = runErr == nil
	sum.InterruptedReason = ""
	if runErr != nil {
		sum.Complete = false
		sum.Verdict = "incomplete"
		sum.InterruptedReason = r.hide.Replace(runErr.Error())
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
