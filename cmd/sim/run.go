package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/simdev/sim/internal/hostguard"
	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/redact"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/runner"
)

// defaultRunsDir is where run records go unless --out says otherwise; git-ignored.
const defaultRunsDir = "runs"

type runFlags struct {
	topology    string
	runtime     string
	profile     string
	out         string
	json        bool
	target      string
	watchPort   int
	admin       string
	watch       string
	watchToken  string
	allowRemote bool
	stopOnHang  bool
	engine      string
	shard       string
	limits      limitFlags
}

// limitFlags are --max-rate and --max-duration: the caps a command puts on a profile, which a
// user lifts up to the hard ceilings (loadprofiles.MaxTarget, loadprofiles.MaxDuration).
type limitFlags struct {
	rate     float64
	duration time.Duration
}

// add declares the flags on fs with loadprofiles' defaults.
func (l *limitFlags) add(fs *pflag.FlagSet) {
	fs.Float64Var(&l.rate, "max-rate", loadprofiles.DefaultMaxRate,
		fmt.Sprintf("refuse a profile whose rate exceeds this, requests/second (at most %g)", loadprofiles.MaxTarget))
	fs.DurationVar(&l.duration, "max-duration", loadprofiles.DefaultMaxDuration,
		fmt.Sprintf("refuse a profile whose load, or recovery, lasts longer than this (at most %s)", loadprofiles.MaxDuration))
}

// load loads the profile within the limits; bad limits are reported by flag.
func (l limitFlags) load(profile string) (*loadprofiles.Profile, error) {
	return loadprofiles.LoadWithLimits(profile, loadprofiles.Limits{
		MaxRate: l.rate, MaxDuration: l.duration,
		RateSetting: "--max-rate", DurationSetting: "--max-duration",
	})
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Ramp load on one topology and record hang onset, CLOSE_WAIT and recovery",
		Long: `Start a topology as child processes (sim serve on fresh loopback ports), ramp load on its
/page with vegeta following a load profile, observe it every sample_interval (client results,
the app port's sockets by state from the kernel, the app's /stats), probe for recovery after
the load stops, and write a run record:

  runs/YYYYMMDD-HHMMSS-TOPOLOGY/
    summary.json   verdict, hang onset, peak CLOSE_WAIT, recovery, latency (schema_version 1)
    timeline.csv   one row per observation window
    probes.csv     the recovery probes
    results.bin    every request, readable by 'vegeta report' and 'vegeta plot'
    config.json    the effective config; serve.log, goroutines.txt (the app's thread dump)

Verdicts: collapse = good throughput below hang_fraction of the offered rate for at least
hang_hold until the load ends; capacity = the good throughput of a plateau below 90% of the
offered rate lasting at least hang_hold; hang = collapse and no good probe during recovery,
or a recovery only after the app was stuck (requests waiting, none taken) for max(10 s, 3 x
hang_hold) after the load: a timeout or a watchdog ended it; saturated (at its capacity) =
collapse but recovered by draining, a plateau without a hang, or 10 % of the requests failed;
ok = none of these.

Topologies (--topology; one file each in internal/topology):
` + topologyHelp() + `
Runtimes (--runtime, or server.runtime in the profile; one file each in internal/runtimes): the
server whose mechanics sim's server imitates. A runtime's defaults (pool size, backlog,
keep-alive, the self-call client's behaviour and timeouts) apply to the keys the profile leaves
unset; a topology stays what the page fetches and which fix is applied. docs/runtimes.md has
each runtime's mechanics, the fixes its users deploy and its calibration.
` + runtimeHelp() + `
Built-in profiles:
` + profileList() + `
External mode: --target URL attacks a server that is already running on this machine (a real
Tomcat, a real nginx, your own app) with the same profile, samples the sockets of --watch-port
(default: the target's port) and writes the same record -- the way to check your own app for the
self-call deadlock: if it hangs and does not recover, look for calls it makes to itself. Targets
outside loopback need --allow-remote, which prints what will be sent first.

--watch http://AGENT takes the socket columns from a 'sim watch' agent beside the app instead
of this machine's kernel: the way to see the CLOSE_WAIT sockets of an app in a container, a pod
or on another host (--watch-token or SIM_WATCH_TOKEN if the agent wants one; an agent outside
loopback needs --allow-remote). Each window asks the agent for its census at the window's end,
on this machine's clock, and waits at most half a sample_interval: a census that does not come
back in time, fails, or is not newer by the agent's clock than the one before is a gap (an empty
cell in timeline.csv), never zero sockets. The agent's clock is used only for that and for the
offset estimate the summary reports (census.clock_offset_ms); windows are placed on this
machine's clock. summary.json and the report say where the census came from.

` + shardHelp + `

` + limitsHelp() + `

Thresholds in the profile ("thresholds: {p99: 500ms, errors: 1%, hang: forbidden}") make a
completed run that breaches one exit 1, naming each breach.

` + engineHelp + `

Exit codes: 0 run completed (whatever the verdict), 1 a threshold was breached, 2 bad input, 3 the
run failed or was interrupted (the record is kept, marked incomplete).`,
		Example: `  sim run --topology self --profile quick
  sim run --topology split --profile ramp --out /tmp/runs --json
  sim run --runtime gunicorn --profile quick
  sim run --topology self --profile ./my-profile.yaml
  sim run --target http://127.0.0.1:8080/app/page.jsp --profile ramp
  sim run --target http://127.0.0.1:8080/page --watch http://127.0.0.1:8082
  sim run --target http://127.0.0.1:8080/page --shard 1/3 --out runs/shards`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("watch-token") {
				f.watchToken = os.Getenv(watchTokenEnv)
			}
			return runRun(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.topology, "topology", app.Self, topologyUsage())
	fl.StringVar(&f.runtime, "runtime", "", runtimeUsage())
	fl.StringVar(&f.profile, "profile", "quick", "built-in profile name or path to a YAML profile")
	fl.StringVar(&f.out, "out", defaultRunsDir, "folder under which the run record is created")
	fl.BoolVar(&f.json, "json", false, "print the summary as JSON instead of text")
	fl.StringVar(&f.target, "target", "", "attack this URL on a server already running (external mode: no child is started)")
	fl.IntVar(&f.watchPort, "watch-port", 0, "external mode: the server port whose sockets are sampled (default: the target's port)")
	fl.StringVar(&f.admin, "admin", "", "external mode: a sim admin listener to read /stats from (optional)")
	fl.StringVar(&f.watch, "watch", "", "external mode: take the socket columns from the sim watch agent at this URL instead of this machine's kernel")
	fl.StringVar(&f.watchToken, "watch-token", "", "the --watch agent's bearer token (default $"+watchTokenEnv+")")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "external mode: allow a target outside 127.0.0.0/8 and ::1")
	fl.StringVar(&f.engine, "engine", results.EngineSockets, "sockets (the real server on loopback) or model (the virtual-time model: milliseconds, record marked engine model)")
	fl.StringVar(&f.shard, "shard", "", "external mode: I/N, send 1/N of the profile's load as shard I (0-based) of N processes; 'sim report --merge' merges their records")
	fl.BoolVar(&f.stopOnHang, "stop-on-hang", false, "end the load as soon as the collapse has held for hang_hold, then probe for recovery (time-to-hang measurements)")
	f.limits.add(fl)
	return cmd
}

// limitsHelp explains the default limits and the flags that lift them, from the constants.
func limitsHelp() string {
	return fmt.Sprintf(`Limits: a profile may ask for at most %g rps and %s of load (and %s of recovery probing),
so that a typo does not flood the machine; --max-rate and --max-duration lift them, up to %g rps
and %s.`, loadprofiles.DefaultMaxRate, shortDuration(loadprofiles.DefaultMaxDuration), shortDuration(loadprofiles.DefaultMaxDuration),
		loadprofiles.MaxTarget, shortDuration(loadprofiles.MaxDuration))
}

// shortDuration drops the zero units of a whole number of hours or minutes: "1h", not "1h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func profileList() string {
	var b strings.Builder
	for _, name := range loadprofiles.Builtin() {
		d, _ := loadprofiles.BuiltinDescription(name)
		fmt.Fprintf(&b, "  %-7s %s\n", name, d)
	}
	return b.String()
}

func runRun(cmd *cobra.Command, f runFlags) error {
	if err := f.check(cmd.Flags()); err != nil {
		return err
	}
	if err := checkShardMode(cmd.Flags(), f.target != ""); err != nil {
		return err
	}
	if err := checkEngine(f.engine); err != nil {
		return err
	}
	if f.engine == results.EngineModel && (f.target != "" || cmd.Flags().Changed("watch-port") || f.admin != "") {
		return &invalid.Error{Field: "--engine", Value: f.engine, Allowed: "sockets in external mode (--target): the model simulates sim's own server, not one already running"}
	}
	if f.target != "" || cmd.Flags().Changed("watch-port") || f.admin != "" {
		if cmd.Flags().Changed("runtime") {
			return &invalid.Error{Field: "--runtime", Value: f.runtime, Allowed: "unset in external mode (--target): the target is the runtime that is running; --runtime chooses what sim's own server imitates"}
		}
		return runExternal(cmd, f)
	}
	if err := checkTopology("--topology", f.topology); err != nil {
		return err
	}
	if cmd.Flags().Changed("runtime") {
		if err := checkRuntime("--runtime", f.runtime); err != nil {
			return err
		}
	}
	prof, err := f.limits.load(f.profile)
	if err != nil {
		return err
	}
	prof = withRuntime(prof, f.runtime)
	if _, err := runner.ServerConfig(f.topology, prof); err != nil {
		return fmt.Errorf("profile %s: server: %w", f.profile, err)
	}
	sess, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer sess.close()
	sess.stopOnHang = f.stopOnHang
	sess.engine = f.engine
	out, err := sess.run(f.topology, prof, f.profile, results.NewRunDir(f.out, f.topology, time.Now()), nil)
	if perr := printOutcome(cmd, out, f.json); perr != nil {
		return perr
	}
	if err != nil {
		return runError(out, err)
	}
	return checkThresholds(prof, []results.Summary{out.Summary})
}

// forcer closes ch on the second SIGINT/SIGTERM: the first asks for a clean stop (the command's
// context), the second for an immediate one.
type forcer struct {
	ch   chan struct{}
	sigs chan os.Signal
	quit chan struct{}
}

func forceOnSecondSignal() *forcer {
	f := &forcer{ch: make(chan struct{}), sigs: make(chan os.Signal, 2), quit: make(chan struct{})}
	signal.Notify(f.sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for {
			select {
			case <-f.sigs:
				n++
				if n == 2 {
					close(f.ch)
					return
				}
			case <-f.quit:
				return
			}
		}
	}()
	return f
}

func (f *forcer) stop() {
	signal.Stop(f.sigs)
	close(f.quit)
}

func printSummary(w io.Writer, dir string, s results.Summary) {
	engine := ""
	if s.Engine == results.EngineModel {
		engine = " (model)"
	}
	verdict := s.VerdictLine()
	if why := s.Why(); why != "" {
		verdict += " — " + why
	}
	on := ""
	if s.Runtime != "" {
		on = " on " + s.Runtime
	}
	fmt.Fprintf(w, "sim run: topology %s%s, profile %s%s: %s\n", s.Topology, on, s.Profile, engine, verdict)
	switch {
	case s.Collapse && s.CollapseOnsetS != nil:
		label := "hang onset"
		if !s.Hang {
			label = "collapse"
		}
		fmt.Fprintf(w, "  %-15s %.1f s at %.0f rps offered (in flight %d, workers busy %d, CLOSE_WAIT %d)\n",
			label, *s.CollapseOnsetS, deref(s.OnsetRateRPS), s.OnsetInFlight, s.OnsetWorkersBusy, s.OnsetCloseWait)
	default:
		fmt.Fprintf(w, "  %-15s none\n", "hang onset")
	}

	if s.CapacityRPS != nil && s.SaturationOnsetS != nil {
		fmt.Fprintf(w, "  %-15s %.0f rps (OK throughput held below the offered rate from %.1f s)\n", "capacity", *s.CapacityRPS, *s.SaturationOnsetS)
	}
	if s.HangStage != nil && s.HangAfterStageStartS != nil {
		fmt.Fprintf(w, "  %-15s %.1f s after the start of stage %d (a hold)\n", "time to hang", *s.HangAfterStageStartS, *s.HangStage+1)
	}
	if s.StoppedOnHang && s.LoadStoppedS != nil {
		fmt.Fprintf(w, "  %-15s stopped early at %.1f s (--stop-on-hang: the collapse had held for %.0f s)\n", "load", *s.LoadStoppedS, s.Thresholds.HangHoldS)
	}
	fmt.Fprintf(w, "  %-15s %d (at %.1f s); peak accept queue %d; accept errors %d\n", "peak CLOSE_WAIT", s.PeakCloseWait, s.PeakCloseWaitTS, s.PeakAcceptQueue, s.AcceptErrors)
	if s.ProxyTimeouts > 0 || s.ProxyClientClosed > 0 {
		front := ""
		if s.PeakFrontCloseWait != nil {
			front = fmt.Sprintf("; peak CLOSE_WAIT on its own port %d", *s.PeakFrontCloseWait)
		}
		fmt.Fprintf(w, "  %-15s %d x 504 (proxy_read_timeout), %d x 499 (client left first)%s\n", "front proxy", s.ProxyTimeouts, s.ProxyClientClosed, front)
	}
	if c := s.Census; c != nil && (c.Source == results.CensusAgent || c.Gaps > 0) {
		fmt.Fprintf(w, "  %-15s %s; %d of %d windows missing\n", "socket census", c, c.Gaps, c.Windows)
	}
	switch {
	case s.Recovered && s.RecoveryS != nil:
		fmt.Fprintf(w, "  %-15s recovered %.1f s after the load stopped\n", "recovery", *s.RecoveryS)
	case !s.Complete:
		// An interrupted run may not have probed at all: "not recovered" would be a verdict.
		fmt.Fprintf(w, "  %-15s not measured (the run is incomplete)\n", "recovery")
	default:
		fmt.Fprintf(w, "  %-15s not recovered within %.0f s\n", "recovery", s.RecoveryWindowS)
	}
	fmt.Fprintf(w, "  %-15s %d sent, %d OK; p50 %.0f ms, p99 %.0f ms\n", "requests", s.Requests, s.OK, s.P50MS, s.P99MS)
	if len(s.Errors) > 0 {
		// Every kind the run saw, the most frequent first: http_503 and http_502 are what the
		// bounded queue and the admission limit answer.
		kinds := slices.Collect(maps.Keys(s.Errors))
		slices.SortFunc(kinds, func(a, b string) int { return cmp.Or(s.Errors[b]-s.Errors[a], strings.Compare(a, b)) })
		var parts []string
		for _, k := range kinds {
			if n := s.Errors[k]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, n))
			}
		}
		fmt.Fprintf(w, "  %-15s %s\n", "errors", strings.Join(parts, ", "))
	}
	if !s.Complete {
		fmt.Fprintf(w, "  %-15s INCOMPLETE: %s\n", "status", s.InterruptedReason)
	}
	fmt.Fprintf(w, "  %-15s %s\n", "record", filepath.Clean(dir))
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// progressPrinter shows a live line on a terminal and a plain line every few seconds elsewhere.
type progressPrinter struct {
	w        io.Writer
	tty      bool
	lastLine time.Time
	printed  bool
}

// plainEvery is how often a non-terminal gets a progress line.
const plainEvery = 5 * time.Second

func newProgressPrinter(w io.Writer) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressPrinter{w: w, tty: tty}
}

func (p *progressPrinter) update(pr runner.Progress) {
	s := pr.Sample
	closeWait := fmt.Sprintf("%5d", s.CloseWait)
	if s.SocketsMissing {
		closeWait = "  gap" // the census did not come back in time: not a count
	}
	line := fmt.Sprintf("%5.1f/%.0fs %-8s offered %5.0f rps  ok %5.0f rps  p99 %6.0f ms  CLOSE_WAIT %s  busy %4d  queued %5d",
		pr.Elapsed.Seconds(), pr.Total.Seconds(), pr.Phase, s.OfferedRPS, s.OKRPS, s.P99, closeWait, s.WorkersBusy, s.Queued)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.printed = true
		return
	}
	if time.Since(p.lastLine) >= plainEvery {
		fmt.Fprintln(p.w, line)
		p.lastLine = time.Now()
	}
}

func (p *progressPrinter) done() {
	if p.tty && p.printed {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// runExternal attacks a server that is already running: a real Tomcat, a real nginx, your app.
func runExternal(cmd *cobra.Command, f runFlags) error {
	u, err := checkTarget(f.target, f.allowRemote)
	if err != nil {
		return err
	}
	var shard *loadprofiles.Shard
	label := "external"
	if cmd.Flags().Changed("shard") {
		s, err := parseShard(f.shard)
		if err != nil {
			return err
		}
		shard, label = &s, shardLabel(s)
	}
	remote := !isLoopbackHost(u.Hostname())
	port := f.watchPort
	if !cmd.Flags().Changed("watch-port") {
		port, _ = urlPort(u) // checkTarget checked it
	}
	if port < 1 || port > maxPort {
		return &invalid.Error{Field: "--watch-port", Value: f.watchPort, Allowed: fmt.Sprintf("1 to %d", maxPort)}
	}
	if f.watch != "" {
		if err := checkWatch(f.watch, f.allowRemote); err != nil {
			return err
		}
		port = 0 // the agent counts the port it watches; --watch-port is refused with --watch
	}
	if f.admin != "" {
		if f.admin, err = checkAdmin(f.admin); err != nil {
			return err
		}
	}
	prof, err := f.limits.load(f.profile)
	if err != nil {
		return err
	}
	if len(prof.Server.Flags()) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: external mode ignores the profile's server section (%s)\n", strings.Join(prof.Server.Flags(), " "))
	}
	if remote {
		sent := prof
		if shard != nil {
			sent, _ = prof.Shard(*shard)
		}
		fmt.Fprintln(cmd.ErrOrStderr(), remoteNotice(redact.URL(f.target), sent, port, redact.URL(f.watch)))
	}
	sess, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer sess.close()
	out, err := runner.Run(cmd.Context(), runner.Options{
		Topology:    "external",
		Profile:     prof,
		ProfileName: f.profile,
		RecordDir:   results.NewRunDir(f.out, label, time.Now()),
		Progress:    sess.progress.update,
		Force:       sess.force.ch,
		Target:      f.target,
		WatchPort:   uint16(port),
		AdminURL:    f.admin,
		WatchURL:    f.watch,
		WatchToken:  f.watchToken,
		StopOnHang:  f.stopOnHang,
		Shard:       shard,
	})
	sess.progress.done()
	if perr := printOutcome(cmd, out, f.json); perr != nil {
		return perr
	}
	if shard != nil && out != nil && !f.json {
		printShard(cmd.OutOrStdout(), *shard)
	}
	return runError(out, maskErr(err, f.target))
}

// remoteNotice is what --allow-remote prints before attacking another machine: what will be
// sent, how fast, for how long, and where the sockets are counted: on local port watchPort, or
// by the agent at watchURL (already masked) when it is not empty.
func remoteNotice(target string, prof *loadprofiles.Profile, watchPort int, watchURL string) string {
	census := fmt.Sprintf("sockets are watched on local port %d only", watchPort)
	if watchURL != "" {
		census = "sockets are counted by the sim watch agent at " + watchURL
	}
	return fmt.Sprintf("--allow-remote: will send GET %s from this machine, up to %.0f rps for %s (about %.0f requests), then probe it for %s; %s",
		target, prof.PeakRate(), prof.Duration(), prof.Pacer().Hits(), prof.Recovery.Duration, census)
}

// isLoopbackHost reports whether a URL's host names localhost or a loopback address.
func isLoopbackHost(h string) bool { return hostguard.LoopbackHost(h) }

// printOutcome prints a run's summary, as text or JSON; nothing when the run made no record.
func printOutcome(cmd *cobra.Command, out *runner.Outcome, asJSON bool) error {
	if out == nil {
		return nil
	}
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(out.Summary)
	}
	printSummary(cmd.OutOrStdout(), out.Dir, out.Summary)
	return nil
}
