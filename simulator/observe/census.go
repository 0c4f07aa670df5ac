package observe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/simdev/sim/internal/redact"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/sockets"
	"github.com/simdev/sim/simulator/watch"
)

// Census is where a window's socket columns come from: the local kernel (Local) or a `sim
// watch` agent beside the app (Agent). Sample is called from one goroutine at a time.
type Census interface {
	// Sample returns the socket census for the window that ends now. An error makes the
	// window a gap: its socket columns are recorded as missing, never as zero.
	Sample(ctx context.Context) (sockets.Counts, error)
	// Describe says where the census comes from, for the record; Windows and Gaps are the
	// observer's to fill.
	Describe() results.Census
}

var (
	_ Census = (*Local)(nil)
	_ Census = (*Agent)(nil)
)

// SelfCaller is a Census that also tells the app's self-calls (package watch) of its last
// successful Sample: nil when that census could not attribute sockets to the app.
type SelfCaller interface {
	SelfCalls() *watch.SelfCalls
}

var (
	_ SelfCaller = (*Local)(nil)
	_ SelfCaller = (*Agent)(nil)
)

// FillSelfCalls copies a self-call census into a timeline row; nil leaves the row's self-call
// columns unmeasured.
func FillSelfCalls(s *results.Sample, sc *watch.SelfCalls) {
	if sc == nil {
		return
	}
	s.SelfcallMeasured = true
	s.SelfCallCensus = SelfCallsOf(sc)
}

// SelfCallsOf is a self-call census as a timeline row holds it: the one place the agent's
// figures become the record's columns (TestSelfCallsOfFillsEveryColumn holds it to every
// column).
func SelfCallsOf(sc *watch.SelfCalls) results.SelfCallCensus {
	return results.SelfCallCensus{
		SelfcallSockets:        sc.Total(),
		SelfcallSocketsWaiting: sc.Waiting,
		SelfcallOldestWaitMS:   sc.OldestWaitMS,
		SelfcallCallers:        sc.Callers,
		SelfcallWarning:        sc.Warning,
		PortRequestsInFlight:   sc.RequestsInFlight,
		PortRequestsPeak:       sc.RequestsInFlightPeak,
	}
}

// FillSockets copies a socket census into a timeline row.
func FillSockets(s *results.Sample, c sockets.Counts) { s.SocketCensus = CensusOf(c) }

// CensusOf is a socket census as a timeline row holds it: the one place the kernel's states
// become the record's columns (TestCensusOfFillsEveryColumn holds it to every column).
func CensusOf(c sockets.Counts) results.SocketCensus {
	return results.SocketCensus{
		CloseWait:         c.Server[sockets.CloseWait],
		Established:       c.Server[sockets.Established],
		TimeWait:          c.Server[sockets.TimeWait],
		FinWait1:          c.Server[sockets.FinWait1],
		FinWait2:          c.Server[sockets.FinWait2],
		SynRecv:           c.Server[sockets.SynRecv],
		LastAck:           c.Server[sockets.LastAck],
		ClientEstablished: c.Client[sockets.Established],
		ClientFinWait2:    c.Client[sockets.FinWait2],
		ClientTimeWait:    c.Client[sockets.TimeWait],
		ClientSynSent:     c.Client[sockets.SynSent],
		AcceptQueue:       c.AcceptQueue,
		AcceptQueueMax:    c.AcceptQueueMax,
	}
}

// Local counts a port's sockets in this process's network namespace (sockets.New: netlink,
// /proc as a fallback) with the watch agent's own Watcher, so that a local census finds the
// app's self-calls as an agent's does.
type Local struct {
	port    uint16
	w       *watch.Watcher
	err     error // why w is nil
	self    *watch.SelfCalls
	lastErr string
}

// NewLocal returns a local census of port. Close it when done.
func NewLocal(port uint16) *Local { return NewLocalPool(port, 0) }

// NewLocalPool is NewLocal for an app whose worker pool is known: its census's self-call
// warning includes the pool warning (watch.Options.Workers).
func NewLocalPool(port uint16, workers int) *Local {
	w, err := watch.New(watch.Options{Port: port, Workers: workers})
	return &Local{port: port, w: w, err: err}
}

// Sample counts the port's sockets now.
func (l *Local) Sample(ctx context.Context) (sockets.Counts, error) {
	if l.w == nil {
		l.lastErr = l.err.Error()
		return sockets.Counts{}, l.err
	}
	c, err := l.w.Sample(ctx)
	if err != nil {
		l.lastErr = err.Error()
		l.self = nil
		return sockets.Counts{}, err
	}
	l.self = c.SelfCall
	return c.Counts(), nil
}

// SelfCalls returns the self-calls of the last sample.
func (l *Local) SelfCalls() *watch.SelfCalls { return l.self }

// Describe names the local kernel, the method and the port.
func (l *Local) Describe() results.Census {
	method := ""
	if l.w != nil {
		method = l.w.Method()
	}
	return results.Census{Source: results.CensusLocal, Method: method, Port: l.port, LastGap: l.lastErr}
}

// Close releases the sampler.
func (l *Local) Close() error {
	if l.w == nil {
		return nil
	}
	return l.w.Close()
}

// AgentTimeoutDivisor sets how long a window waits for the agent's census: the sample
// interval divided by it. Half a window keeps the observer's ticker on time (the census is
// asked for at the tick, and the next tick is a whole interval later), and a census that comes
// back later than that is closer to the next window than to this one.
const AgentTimeoutDivisor = 2

// agentCheckTimeout bounds the one census asked for before the load, on a fresh connection:
// long enough for a slow link's handshake, short enough that a wrong address fails at once.
const agentCheckTimeout = 5 * time.Second

// Agent reads the census from a `sim watch` agent (watch.Client).
//
// The rule for its clock: every census is placed on the observer's clock, in the window it was
// asked for at that window's end; the agent's own time (time_unix_nano) is used only to
// estimate the clock offset, which the record reports, and to reject a census whose agent time
// is not after the previous accepted one's (a repeated or stale sample, or a clock stepped
// back): that window is a gap. A census that does not come back within the interval divided by
// AgentTimeoutDivisor, or comes back with an error, is a gap too. So a skewed agent clock never
// moves a census to another window, and a slow agent costs gaps, not a late timeline.
type Agent struct {
	url, token string
	shown      string // url with credentials masked
	client     *watch.Client

	mu      sync.Mutex
	last    int64 // agent time of the last accepted census, ns since the epoch
	method  string
	port    uint16
	lastErr string
	self    *watch.SelfCalls // of the last accepted census
	// The offset of the census with the shortest round trip, and that round trip.
	offset, bestRTT time.Duration
	haveOffset      bool
}

// NewAgent returns a census read from the agent at baseURL (http://HOST:PORT, as `sim watch`
// prints it), sending token when not empty, for windows of interval. A baseURL that is not an
// agent's URL is an invalid.Field error on --watch.
func NewAgent(baseURL, token string, interval time.Duration) (*Agent, error) {
	c, err := watch.NewClient(baseURL, token, interval/AgentTimeoutDivisor)
	if err != nil {
		return nil, err
	}
	return &Agent{url: baseURL, token: token, shown: redact.URL(baseURL), client: c}, nil
}

// Check asks the agent for one census before the load, with a longer timeout than a window
// gets, so that a wrong address or token fails the run before it sends anything.
func (a *Agent) Check(ctx context.Context) error {
	c, err := watch.NewClient(a.url, a.token, agentCheckTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Census(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.method, a.port = r.Census.Method, r.Census.Port
	a.mu.Unlock()
	return nil
}

// Sample asks the agent for the census now and applies the rule of the type's doc.
func (a *Agent) Sample(ctx context.Context) (sockets.Counts, error) {
	r, err := a.client.Census(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil && r.Census.TimeUnixNano <= a.last {
		err = fmt.Errorf("census from %s: agent time %s is not after the previous census's %s: a repeated or stale sample",
			a.shown, r.Census.Time().UTC().Format(time.RFC3339Nano), time.Unix(0, a.last).UTC().Format(time.RFC3339Nano))
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			a.lastErr = err.Error()
		}
		a.self = nil
		return sockets.Counts{}, err
	}
	a.self = r.Census.SelfCall
	a.last = r.Census.TimeUnixNano
	a.method, a.port = r.Census.Method, r.Census.Port
	if rtt := r.Received.Sub(r.Sent); !a.haveOffset || rtt < a.bestRTT {
		a.offset, a.bestRTT, a.haveOffset = r.Offset(), rtt, true
	}
	return r.Census.Counts(), nil
}

// SelfCalls returns the self-calls of the last accepted census: nil from an agent that predates
// them or could not attribute sockets.
func (a *Agent) SelfCalls() *watch.SelfCalls {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.self
}

// Describe names the agent (credentials masked), the method and port it reported, the last
// gap's reason and the clock offset estimate.
func (a *Agent) Describe() results.Census {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := results.Census{Source: results.CensusAgent, URL: a.shown, Method: a.method, Port: a.port, LastGap: a.lastErr}
	if a.haveOffset {
		off, bound := msOf(a.offset), msOf(a.bestRTT/2)
		c.ClockOffsetMS, c.ClockOffsetErrorMS = &off, &bound
	}
	return c
}

// Close releases the agent connection.
func (a *Agent) Close() { a.client.Close() }

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
