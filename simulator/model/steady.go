package model

import (
	"math/rand/v2"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/simulator/app"
	"github.com/simdev/sim/simulator/hazard"
)

// steadyStream is the second half of the PCG seed of a steady system's generator (arrivals and
// work times); any constant would do, this one is the first 64 bits of √2's fraction.
const steadyStream = 0x6a09e667f3bcc908

// SteadyOptions are the load client's side of a steady system.
type SteadyOptions struct {
	// Client is the load client, as a profile's client section: its timeout (0: clients never
	// give up; a timed-out client closes its connection, which then holds an fd in CLOSE_WAIT
	// until the server answers), keep-alive, idle connections kept (0: no limit) and worker
	// cap (0: none).
	Client loadprofiles.Client
}

// Steady returns a hazard.Factory of systems running cfg's server (topology, connector, pools,
// work times, timeouts, fd limit: everything the model simulates) fed a steady homogeneous
// Poisson source of page requests. cfg must be a whole config, such as runner.ServerConfig
// returns or app.Defaults() with changes; it is normalized and validated here, and a mistake is
// an *invalid.Error naming the key.
//
// Each system is independent; its arrivals and work times come from one PCG seeded with the
// factory's seed (work_time_seed is not used). Level is the number of workers held by pages
// and Absorbed the hang for good (see the hazard package).
func Steady(cfg app.Config, opt SteadyOptions) (hazard.Factory, error) {
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := newParams(cfg)
	p.setClient(opt.Client)
	return func(rate float64, seed uint64) hazard.System {
		e := newEngine(p, rand.New(rand.NewPCG(seed, steadyStream)))
		e.rate = rate
		e.scheduleArrival()
		return &steady{e: e}
	}, nil
}

// setClient takes the load client's settings.
func (p *params) setClient(c loadprofiles.Client) {
	p.clientTimeout = c.Timeout.Seconds()
	p.keepAlive = c.Keepalive
	p.maxIdle = c.Connections
	p.maxWorkers = c.MaxWorkers
}

// steady is a hazard.System over the engine.
type steady struct{ e *engine }

var _ hazard.System = (*steady)(nil)

func (s *steady) Now() float64   { return s.e.now }
func (s *steady) Level() int     { return s.e.level() }
func (s *steady) Absorbed() bool { return s.e.absorbed() }
func (s *steady) Step() bool     { return s.e.step() }

func (s *steady) Clone(seed uint64) hazard.System {
	return &steady{e: s.e.clone(rand.New(rand.NewPCG(seed, steadyStream)))}
}
