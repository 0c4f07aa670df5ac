// Package run is the run contract both engines keep: the real server on loopback sockets
// (simulator/runner, which drives simulator/observe) and the virtual-time model
// (simulator/model). It holds what a run is given (Spec) and what it produces (Outcome, the
// record's config.json and summary.json), the record session every run goes through
// (Session: config, a summary marked incomplete, the streams, the final summary), and the rules
// of a run's end that must not differ between the engines (Observation.Summarize, the recovery
// probes and their drain extension, the stop on a hang), each written once here and driven by
// each engine on its own clock: wall time for sockets, virtual time for the model.
//
// It imports no socket, process or HTTP server package, so that the model, which imports it,
// stays a pure simulation.
package run

import (
	"context"
	"errors"
	"time"

	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/detect"
)

// Engine runs a profile on a topology and leaves a run record: the socket engine
// (runner.Engine) and the model (model.Engine).
type Engine interface {
	// Name is the engine as the record names it: results.EngineSockets or EngineModel.
	Name() string
	// Run performs one run. The record is written even when the run fails or is interrupted
	// (the error then says why, wrapping ErrInterrupted when cancelled, and the summary is
	// marked incomplete); a nil Outcome means no record was left.
	Run(ctx context.Context, s Spec) (*Outcome, error)
}

// Spec is what a run is given, whatever the engine.
type Spec struct {
	// Topology is a name of internal/topology's registry.
	Topology string
	// Profile is the load; it must be normalized and validated (loadprofiles.Load does both).
	Profile *loadprofiles.Profile
	// ProfileName is the profile as the user named it (a built-in name or a path).
	ProfileName string
	// RecordDir is the run record's folder; it must not exist yet.
	RecordDir string
	// Server, if set, adjusts the server config after the profile's section is applied (e.g.
	// `sim reproduce --static embedded`); the result is validated again.
	Server func(*serverconf.Config)
	// Progress, if set, is called after every observation window, on the engine's clock.
	Progress func(Progress)
	// StopOnHang ends the load as soon as the collapse condition has held for hang_hold
	// (StopNow), then probes for recovery as usual.
	StopOnHang bool
}

// Outcome is what a run produced: the record's folder and its summary.
type Outcome struct {
	Dir     string
	Summary results.Summary
}

// Progress is what a live progress line shows.
type Progress struct {
	Elapsed, Total time.Duration
	Phase          string
	Sample         results.Sample
}

// ErrInterrupted is returned (wrapped) when a run was cancelled; the record is marked
// incomplete.
var ErrInterrupted = errors.New("interrupted")

// ServerConfig is the server config a run uses: the defaults, the profile's server section, the
// topology, and loopback port 0 for every listener (fresh ports each run: a killed server leaves
// its sockets in TIME_WAIT for a minute).
func ServerConfig(topology string, p *loadprofiles.Profile) (serverconf.Config, error) {
	// The defaults listen on 127.0.0.1:0, and a profile cannot set a listener.
	c := serverconf.Defaults()
	c.Topology = topology
	p.Server.Apply(&c)
	c.Normalize()
	return c, c.Validate()
}

// Thresholds are the collapse detector's thresholds for profile p.
func Thresholds(p *loadprofiles.Profile) detect.Thresholds {
	return detect.Thresholds{HangFraction: p.Detect.HangFraction, HangHold: p.Detect.HangHold, MinOfferedRPS: 1}
}

// EffectiveConfig is what config.json holds.
type EffectiveConfig struct {
	Topology   string                `json:"topology"`
	Profile    string                `json:"profile"`
	Load       *loadprofiles.Profile `json:"load_profile"`
	Server     serverconf.Config     `json:"server"`
	ServeArgs  []string              `json:"serve_args"`
	Thresholds detect.Thresholds     `json:"thresholds"`
	Target     string                `json:"target,omitempty"`
	WatchPort  uint16                `json:"watch_port,omitempty"`
	// Watch is the `sim watch` agent's URL, credentials masked, when the census came from one.
	Watch string `json:"watch,omitempty"`
	// Census is where the socket columns come from: results.CensusLocal or CensusAgent.
	Census string `json:"census,omitempty"`
	// Shard is which share of Load this run sent, when it was one of several (sim run
	// --shard); Load is then the whole profile, as every shard was given it.
	Shard *ShardConfig `json:"shard,omitempty"`
}

// ShardConfig is config.json's "shard": which share of the profile's load a run sent.
type ShardConfig struct {
	loadprofiles.Shard
	// Arrivals and Seed are this shard's: for poisson, its own seed (loadprofiles.ShardSeed);
	// for uniform (no seed), its hits are offset by Index/Count of the profile's hit interval.
	Arrivals loadprofiles.Arrivals `json:"arrivals"`
	Seed     int64                 `json:"seed,omitempty"`
	// AttackStartedAt is when this shard's attack started, on its machine's wall clock: the
	// origin of its timeline's and probes' T. Zero until the attack has started (config.json
	// is written again then).
	AttackStartedAt time.Time `json:"attack_started_at,omitzero"`
}
