// Package topology is the registry of the topologies sim runs: the incident (self), the fix the
// incident team deployed (split), and the other fixes teams reach for. One file per topology
// declares what it is (name, description, real-world counterpart), what it changes in the
// server (Mechanics), which server keys it reads, the defaults it gives them and how reports
// draw it. Whether a server can hang is decided from its mechanics and keys by CanHang
// (hang.go), never per topology. Everything that used to switch on "self" or
// "split" asks the registry instead: the app and the model build the mechanics it names, the
// runner waits for the listeners it has, the planner asks CanHang, the reports take
// its label and colour.
//
// The package is under internal, and imports nothing of sim, because both sides of the
// dependency rule ask it: serverconf and loadprofiles check a topology's name, results draws it,
// simulator runs it.
package topology

import (
	"fmt"
	"slices"
	"strings"
)

// Fragment is where GET /page gets its static fragment from.
type Fragment int

const (
	// FromSelf: an HTTP GET to the app's own connector, through the self-call pool (the
	// incident).
	FromSelf Fragment = iota + 1
	// FromSeparate: an HTTP GET to a separate static server, the embedded one (a process of its
	// own) or nginx, or static.url.
	FromSeparate
	// FromBulkhead: an HTTP GET to a second connector of the same process, on static_addr, with
	// a worker pool of its own (bulkhead_threads) and its own unbounded queue; it shares the
	// process's fd limit.
	FromBulkhead
	// InProcess: the page reads the file in process; no HTTP, no self-call pool.
	InProcess
)

// String names the fragment source as help and reports show it.
func (f Fragment) String() string {
	switch f {
	case FromSelf:
		return "self-call to the app's own connector"
	case FromSeparate:
		return "HTTP to a separate static server"
	case FromBulkhead:
		return "HTTP to a second connector with its own pool"
	case InProcess:
		return "read in process"
	}
	return fmt.Sprintf("Fragment(%d)", int(f))
}

// Admission modes of the admission limit (server key `admission`).
const (
	// AdmitWait: a page over the limit waits for a permit inside its worker, as a servlet
	// filter (Resilience4j's semaphore bulkhead with a max wait) does: the worker stays held.
	AdmitWait = "wait"
	// AdmitReject: a page over the limit is answered 503 at once, and its worker is free.
	AdmitReject = "reject"
	// AdmitQueue: a page over the limit waits for a permit before it takes a worker, as a
	// limiter in front of the pool (a proxy's connection limit, a limit in the connector) does.
	AdmitQueue = "queue"
)

// AdmissionModes lists the admission modes in the order help shows them.
func AdmissionModes() []string { return []string{AdmitWait, AdmitReject, AdmitQueue} }

// Mechanics is what a topology changes in the server. The socket app (simulator/app) and the
// virtual-time model (simulator/model) each build every mechanic; a topology is a combination
// of them, so that a new topology made of existing mechanics is one new file here.
type Mechanics struct {
	// Fragment is where the page gets its static fragment.
	Fragment Fragment
	// QueueLimit bounds the worker queue at max_queue_size requests; a request that finds it
	// full is answered 503 by the acceptor's thread, without a worker (Tomcat's
	// <Executor maxQueueSize>: the executor rejects the socket processor).
	QueueLimit bool
	// Admission limits the pages admitted at once to max_threads − reserve; the key `admission`
	// says what happens to the others (AdmitWait, AdmitReject, AdmitQueue).
	Admission bool
	// Async releases the page's worker while its self-call is in flight and takes one again
	// (at the tail of the worker queue) to finish, as Servlet 3 async (AsyncContext, Spring's
	// DeferredResult) does.
	Async bool
}

// Topology is one registered topology.
type Topology struct {
	// Name is what --topology and a profile take.
	Name string
	// Order places it in lists, help and report tables: the incident first, then the fixes.
	Order int
	// Label is its name in report tables and chart legends.
	Label string
	// Summary says in one line what changes, for help text.
	Summary string
	// Counterpart is the real-world deployment it stands for.
	Counterpart string
	// Cost is what the fix costs (errors under overload, latency, memory, code change): one
	// paragraph, shown by `sim compare` and the README's "Choosing a fix".
	Cost string
	// Color draws it in charts (a CSS colour; distinct across the registry).
	Color string
	// Mechanics is what the server does differently.
	Mechanics Mechanics
	// Keys are the server keys only this topology reads (help names the topology beside them).
	Keys []string
	// Defaults are values this topology gives to server keys left at their schema default: the
	// text a flag would take (self-timeout sets the self-call's timeouts to 1s).
	Defaults map[string]string
}

// Listeners are the listeners `sim serve` prints for this topology and the runner waits for,
// in order: always "app" and "admin"; "static" when a static listener is started (split without
// static.url, bulkhead).
func (t Topology) Listeners(externalStatic bool) []string {
	out := []string{"app", "admin"}
	switch t.Mechanics.Fragment {
	case FromSeparate:
		if !externalStatic {
			out = append(out, "static")
		}
	case FromBulkhead:
		out = append(out, "static")
	}
	return out
}

// UsesStaticAddr says whether the topology listens on static_addr.
func (t Topology) UsesStaticAddr() bool {
	return t.Mechanics.Fragment == FromSeparate || t.Mechanics.Fragment == FromBulkhead
}

// registry holds the registered topologies. It is filled by each topology file's init, so that a
// new topology is one new file: the one place sim registers at init, as database/sql drivers do
// (the project's rule against init gives way to issue 11's "one file per topology").
var registry = map[string]Topology{}

func register(t Topology) {
	if _, dup := registry[t.Name]; dup {
		panic("topology: " + t.Name + " registered twice")
	}
	if t.Mechanics.Fragment == 0 || t.Label == "" || t.Color == "" {
		panic("topology: " + t.Name + " lacks Fragment, Label or Color")
	}
	registry[t.Name] = t
}

// All returns every topology, by Order.
func All() []Topology {
	out := make([]Topology, 0, len(registry))
	for _, t := range registry {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Topology) int { return a.Order - b.Order })
	return out
}

// Names returns every topology's name, by Order.
func Names() []string {
	var out []string
	for _, t := range All() {
		out = append(out, t.Name)
	}
	return out
}

// Lookup returns the topology of that name.
func Lookup(name string) (Topology, bool) {
	t, ok := registry[name]
	return t, ok
}

// Must returns the topology of that name; it panics on a name that a validated config cannot
// hold.
func Must(name string) Topology {
	t, ok := registry[name]
	if !ok {
		panic(fmt.Sprintf("topology: %q is not registered (validate the config first)", name))
	}
	return t
}

// ParseList reads a list of topology names, comma separated, or "all": every topology, by
// Order. The error says which name is unknown and lists the allowed ones; a name given twice is
// refused.
func ParseList(s string) ([]string, error) { return ParseNames("topology", s, Names()) }

// ParseNames reads a list of names of a registry, comma separated, or "all": every one of
// names, in their order. kind names what a name is in the error ("topology", "runtime"), which
// says which name is unknown or repeated and lists the allowed ones. The runtime registry
// (internal/runtimes) reads its lists with it too.
func ParseNames(kind, s string, names []string) ([]string, error) {
	if strings.TrimSpace(s) == "all" {
		return names, nil
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		name := strings.TrimSpace(part)
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("%q is not a %s: want all, or a comma-separated list of %s", name, kind, strings.Join(names, ", "))
		}
		if slices.Contains(out, name) {
			return nil, fmt.Errorf("%q is listed twice", name)
		}
		out = append(out, name)
	}
	return out, nil
}

// Label returns the report label of a topology name; an unknown name (a record written by a
// newer sim) is its own label.
func Label(name string) string {
	if t, ok := registry[name]; ok {
		return t.Label
	}
	return name
}

// Color returns the chart colour of a topology name; an unknown name is grey.
func Color(name string) string {
	if t, ok := registry[name]; ok {
		return t.Color
	}
	return unknownColor
}

// unknownColor draws a topology this sim does not know (a record from a newer one).
const unknownColor = "#7f7f7f"
