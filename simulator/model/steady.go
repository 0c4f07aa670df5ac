package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/serverconf"
	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/loadprofiles"
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
// Poisson source of page requests. cfg must be a whole config, such as run.ServerConfig
// returns or serverconf.Defaults() with changes; it is normalized and validated here, and a mistake is
// an *invalid.Error naming the key.
//
// The systems are for the hazard estimators, so cfg's server must be able to hang
// (topology.CanHang on its mechanics and keys: self, bounded-queue, admission-limit with
// admission wait, without the timeouts that free a waiting page): for any other there is no
// absorbing state, no hazard to estimate, and Steady returns an *invalid.Error on the topology
// that says so (plan such a server's capacity instead).
//
// Each system is independent; its arrivals and work times come from one PCG seeded with the
// factory's seed (work_time_seed is not used). Level is the number of workers held by pages
// and Absorbed the hang for good (see the hazard package). Clone redraws the clocks that have
// no memory (the next arrival, exponential work times) from the clone's generator: see
// engine.redraw for why that is sound.
//
// A steady system does not follow the socket states that only a run's record shows: sockets
// in TIME_WAIT (on either side) and the end of a client's orphaned FIN_WAIT2. They cannot
// change a hang: a TIME_WAIT socket holds no fd (the fd limit counts open connections and
// pooled self-call sockets, which it follows as before), no connection slot and no worker,
// nothing waits for it, and no mechanism of the model reads a FIN_WAIT2's end (the keepalive
// reaping of CLOSE_WAIT is timed from the client's close, not from it). So the law of Level
// and Absorbed over virtual time is the same with or without them (checked, fd limit reached
// included, by TestSteadyWithoutTimeWaitSameHang); only fewer events are stepped, and a clone
// copies less: at 10 rps with a client that opens a connection per request (SteadyOptions'
// zero Client), a run follows ~600 TIME_WAIT sockets.
func Steady(cfg serverconf.Config, opt SteadyOptions) (hazard.Factory, error) {
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if why := topology.WhyNoHang(cfg.Hang()); why != "" {
		return nil, invalid.Field("topology", cfg.Topology, fmt.Sprintf(
			"a topology that can hang, for a hang hazard (%s with these keys cannot: %s; it has no absorbing state, plan its capacity instead): %s",
			cfg.Topology, why, serverconf.HangingTopologies()))
	}
	return factory(cfg, opt), nil
}

// factory is Steady for any topology, hang or not (the model's own tests drive steady systems
// of every topology); cfg must be normalized and valid.
func factory(cfg serverconf.Config, opt SteadyOptions) hazard.Factory {
	p := newParams(cfg)
	p.setClient(opt.Client)
	p.sockets = false
	p.setDelays()
	return func(rate float64, seed uint64) hazard.System {
		a := newSteady(seed)
		a.e.init(&p, &a.rng)
		a.e.client.rate = rate
		a.e.client.scheduleArrival(&a.e)
		return &a.s
	}
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

// steadyAlloc is a steady system, its engine and its generator in one allocation: splitting
// makes one per trajectory.
type steadyAlloc struct {
	s   steady
	e   engine
	pcg rand.PCG
	rng rand.Rand
}

func newSteady(seed uint64) *steadyAlloc {
	a := &steadyAlloc{}
	a.pcg.Seed(seed, steadyStream)
	a.rng = *rand.New(&a.pcg)
	a.s.e = &a.e
	return a
}

func (s *steady) Now() float64   { return s.e.now }
func (s *steady) Level() int     { return s.e.level() }
func (s *steady) Absorbed() bool { return s.e.absorbed() }
func (s *steady) Step() bool     { return s.e.step() }

// Clone copies the system; the copy's draws, starting with its redrawn clocks, come from a PCG
// seeded with seed.
func (s *steady) Clone(seed uint64) hazard.System {
	a := newSteady(seed)
	s.e.cloneInto(&a.e, &a.rng)
	return &a.s
}
