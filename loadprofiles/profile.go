package loadprofiles

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/serverconf"
)

// Defaults applied by Normalize (and by Parse to keys a profile leaves out).
const (
	// DefaultClientTimeout is short next to vegeta's 30 s so that a hung server shows up as
	// client timeouts, and client closes (the CLOSE_WAIT pile-up), within a short run.
	DefaultClientTimeout = 2 * time.Second
	// DefaultConnections is vegeta's own default for idle connections per host.
	DefaultConnections = 10000
	// DefaultRecoveryDuration is how long recovery is probed after the load stops.
	DefaultRecoveryDuration = 10 * time.Second
	// DefaultRecoveryInterval is the pause between recovery probes: 20 probes in the default
	// duration, enough to time the first good answer to half a second.
	DefaultRecoveryInterval = 500 * time.Millisecond
	// DefaultDrainMax bounds how long recovery probing is extended while the server drains its
	// backlog: the self topology with 1 s self-call timeouts drains a 20 s overload of 16
	// workers in about 70 s (16 pages per 1.2 s), and two minutes covers that with room.
	DefaultDrainMax = 2 * time.Minute
	// DefaultRecoveryTimeout is the per-probe timeout; shorter than the interval would lose
	// probes to a slow but live server, so it is the same order as the client timeout.
	DefaultRecoveryTimeout = time.Second
	// DefaultSampleInterval is the observation window of the samplers (throughput, sockets,
	// server internals): four points a second keep a 45 s run's timeline readable.
	DefaultSampleInterval = 250 * time.Millisecond
	// DefaultHangFraction: good throughput below 10 % of the offered load counts as collapsed.
	DefaultHangFraction = 0.1
	// DefaultHangHold is how long throughput must stay collapsed to call it a hang, so that a
	// GC pause or a single slow window is not reported as one.
	DefaultHangHold = 3 * time.Second
	// DefaultSeed seeds the Poisson arrivals when a profile names no seed: a fixed value rather
	// than the clock, so that running the same profile twice offers the same arrival times.
	DefaultSeed = 1
)

// Bounds that keep a typo from flooding the machine or running for days.
const (
	// MaxTarget is the highest rate (requests/second) a stage may ask for. The self deadlock
	// shows up at tens to hundreds of rps; 20,000 rps is beyond what a 2-core machine running
	// both the attacker and the server can offer, so anything above it is a slip of the keyboard.
	MaxTarget = 20000.0
	// MaxDuration caps the total duration of the stages.
	MaxDuration = 24 * time.Hour
	// MinSampleInterval is the shortest observation window: below it the samplers' own cost
	// (netlink dumps, admin scrapes) would distort the run they measure.
	MinSampleInterval = 10 * time.Millisecond
	// MinNofile leaves room for the process's own files (binary, stdio, listeners, admin port)
	// before any connection is accepted: the server's own floor on nofile.
	MinNofile = serverconf.MinNoFile
	// MaxSampleInterval is the longest observation window. The collapse detector judges whole
	// windows against hang_hold (3 s by default) and the onset is known to a window: beyond 10 s
	// the timeline can no longer show when a run hung, which is what it is for.
	MaxSampleInterval = 10 * time.Second
	// MaxWindows caps the observation windows of a run, (load + recovery) / sample_interval:
	// each is a row of timeline.csv (up to ~600 bytes) and a sample the runner and the reports
	// hold in memory. 400,000 is a day of load (MaxDuration) and an hour of recovery at the
	// default 250 ms window; a finer window suits a shorter run.
	MaxWindows = 400_000
	// MinRecoveryInterval is the shortest pause between recovery probes. Each probe is a
	// goroutine and a fresh connection; 10 ms (100 probes a second) times recovery to the
	// resolution of the finest sample window (MinSampleInterval), and a finer one only loads the
	// server it is meant to observe.
	MinRecoveryInterval = 10 * time.Millisecond
	// MaxRecoveryProbes caps recovery.duration / recovery.interval, the probes of a run: each is
	// a goroutine while it waits, a row of probes.csv (~100 bytes) and a result in memory. The
	// default sends 21; 100,000 is about 14 hours at the default interval, 10 MB of probes.csv.
	MaxRecoveryProbes = 100_000
	// MaxProbesInFlight caps recovery.timeout / recovery.interval, the probes a hung server can
	// hold at once: each holds a connection (a file descriptor of the runner) and a goroutine
	// until its timeout. The default holds 2; 1,000 leaves room for the attacker's connections
	// within the smallest usual RLIMIT_NOFILE, 4,096.
	MaxProbesInFlight = 1_000
	// MaxHangHold caps detect.hang_hold. A hang is a collapse that lasts hang_hold up to the end
	// of the load; the incident's server hung for good within minutes, a longer hold only needs
	// a longer load before any hang can be reported, and a hold longer than the load hides every
	// hang.
	MaxHangHold = time.Hour
)

// Mode says how a stage moves the rate.
type Mode string

// Stage modes.
const (
	// ModeRamp changes the rate linearly from the stage's start rate to its Target.
	ModeRamp Mode = "ramp"
	// ModeHold keeps the rate at Target for the whole stage.
	ModeHold Mode = "hold"
)

// Arrivals says how hits are spread around the stages' rate curve.
type Arrivals string

// Arrival processes.
const (
	// ArrivalsUniform spaces the hits evenly along the rate curve (StagePacer).
	ArrivalsUniform Arrivals = "uniform"
	// ArrivalsPoisson makes them a non-homogeneous Poisson process with the curve as its rate
	// (PoissonPacer): independent users, whose requests bunch up and leave gaps.
	ArrivalsPoisson Arrivals = "poisson"
)

// Profile is one load profile: what load to offer, with which client, and how to judge the
// outcome.
type Profile struct {
	// Name identifies the profile in listings and reports; defaults to the file's base name.
	Name string `yaml:"name" mapstructure:"name" json:"name"`
	// Description is one line shown in listings and `sim run --help`.
	Description string `yaml:"description" mapstructure:"description" json:"description"`
	// Stages run one after the other; the load stops at the end of the last one.
	Stages []Stage `yaml:"stages" mapstructure:"stages" json:"stages"`
	// Arrivals is ArrivalsUniform or ArrivalsPoisson; empty means ArrivalsUniform.
	Arrivals Arrivals `yaml:"arrivals" mapstructure:"arrivals" json:"arrivals"`
	// Seed seeds the Poisson arrivals (>= 0): the same seed gives the same arrival times. Parse
	// defaults it to DefaultSeed (1); Normalize leaves it alone, since its zero value 0 is a
	// valid seed it cannot tell from unset. Uniform arrivals do not use it.
	Seed int64 `yaml:"seed" mapstructure:"seed" json:"seed"`
	// Client holds the vegeta attacker settings.
	Client Client `yaml:"client" mapstructure:"client" json:"client"`
	// Recovery says how the server is probed after the load stops.
	Recovery Recovery `yaml:"recovery" mapstructure:"recovery" json:"recovery"`
	// SampleInterval is the observation window of the samplers and detectors.
	SampleInterval time.Duration `yaml:"sample_interval" mapstructure:"sample_interval" json:"sample_interval"`
	// Detect holds the collapse (hang) thresholds.
	Detect Detect `yaml:"detect" mapstructure:"detect" json:"detect"`
	// Thresholds fail a run (exit 1) that breaches them.
	Thresholds Thresholds `yaml:"thresholds" mapstructure:"thresholds" json:"thresholds"`
	// Server overrides the `sim serve` configuration; unset fields keep the server's own.
	Server Server `yaml:"server" mapstructure:"server" json:"server"`
}

// Stage is one piece of the rate curve.
type Stage struct {
	// Duration of the stage; > 0.
	Duration time.Duration `yaml:"duration" mapstructure:"duration" json:"duration"`
	// Target is the rate (requests/second) at the end of the stage.
	Target float64 `yaml:"target" mapstructure:"target" json:"target"`
	// Mode is ModeRamp or ModeHold; empty means ModeRamp.
	Mode Mode `yaml:"mode" mapstructure:"mode" json:"mode"`
	// From is the start rate of a ramp; nil means the previous stage's Target (0 for the first
	// stage). A pointer, because 0 is a valid start rate distinct from "continue".
	From *float64 `yaml:"from" mapstructure:"from" json:"from,omitempty"`
}

// Client holds the vegeta attacker settings.
type Client struct {
	// Timeout is the per-request timeout (vegeta.Timeout); > 0.
	Timeout time.Duration `yaml:"timeout" mapstructure:"timeout" json:"timeout"`
	// Keepalive reuses connections (vegeta.KeepAlive). Parse defaults it to true; Normalize
	// leaves it alone, since its zero value false is a valid choice it cannot tell from unset.
	Keepalive bool `yaml:"keepalive" mapstructure:"keepalive" json:"keepalive"`
	// MaxWorkers caps the attacker's workers (vegeta.MaxWorkers); 0 means vegeta's default,
	// unbounded, which keeps the offered rate up however slow the server gets.
	MaxWorkers int `yaml:"max_workers" mapstructure:"max_workers" json:"max_workers"`
	// Connections is the maximum of idle connections per host (vegeta.Connections); > 0.
	Connections int `yaml:"connections" mapstructure:"connections" json:"connections"`
}

// Recovery says how the server is probed once the load stops.
type Recovery struct {
	// Duration is how long to keep probing; > 0.
	Duration time.Duration `yaml:"duration" mapstructure:"duration" json:"duration"`
	// Interval is the pause between probes; > 0 and <= Duration.
	Interval time.Duration `yaml:"interval" mapstructure:"interval" json:"interval"`
	// Timeout is the per-probe timeout; > 0.
	Timeout time.Duration `yaml:"timeout" mapstructure:"timeout" json:"timeout"`
	// DrainMax is how much longer probing goes on after Duration while no probe has been
	// answered and the server is still draining its backlog (its worker queue, as its admin
	// listener reports it, shorter than a few seconds before): a server that is working
	// through a backlog is slow, not hung, and the run measures when it recovers instead of
	// calling it a hang. 0 turns the extension off; nil (unset) is DefaultDrainMax.
	DrainMax *time.Duration `yaml:"drain_max" mapstructure:"drain_max" json:"drain_max,omitempty"`
}

// Drain is DrainMax with its default.
func (r Recovery) Drain() time.Duration {
	if r.DrainMax == nil {
		return DefaultDrainMax
	}
	return *r.DrainMax
}

// Detect holds the thresholds of the collapse detector: good throughput below HangFraction of
// the offered load for at least HangHold is a collapse.
type Detect struct {
	// HangFraction is in (0, 1).
	HangFraction float64 `yaml:"hang_fraction" mapstructure:"hang_fraction" json:"hang_fraction"`
	// HangHold is > 0.
	HangHold time.Duration `yaml:"hang_hold" mapstructure:"hang_hold" json:"hang_hold"`
}

// Duration returns the total duration of the stages: how long load is offered.
func (p *Profile) Duration() time.Duration {
	var total time.Duration
	for _, s := range p.Stages {
		total += s.Duration
	}
	return total
}

// RateAt returns the offered rate (requests/second) at elapsed time since the load started. It
// is 0 before the start and from the end of the last stage on; at a stage boundary the later
// stage applies, so a hold that jumps to a new rate reports the new rate at its first instant.
func (p *Profile) RateAt(elapsed time.Duration) float64 {
	if elapsed < 0 {
		return 0
	}
	var start time.Duration
	prev := 0.0
	for _, s := range p.Stages {
		r0, r1 := s.rates(prev)
		prev = s.Target
		if s.Duration <= 0 {
			continue
		}
		if elapsed < start+s.Duration {
			frac := float64(elapsed-start) / float64(s.Duration)
			return clampRate(r0 + (r1-r0)*frac)
		}
		start += s.Duration
	}
	return 0
}

// PeakRate returns the highest rate the profile offers. The curve is piecewise linear, so the
// peak is at a stage's start or end.
func (p *Profile) PeakRate() float64 {
	peak := 0.0
	prev := 0.0
	for _, s := range p.Stages {
		r0, r1 := s.rates(prev)
		prev = s.Target
		if s.Duration <= 0 {
			continue
		}
		peak = math.Max(peak, math.Max(clampRate(r0), clampRate(r1)))
	}
	return peak
}

// rates returns the stage's rate at its start and its end, given the previous stage's target.
func (s Stage) rates(prev float64) (start, end float64) {
	if s.Mode == ModeHold {
		return s.Target, s.Target
	}
	if s.From != nil {
		return *s.From, s.Target
	}
	return prev, s.Target
}

// clampRate keeps a negative rate from an unvalidated profile from making the integral of the
// rate curve decrease.
func clampRate(r float64) float64 {
	if r < 0 || math.IsNaN(r) {
		return 0
	}
	return r
}

// Normalize fills the zero values with the defaults, the way fortio's options do, so that a
// profile built in code needs only its stages. It does not touch Client.Keepalive nor Seed (see
// there) nor Name. Call it before Validate.
func (p *Profile) Normalize() {
	p.Description = strings.TrimSpace(p.Description)
	for i := range p.Stages {
		if p.Stages[i].Mode == "" {
			p.Stages[i].Mode = ModeRamp
		}
	}
	if p.Arrivals == "" {
		p.Arrivals = ArrivalsUniform
	}
	setDuration(&p.Client.Timeout, DefaultClientTimeout)
	if p.Client.Connections == 0 {
		p.Client.Connections = DefaultConnections
	}
	setDuration(&p.Recovery.Duration, DefaultRecoveryDuration)
	setDuration(&p.Recovery.Interval, DefaultRecoveryInterval)
	setDuration(&p.Recovery.Timeout, DefaultRecoveryTimeout)
	setDuration(&p.SampleInterval, DefaultSampleInterval)
	if p.Detect.HangFraction == 0 {
		p.Detect.HangFraction = DefaultHangFraction
	}
	setDuration(&p.Detect.HangHold, DefaultHangHold)
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// defaults returns the profile Parse decodes a file onto: every default in place, so that a key
// the file leaves out keeps its default while a key it sets to 0 is validated as given.
func defaults() Profile {
	p := Profile{Seed: DefaultSeed, Client: Client{Keepalive: true}}
	p.Normalize()
	return p
}

// Validate checks the profile as it is (call Normalize first to fill defaults) and returns the
// first mistake as an *invalid.Error whose Field is the YAML path and whose Source is the
// profile's name.
func (p *Profile) Validate() error {
	return p.validate(p.Name)
}

func (p *Profile) validate(source string) error {
	err := p.check()
	if err != nil {
		if e, ok := err.(*invalid.Error); ok {
			e.Source = source
		}
	}
	return err
}

// check returns the first mistake; its order follows the file (top to bottom) so that a user
// fixing errors one at a time moves down the file.
func (p *Profile) check() error {
	if strings.ContainsAny(strings.TrimSpace(p.Description), "\r\n") {
		return invalid.Field("description", p.Description, "a single line")
	}
	if err := checkStages(p.Stages); err != nil {
		return err
	}
	switch p.Arrivals {
	case "", ArrivalsUniform, ArrivalsPoisson:
	default:
		return invalid.Field("arrivals", string(p.Arrivals), "one of uniform, poisson (default uniform)")
	}
	if p.Seed < 0 {
		return invalid.Field("seed", p.Seed, "a whole number >= 0 (default 1)")
	}
	if err := p.Client.check(); err != nil {
		return err
	}
	if err := p.Recovery.check(); err != nil {
		return err
	}
	if p.SampleInterval < MinSampleInterval || p.SampleInterval > MaxSampleInterval {
		return invalid.Field("sample_interval", p.SampleInterval, ">= "+MinSampleInterval.String()+" and <= "+MaxSampleInterval.String())
	}
	// Both durations are within MaxDuration here (checkStages, Recovery.check).
	run := p.Duration().Seconds() + p.Recovery.Duration.Seconds()
	if windows := run / p.SampleInterval.Seconds(); windows > MaxWindows {
		return invalid.Field("sample_interval", p.SampleInterval, fmt.Sprintf(
			"a window that cuts the load and recovery (%s) into at most %d windows; this one makes %.3g windows: a longer sample_interval or a shorter run",
			time.Duration(run*float64(time.Second)).Round(time.Second), MaxWindows, windows))
	}
	if err := p.Detect.check(); err != nil {
		return err
	}
	if err := p.Thresholds.check(); err != nil {
		return err
	}
	return checkServer(p.Server)
}

func checkStages(stages []Stage) error {
	if len(stages) == 0 {
		return invalid.Field("stages", nil, "a list of at least one stage, e.g. [{duration: 10s, target: 40}]")
	}
	// Summed in seconds: a few stages of thousands of hours would overflow a time.Duration.
	total := 0.0
	for i, s := range stages {
		field := func(key string) string { return fmt.Sprintf("stages[%d].%s", i, key) }
		if s.Duration <= 0 {
			return invalid.Field(field("duration"), s.Duration, "a duration > 0, such as 10s")
		}
		switch s.Mode {
		case "", ModeRamp, ModeHold:
		default:
			return invalid.Field(field("mode"), string(s.Mode), "one of ramp, hold (default ramp)")
		}
		if err := checkRate(field("target"), s.Target); err != nil {
			return err
		}
		if s.From != nil {
			if s.Mode == ModeHold {
				return invalid.Field(field("from"), *s.From, "no from in a hold stage (it runs at its target); use mode: ramp")
			}
			if err := checkRate(field("from"), *s.From); err != nil {
				return err
			}
		}
		total += s.Duration.Seconds()
	}
	if total > MaxDuration.Seconds() {
		var value any = fmt.Sprintf("%.0fh in all", total/3600)
		if total < float64(math.MaxInt64)/1e9 {
			value = time.Duration(total * 1e9).Round(time.Second)
		}
		return invalid.Field("stages", value, "a total duration <= "+MaxDuration.String())
	}
	return nil
}

func checkRate(field string, r float64) error {
	if err := invalid.Finite(field, r); err != nil {
		return err
	}
	switch {
	case r < 0:
		return invalid.Field(field, r, "a rate >= 0 requests/second")
	case r > MaxTarget:
		return invalid.Field(field, r, fmt.Sprintf("a rate <= %g requests/second (MaxTarget)", MaxTarget))
	}
	return nil
}

func (c Client) check() error {
	switch {
	case c.Timeout <= 0:
		return invalid.Field("client.timeout", c.Timeout, "a duration > 0, such as 1s")
	case c.MaxWorkers < 0:
		return invalid.Field("client.max_workers", c.MaxWorkers, ">= 0 (0 = vegeta's default, unbounded)")
	case c.Connections <= 0:
		return invalid.Field("client.connections", c.Connections, "> 0")
	}
	return nil
}

func (r Recovery) check() error {
	switch {
	case r.Duration <= 0 || r.Duration > MaxDuration:
		return invalid.Field("recovery.duration", r.Duration, "a duration > 0 and <= "+MaxDuration.String()+", such as 10s")
	case r.Interval < MinRecoveryInterval || r.Interval > r.Duration:
		return invalid.Field("recovery.interval", r.Interval,
			fmt.Sprintf("a duration >= %s and <= recovery.duration (%s)", MinRecoveryInterval, r.Duration))
	case r.Duration/r.Interval+1 > MaxRecoveryProbes:
		return invalid.Field("recovery.interval", r.Interval, fmt.Sprintf(
			"an interval that sends at most %d probes over recovery.duration (%s); this one sends %d probes",
			MaxRecoveryProbes, r.Duration, r.Duration/r.Interval+1))
	case r.Drain() < 0 || r.Drain() > MaxDuration:
		return invalid.Field("recovery.drain_max", r.Drain(), "a duration >= 0 (0: no extension) and <= "+MaxDuration.String())
	case (r.Duration+r.Drain())/r.Interval+1 > MaxRecoveryProbes:
		return invalid.Field("recovery.drain_max", r.Drain(), fmt.Sprintf(
			"a duration that keeps the probes of recovery.duration + drain_max at most %d at interval %s", MaxRecoveryProbes, r.Interval))
	case r.Timeout <= 0:
		return invalid.Field("recovery.timeout", r.Timeout, "a duration > 0, such as 1s")
	case r.Timeout/r.Interval > MaxProbesInFlight:
		return invalid.Field("recovery.timeout", r.Timeout, fmt.Sprintf(
			"a timeout that keeps at most %d probes waiting at once on a hung server (timeout / interval, interval %s); this one keeps %d",
			MaxProbesInFlight, r.Interval, r.Timeout/r.Interval))
	}
	return nil
}

func (d Detect) check() error {
	if !(d.HangFraction > 0 && d.HangFraction < 1) {
		return invalid.Field("detect.hang_fraction", d.HangFraction, "a fraction strictly between 0 and 1, such as 0.1")
	}
	if d.HangHold <= 0 || d.HangHold > MaxHangHold {
		return invalid.Field("detect.hang_hold", d.HangHold, "a duration > 0 and <= "+MaxHangHold.String()+", such as 3s")
	}
	return nil
}

// DurationPaths are the paths of a profile's durations as its JSON (config.json's load_profile)
// writes them, in nanoseconds: "sample_interval", "recovery.drain_max", "stages.duration" (a
// list's elements share their list's path) and the server section's duration keys
// ("server.work_time", from serverconf.Keys). Read from the types, so that a duration added to
// a profile is shown as one by the reports without a list to update.
func DurationPaths() map[string]bool {
	out := map[string]bool{}
	for _, k := range serverconf.Keys() {
		if k.Kind == serverconf.Duration {
			out["server."+k.Name] = true
		}
	}
	durationPaths(reflect.TypeFor[Profile](), "", out)
	return out
}

func durationPaths(t reflect.Type, prefix string, out map[string]bool) {
	durT := reflect.TypeFor[time.Duration]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || f.Type == reflect.TypeFor[Server]() {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		switch {
		case ft == durT:
			out[prefix+name] = true
		case ft.Kind() == reflect.Struct:
			durationPaths(ft, prefix+name+".", out)
		}
	}
}
