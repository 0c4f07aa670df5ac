// Package hazard estimates the hang hazard of a simulated server — hangs per hour of exposure at
// a steady Poisson rate — by brute force and by fixed-effort multilevel splitting, and turns
// hazards into capacity answers (the safe rate for a risk over a horizon, the fewest workers for
// a peak rate). It knows nothing of the server's mechanics: it drives any System.
package hazard

// System is a simulated server driven in virtual time by the estimators. Implementations are
// not safe for concurrent use; Clone gives an independent copy.
type System interface {
	// Now is the virtual time, in seconds since the system started.
	Now() float64
	// Level is the importance function: how many workers are held by page requests (a page
	// holds its worker from the moment it gets one until it has finished, self-call included).
	Level() int
	// Absorbed reports that the system is hung for good: no worker can ever free again (in the
	// self topology without timeouts: every worker holds a page). Once true it stays true.
	Absorbed() bool
	// Step processes the next event (an arrival, a work-time end, a self-call step, a timeout,
	// ...) and reports false when no event is left (never for a system fed a steady Poisson source).
	Step() bool
	// Clone returns an independent deep copy whose future random draws come from a fresh
	// generator seeded with seed (so that clones of one state diverge).
	Clone(seed uint64) System
}

// Factory builds a fresh, empty system (no request in flight, time 0) fed a steady Poisson
// source of `rate` page requests per second, with its randomness seeded by seed.
type Factory func(rate float64, seed uint64) System
