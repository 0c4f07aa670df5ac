// Package runtimes is the registry of the server runtimes sim imitates: Tomcat (the incident,
// the default), gunicorn, PHP-FPM behind nginx, Puma and Jetty. The same self-call deadlock
// lives in each, but their mechanics differ — where a waiting request sits (accepted, in an
// in-process queue, or in the kernel's listen backlog), whether a connection outlives its
// response, whether the page's HTTP client pools its connections, what times a stuck request
// out — and so does the failure: where the CLOSE_WAIT pile sits, whether it recovers.
//
// One file per runtime declares it: the real server and client it was measured against
// (Version, with the rig in bench/runtimes/), what it does (Mechanics, in words, each checked
// on the rig), the server keys it sets (Defaults: sim's mechanics are keys, and a runtime is a
// combination of their values), the topologies that make sense on it and the fixes its users
// deploy. A topology stays what the page fetches and which fix is applied; a runtime is the
// server it runs on. serverconf applies a runtime's Defaults to the keys a config leaves at
// their schema default, after the topology's.
//
// The package is under internal and imports only internal/topology: serverconf, loadprofiles
// and the commands ask it.
package runtimes

import (
	"slices"

	"github.com/simdev/sim/internal/topology"
)

// Mechanics says, in words, what a runtime does where runtimes differ: the rows of the
// mechanics table (README, docs/runtimes.md), each checked on the real runtime's rig. What sim
// runs is Defaults; these say why.
type Mechanics struct {
	// Queue is where a request waits for a worker.
	Queue string
	// Connection is what happens to a connection after its response.
	Connection string
	// Client is the page's HTTP client for its self-call.
	Client string
	// Watchdog is what, if anything, ends a stuck request.
	Watchdog string
	// Unit is the unit of the worker pool (thread or process) and how many run requests.
	Unit string
	// DeadClients is what the runtime does with a request whose client has gone.
	DeadClients string
}

// Observed is what a real runtime showed on its rig (bench/runtimes/README.md), in words.
type Observed struct {
	// Pile is where its CLOSE_WAIT sockets piled up, and how many.
	Pile string
	// After is what it did after the load.
	After string
}

// Fix is one fix a runtime's users deploy against the deadlock, and how to run it in sim.
type Fix struct {
	// What the users do, in their runtime's terms.
	What string
	// Topology is the sim topology that stands for it ("" when the fix is only keys).
	Topology string
	// Keys are server keys (name → value as a flag takes it) the fix changes.
	Keys map[string]string
	// Note says what the fix does to the deadlock, or where sim's stand-in differs.
	Note string
}

// Runtime is one registered runtime.
type Runtime struct {
	// Name is what --runtime and a profile's server.runtime take.
	Name string
	// Order places it in lists, help and tables: tomcat first.
	Order int
	// Label names it in reports and tables.
	Label string
	// Summary says in one line what it is, for help text.
	Summary string
	// Version is the real server and self-call client this runtime's mechanics and defaults
	// were measured against.
	Version string
	// Rig is the folder of the real runtime's rig (bench/...).
	Rig string
	// Mechanics is what it does, in words.
	Mechanics Mechanics
	// Defaults are the values it gives to server keys that a config leaves at their schema
	// default (the text a flag would take). The runtime's own defaults (its pool size, backlog,
	// timeouts, keep-alive, the client library's behaviour), not a tuned deployment's.
	Defaults map[string]string
	// Topologies are the topologies that make sense on it, by name; nil = every topology.
	Topologies []string
	// Fixes are the fixes its users deploy.
	Fixes []Fix
	// Observed is what the real runtime showed on its rig under the uniform ramp: what `sim
	// reproduce --runtime` compares its runs with, as it compares Tomcat's with the write-up.
	Observed Observed
	// Color draws it in charts when runs of several runtimes share a topology.
	Color string
}

// Tomcat is the default runtime: the incident's.
const Tomcat = "tomcat"

// registry holds the registered runtimes, filled by each runtime file's init (one file per
// runtime, as topologies).
var registry = map[string]Runtime{}

func register(r Runtime) {
	if _, dup := registry[r.Name]; dup {
		panic("runtimes: " + r.Name + " registered twice")
	}
	if r.Label == "" || r.Version == "" || r.Color == "" {
		panic("runtimes: " + r.Name + " lacks Label, Version or Color")
	}
	for _, t := range r.Topologies {
		if _, ok := topology.Lookup(t); !ok {
			panic("runtimes: " + r.Name + " names topology " + t + ", which is not registered")
		}
	}
	registry[r.Name] = r
}

// All returns every runtime, by Order.
func All() []Runtime {
	out := make([]Runtime, 0, len(registry))
	for _, r := range registry {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Runtime) int { return a.Order - b.Order })
	return out
}

// Names returns every runtime's name, by Order.
func Names() []string {
	var out []string
	for _, r := range All() {
		out = append(out, r.Name)
	}
	return out
}

// Lookup returns the runtime of that name.
func Lookup(name string) (Runtime, bool) {
	r, ok := registry[name]
	return r, ok
}

// Allows says whether topology t makes sense on r.
func (r Runtime) Allows(t string) bool {
	return r.Topologies == nil || slices.Contains(r.Topologies, t)
}

// TopologyNames returns the topologies r allows, by the registry's order.
func (r Runtime) TopologyNames() []string {
	var out []string
	for _, t := range topology.Names() {
		if r.Allows(t) {
			out = append(out, t)
		}
	}
	return out
}

// ParseList reads a list of runtime names, comma separated, or "all": every runtime, by Order
// (topology.ParseNames).
func ParseList(s string) ([]string, error) { return topology.ParseNames("runtime", s, Names()) }

// Label returns the report label of a runtime name; an unknown name (a record of a newer sim) is
// its own label, and "" (a record from before runtimes, or of an external target) is Tomcat's.
func Label(name string) string {
	if name == "" {
		name = Tomcat
	}
	if r, ok := registry[name]; ok {
		return r.Label
	}
	return name
}

// Color returns the chart colour of a runtime name: "" is Tomcat's, an unknown name grey.
func Color(name string) string {
	if name == "" {
		name = Tomcat
	}
	if r, ok := registry[name]; ok {
		return r.Color
	}
	return "#7f7f7f"
}
