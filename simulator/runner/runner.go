// Package runner drives one run: it starts a topology as `sim serve` child processes on fresh
// loopback ports (or takes a target that is already running), has the observer (package
// observe) ramp load on its /page with vegeta and watch it from outside (client results, the
// socket census) and inside (the admin /stats), probe for recovery after the load, decides the
// verdicts and leaves a run record that outlives the run.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/simdev/sim/internal/redact"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/child"
	"github.com/simdev/sim/simulator/detect"
	"github.com/simdev/sim/simulator/observe"
	"github.com/simdev/sim/simulator/run"
	"github.com/simdev/sim/simulator/sockets"
	"github.com/simdev/sim/simulator/static"
	"github.com/simdev/sim/simulator/watch"
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
	// WatchURL, if set (external mode only, instead of WatchPort), is a `sim watch` agent
	// beside the target: the socket columns come from its census (observe.Agent says how its
	// clock and a slow answer are handled), sent WatchToken when not empty.
	WatchURL   string
	WatchToken string
	// Server, if set, adjusts the server config after the profile's section is applied (e.g.
	// `sim reproduce --static embedded`); the result is validated again.
	Server func(*app.Config)
	// StopOnHang ends the load phase as soon as the collapse detector's condition has held for
	// hang_hold (the rule of package detect), then probes for recovery as usual: a steady hold
	// that hangs 40 s in costs about 40 s plus the recovery window instead of its full length.
	// The summary then has StoppedOnHang and LoadStoppedS.
	StopOnHang bool
	// Shard, if set (external mode only), makes this run one of Shard.Count processes that
	// share Profile's load, on this machine or others (a Kubernetes Indexed Job): it sends
	// 1/Count of every stage's rate, with arrivals split as loadprofiles.Profile.Shard says,
	// and config.json records the shard and when its attack started, by which `sim report
	// --merge` aligns the shards' records. Its own summary judges its own share.
	Shard *loadprofiles.Shard
}

// Progress is what a live progress line shows (the run contract's).
type Progress = run.Progress

// Outcome is what a run produced (the run contract's).
type Outcome = run.Outcome

// ErrInterrupted is returned (wrapped) when the run was cancelled; the record is marked
// incomplete.
var ErrInterrupted = run.ErrInterrupted

// childGrace is how long a child gets between SIGTERM and SIGKILL.
const childGrace = 3 * time.Second

// ServerConfig is run.ServerConfig: the server config a run uses.
func ServerConfig(topology string, p *loadprofiles.Profile) (app.Config, error) {
	return run.ServerConfig(topology, p)
}

// EffectiveConfig is what config.json holds (the run contract's).
type EffectiveConfig = run.EffectiveConfig

// ShardConfig is config.json's "shard" (the run contract's).
type ShardConfig = run.ShardConfig

// Engine is the socket engine of the run contract: each run starts the topology as `sim serve`
// child processes of Exe.
type Engine struct {
	// Exe is the sim binary to start as `sim serve`.
	Exe string
	// Force is closed on a second interrupt: stop waiting for anything and kill the children.
	Force <-chan struct{}
}

var _ run.Engine = Engine{}

// Name is results.EngineSockets.
func (Engine) Name() string { return results.EngineSockets }

// Run performs one run of s on real sockets.
func (e Engine) Run(ctx context.Context, s run.Spec) (*Outcome, error) {
	return Run(ctx, Options{
		Topology: s.Topology, Profile: s.Profile, ProfileName: s.ProfileName, Exe: e.Exe,
		RecordDir: s.RecordDir, Progress: s.Progress, Force: e.Force, Server: s.Server,
		StopOnHang: s.StopOnHang,
	})
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
	r := &job{o: o, cfg: cfg, rec: rec, started: time.Now(), hide: redact.Replacer(o.Target), load: o.Profile}
	if o.Shard != nil {
		r.load, r.pacer = o.Profile.Shard(*o.Shard)
	}
	r.th = run.Thresholds(o.Profile)
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

type job struct {
	o       Options
	cfg     app.Config
	rec     *results.Writer
	th      detect.Thresholds
	started time.Time
	// load is the profile this process sends and pacer its pacer: o.Profile and nil (its
	// own), or a shard's share of it (Options.Shard).
	load  *loadprofiles.Profile
	pacer loadprofiles.Pacer

	serve *child.Process
	admin *observe.Admin // nil when there is no admin listener to read
	// hide masks the credentials of an external target in whatever the record keeps: they go
	// on the wire only. (The agent's URL is masked where it is written: redact.URL.)
	hide *strings.Replacer
	// What the run attacks and watches: the child's app, or an external target.
	pageURL   string
	port      uint16
	childDone <-chan struct{}

	// selfcallMeanMS is the app's mean self-call time, read from /stats at load end.
	selfcallMeanMS float64
	// frontPeak is the front proxy's port's most CLOSE_WAIT sockets (watchFront); nil without
	// a proxy.
	frontPeak *int
	// obs is what the observer saw; nil until it ran.
	obs *observe.Observation
}

func (r *job) execute(ctx context.Context) (*Outcome, error) {
	var args []string
	if r.o.Target == "" {
		args = append([]string{"serve"}, r.cfg.Flags()...)
	}
	source := results.CensusLocal
	if r.o.WatchURL != "" {
		source = results.CensusAgent
	}
	config := EffectiveConfig{
		Topology: r.o.Topology, Profile: r.o.ProfileName, Load: r.o.Profile,
		Server: r.cfg, ServeArgs: args, Thresholds: r.th,
		Target: redact.URL(r.o.Target), WatchPort: r.o.WatchPort,
		Watch: redact.URL(r.o.WatchURL), Census: source,
	}
	if r.o.Shard != nil {
		config.Shard = &ShardConfig{Shard: *r.o.Shard, Arrivals: r.load.Arrivals}
		if r.load.Arrivals == loadprofiles.ArrivalsPoisson {
			config.Shard.Seed = r.load.Seed
		}
	}
	sess, err := run.Start(r.rec, config, results.Summary{
		Topology: r.o.Topology, Runtime: r.cfg.Runtime, Profile: r.o.ProfileName, Engine: results.EngineSockets, StartedAt: r.started.UTC(),
	})
	if err != nil {
		return nil, err
	}
	sess.Mask = r.hide.Replace
	sum := &sess.Summary

	adminURL := r.o.AdminURL
	if r.o.Target == "" {
		if err := r.startServe(ctx, args); err != nil {
			return sess.Finish(err, nil)
		}
		defer r.stopServe()
		sum.AppURL, sum.AdminURL, sum.StaticURL = r.serve.URL("app"), r.serve.URL("admin"), r.serve.URL("static")
		sum.PoolURL = r.serve.URL("pool")
		sum.ServePID = r.serve.PID()
		r.pageURL, r.port, r.childDone = sum.AppURL+"/page", portOf(sum.AppURL), r.serve.Done()
		if sum.PoolURL != "" {
			// The load goes to the front proxy; the waiting requests, and their CLOSE_WAIT
			// sockets, are in the pool's backlog: the census counts the pool's port.
			r.port = portOf(sum.PoolURL)
		}
		adminURL = sum.AdminURL
	} else {
		r.pageURL, r.port = r.o.Target, r.o.WatchPort
		sum.AppURL, sum.AdminURL = redact.URL(r.o.Target), adminURL
	}
	if err := sess.Save(); err != nil {
		return sess.Finish(err, nil)
	}
	if adminURL != "" {
		r.admin = observe.NewAdmin(adminURL)
		defer r.admin.Close()
		if _, err := r.admin.Stats(ctx, 2*time.Second); err != nil {
			return sess.Finish(fmt.Errorf("admin listener %s: %w", adminURL, err), nil)
		}
	}
	var census observe.Census
	if r.o.WatchURL != "" {
		agent, err := observe.NewAgent(r.o.WatchURL, r.o.WatchToken, r.o.Profile.SampleInterval)
		if err != nil {
			return sess.Finish(err, nil)
		}
		defer agent.Close()
		if err := agent.Check(ctx); err != nil {
			return sess.Finish(fmt.Errorf("watch agent: %w", err), nil)
		}
		census = agent
	} else {
		// sim's own app has a known pool, so its census warns on it too (watch's pool
		// warning); an external target's pool is unknown here. An async app releases its
		// worker during the self-call: a full pool holds no worker inside a self-call there,
		// so the pool rule's hazard does not exist (its rule fired 3.75 s before an async
		// app's mere saturation on the quick ramp, docs/watch.md).
		workers := 0
		if r.o.Target == "" && !r.cfg.Hang().Mechanics.Async {
			workers = r.cfg.Workers() // connector_threads serve no request
		}
		local := observe.NewLocalPool(r.port, workers)
		defer local.Close()
		census = local
		if sum.PoolURL != "" {
			// Behind the front proxy the page's self-calls go to the proxy's port; the pool's
			// port sees the proxy's upstream connections, which are the app's own too.
			front := observe.NewLocalPool(portOf(sum.AppURL), workers)
			defer front.Close()
			census = poolAndFront{pool: local, front: front}
		}
	}

	stopFront := func() {}
	if sum.PoolURL != "" {
		// The front proxy's own port, beside the pool's that the census counts: how many
		// CLOSE_WAIT sockets the proxy leaves (nginx's port: almost none, the rig measured).
		// Stopped before the summary is made (and again, harmlessly, on any return).
		stopFront = r.watchFront(ctx, portOf(sum.AppURL), r.o.Profile.SampleInterval)
		defer stopFront()
	}
	err = r.observe(ctx, census)
	stopFront()
	if config.Shard != nil && r.obs != nil && !r.obs.Started.IsZero() {
		config.Shard.AttackStartedAt = r.obs.Started.UTC()
		if werr := r.rec.WriteConfig(config); werr != nil && err == nil {
			err = werr
		}
	}
	return sess.Finish(err, r.finish)
}

// startServe starts `sim serve` with args and waits until its listeners are up.
func (r *job) startServe(ctx context.Context, args []string) error {
	serveLog, err := os.Create(filepath.Join(r.rec.Dir(), "serve.log"))
	if err != nil {
		return err
	}
	ready := app.Listeners(r.cfg, r.cfg.Static.URL != "")
	r.serve, err = child.Start(ctx, child.Spec{
		Name: "sim serve", Path: r.o.Exe, Args: args, Ready: ready, Log: &lossyWriter{w: serveLog},
		ReadyTimeout: 15 * time.Second,
	})
	if err != nil {
		serveLog.Close()
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %v", ErrInterrupted, context.Cause(ctx))
		}
		return fmt.Errorf("start topology %s: %w", r.o.Topology, err)
	}
	// The child writes to the file, not through us: closing our handle is fine once it runs.
	go func() { <-r.serve.Done(); serveLog.Close() }()
	return nil
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

func (r *job) stopServe() {
	grace := childGrace
	select {
	case <-r.o.Force:
		grace = 0
	default:
	}
	_ = r.serve.Stop(grace)
}

// observe has the observer run the load and recovery phases on the target, sampling census
// and the admin /stats all along.
func (r *job) observe(ctx context.Context, census observe.Census) error {
	o := observe.Options{
		URL:        r.pageURL,
		Name:       "sim-" + r.o.Topology,
		Profile:    r.load,
		Pacer:      r.pacer,
		Census:     census,
		Record:     r.rec,
		Hide:       r.hide,
		Thresholds: r.th,
		StopOnHang: r.o.StopOnHang,
		Progress:   r.o.Progress,
		Force:      r.o.Force,
		Down:       r.childDone, // nil in external mode: never
		DownReason: func() string {
			return fmt.Sprintf("sim serve exited during the run (%v): %s", r.serve.Err(), lastLine(r.serve.Output()))
		},
		AtLoadEnd: func(ctx context.Context) {
			if r.admin == nil {
				return
			}
			r.saveGoroutines()
			if st, err := r.admin.Stats(ctx, 3*time.Second); err == nil {
				r.selfcallMeanMS = st.SelfcallMeanMS
			}
		},
	}
	if r.admin != nil {
		o.Stats = r.admin // a nil *Admin in the interface would not read as "no stats"
	}
	var err error
	r.obs, err = observe.Run(ctx, o)
	return err
}

// saveGoroutines keeps the app's goroutine dump at load end: sim's thread dump, showing where
// every worker waits.
func (r *job) saveGoroutines() {
	dump, err := r.admin.Get(context.Background(), "/debug/pprof/goroutine?debug=1", 3*time.Second)
	if err == nil {
		_ = r.rec.WriteFile("goroutines.txt", dump)
	}
}

// watchFront samples port's sockets every interval until the returned stop is called, which
// waits for the sampler to end; r.frontPeak is then the most server-side CLOSE_WAIT seen, or
// nil when no sample succeeded.
func (r *job) watchFront(ctx context.Context, port uint16, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := sockets.New()
		defer s.Close()
		t := time.NewTicker(interval)
		defer t.Stop()
		peak, ok := 0, false
		defer func() {
			if ok {
				r.frontPeak = &peak
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if c, err := s.Sample(port); err == nil {
				peak, ok = max(peak, c.Server[sockets.CloseWait]), true
			}
		}
	}()
	return func() { cancel(); <-done }
}

// finish fills the summary from what was observed; Session.Finish marks it complete or not.
func (r *job) finish(sum *results.Summary) {
	obs := r.obs
	if obs == nil {
		obs = &observe.Observation{}
	}
	obs.Summarize(sum, r.th, r.load)
	if sum.Census != nil {
		sum.Census.LastGap = r.hide.Replace(sum.Census.LastGap)
	}
	sum.SelfcallMeanMS = r.selfcallMeanMS
	sum.PeakFrontCloseWait = r.frontPeak
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// poolAndFront is the census of an app behind sim's own front proxy: the socket counts are the
// pool's port's (where the waiting requests and their CLOSE_WAIT sockets sit), the self-calls
// the proxy's port's, where the page's self-calls go. The proxy and the pool are one process,
// so on the pool's port every upstream connection of the proxy would count as the app calling
// itself. (Beside a real nginx and PHP-FPM, two programs, `sim watch --upstream` does this.)
type poolAndFront struct{ pool, front *observe.Local }

// Sample counts the pool's port and takes the front port's self-calls for the same window; a
// front census that fails leaves the window's self-calls unmeasured, not the counts.
func (c poolAndFront) Sample(ctx context.Context) (sockets.Counts, error) {
	counts, err := c.pool.Sample(ctx)
	if err == nil {
		_, _ = c.front.Sample(ctx)
	}
	return counts, err
}

// SelfCalls are the front port's, from the last Sample.
func (c poolAndFront) SelfCalls() *watch.SelfCalls { return c.front.SelfCalls() }

// Describe names the pool's census: its counts are the record's socket columns.
func (c poolAndFront) Describe() results.Census { return c.pool.Describe() }
