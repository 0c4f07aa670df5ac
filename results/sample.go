package results

import (
	"math"
	"strconv"
	"strings"

	"github.com/simdev/sim/internal/invalid"
)

// Sample is one observation window of the timeline. All rates are per second over the window;
// latencies are over the results that completed in the window, whatever their outcome (like
// `vegeta report`), so a window full of client timeouts shows the timeout as its p50.
//
// Sample is the timeline's one schema (Columns): each field is a column of timeline.csv and a
// key of its JSON, named by its json tag, with its unit and description in its unit and desc
// tags, in this order. The socket census and the app's figures are embedded structs, so that a
// producer or a merge copies each with one assignment and cannot forget a field.
type Sample struct {
	// T is the end of the window in seconds since the attack started.
	T float64 `json:"t_s" unit:"s" desc:"end of the window, seconds since the attack started"`
	// WindowS is the length of the window in seconds. It lets a reader place the window's start
	// without assuming the sampling period; 0 in records that did not fill it.
	WindowS float64 `json:"window_s" unit:"s" desc:"length of the window (0 in records that did not fill it)"`
	// Phase is PhaseLoad or PhaseRecovery.
	Phase string `json:"phase" desc:"load or recovery"`
	// OfferedRPS is the pacer's target rate in the window.
	OfferedRPS float64 `json:"offered_rps" unit:"requests/s" desc:"the load profile's target rate in the window"`
	// SentRPS is the requests started in the window divided by its length.
	SentRPS float64 `json:"sent_rps" unit:"requests/s" desc:"requests started in the window per second"`
	// OKRPS is the results with a 2xx status that completed in the window divided by its length.
	OKRPS float64 `json:"ok_rps" unit:"requests/s" desc:"2xx results completed in the window per second"`
	// Sent and OK are the counts behind SentRPS and OKRPS.
	Sent int `json:"sent" unit:"requests" desc:"requests started in the window"`
	OK   int `json:"ok" unit:"requests" desc:"2xx results completed in the window"`
	// The failed results that completed in the window, by Classify's kind; ErrHTTP is a complete
	// response with a status outside 2xx, whatever the status (IsHTTPKind).
	ErrTimeout int `json:"err_timeout" unit:"requests" desc:"client timeouts completed in the window"`
	ErrRefused int `json:"err_refused" unit:"requests" desc:"connections refused in the window"`
	ErrReset   int `json:"err_reset" unit:"requests" desc:"connections reset in the window"`
	ErrHTTP    int `json:"err_http" unit:"requests" desc:"responses with a status outside 2xx in the window"`
	ErrOther   int `json:"err_other" unit:"requests" desc:"other failures in the window"`
	// Latency percentiles and maximum in milliseconds; 0 when nothing completed in the window
	// (measured:"completed": a report shows no value then).
	P50 float64 `json:"p50_ms" unit:"ms" measured:"completed" desc:"median latency of the results completed in the window"`
	P90 float64 `json:"p90_ms" unit:"ms" measured:"completed" desc:"90th percentile latency of the results completed in the window"`
	P99 float64 `json:"p99_ms" unit:"ms" measured:"completed" desc:"99th percentile latency of the results completed in the window"`
	Max float64 `json:"max_ms" unit:"ms" measured:"completed" desc:"highest latency of the results completed in the window"`
	// InFlight is the requests sent and not yet completed at the end of the window.
	InFlight int `json:"in_flight" unit:"requests" desc:"requests sent and not completed at the end of the window"`

	// SocketCensus is the app port's sockets, as the kernel sees them.
	SocketCensus
	// SocketsMissing marks a gap in the socket census: its source did not give one for this
	// window in time (a watch agent that did not answer within its timeout, refused, or sent a
	// stale sample). The socket fields above are then not measured: zero here, empty cells in
	// timeline.csv, a break in the report's charts, and no part in peak CLOSE_WAIT.
	SocketsMissing bool `json:"sockets_missing" desc:"the socket census is missing for the window (its cells are empty)"`
	// SelfcallMeasured is true when the window's census attributed the port's sockets to the
	// app and so counted its calls to itself (a sim watch agent's census, or the local one
	// taken the same way); SelfCallCensus is not measured otherwise.
	SelfcallMeasured bool `json:"selfcall_measured" desc:"the census counted the app's calls to its own port (package simulator/watch)"`
	// SelfCallCensus is the app's calls to its own port, from the census.
	SelfCallCensus

	// AppUp is false when the app's admin /stats did not answer in the window; AppStats are
	// then zero, not measured.
	AppUp bool `json:"app_up" desc:"the app's admin /stats answered in the window"`
	// AppStats are the app's own figures, from its admin /stats.
	AppStats
}

// SocketCensus is one window's census of the app port's sockets by TCP state: the server side
// (local port is the app's), the client side (remote port is the app's: the self-call's own
// client sockets) and the listener's accept queue. Not measured when Sample.SocketsMissing.
type SocketCensus struct {
	// Server-side sockets of the app port by state.
	CloseWait   int `json:"close_wait" unit:"sockets (app port)" desc:"server sockets in CLOSE_WAIT: the client closed, the app has not"`
	Established int `json:"established" unit:"sockets (app port)" desc:"server sockets in ESTABLISHED"`
	TimeWait    int `json:"time_wait" unit:"sockets (app port)" desc:"server sockets in TIME_WAIT"`
	FinWait1    int `json:"fin_wait1" unit:"sockets (app port)" desc:"server sockets in FIN_WAIT1"`
	FinWait2    int `json:"fin_wait2" unit:"sockets (app port)" desc:"server sockets in FIN_WAIT2"`
	SynRecv     int `json:"syn_recv" unit:"sockets (app port)" desc:"server sockets in SYN_RECV"`
	LastAck     int `json:"last_ack" unit:"sockets (app port)" desc:"server sockets in LAST_ACK"`
	// Client-side sockets (remote port is the app port) by state.
	ClientEstablished int `json:"client_established" unit:"sockets (to app port)" desc:"client sockets to the app port in ESTABLISHED"`
	ClientFinWait2    int `json:"client_fin_wait2" unit:"sockets (to app port)" desc:"client sockets to the app port in FIN_WAIT2"`
	ClientTimeWait    int `json:"client_time_wait" unit:"sockets (to app port)" desc:"client sockets to the app port in TIME_WAIT"`
	ClientSynSent     int `json:"client_syn_sent" unit:"sockets (to app port)" desc:"client sockets to the app port in SYN_SENT"`
	// AcceptQueue and AcceptQueueMax are the listener's accept queue length and limit.
	AcceptQueue    int `json:"accept_queue" unit:"connections" desc:"connections in the listener's accept queue, not yet accepted"`
	AcceptQueueMax int `json:"accept_queue_max" unit:"connections" desc:"the accept queue's limit (the listen backlog)"`
}

// SelfCallCensus is one window's census of the app's calls to its own port and of the requests
// it holds (package simulator/watch finds them). Not measured when Sample.SocketsMissing or
// not Sample.SelfcallMeasured.
type SelfCallCensus struct {
	SelfcallSockets        int   `json:"selfcall_sockets" unit:"sockets (to app port)" desc:"the app's own client sockets to its port (self-calls), all states"`
	SelfcallSocketsWaiting int   `json:"selfcall_sockets_waiting" unit:"workers" desc:"self-calls whose request is sent and not yet answered: a worker blocked in each"`
	SelfcallOldestWaitMS   int64 `json:"selfcall_oldest_wait_ms" unit:"ms" desc:"age of the oldest waiting self-call"`
	SelfcallCallers        int   `json:"selfcall_callers" unit:"processes" desc:"distinct processes with a waiting self-call"`
	SelfcallWarning        bool  `json:"selfcall_warning" desc:"the census's early warning (a self-call waited too long, or the pool nearly full)"`
	PortRequestsInFlight   int   `json:"port_requests_in_flight" unit:"requests" desc:"requests the app holds unanswered on its port, from its sockets"`
	PortRequestsPeak       int   `json:"port_requests_in_flight_peak" unit:"requests" desc:"most requests the app held at once on its port since the census before, from its sockets' last request and answer times"`
}

// AppStats are one window's figures from the app's admin /stats (outside the worker pool, so
// they are read while the app is hung). Not measured when Sample.AppUp is false.
type AppStats struct {
	WorkersBusy     int `json:"workers_busy" unit:"workers" desc:"workers holding a request"`
	Queued          int `json:"queued" unit:"requests" desc:"requests accepted and read, waiting for a worker"`
	ConnectionsOpen int `json:"connections_open" unit:"connections" desc:"connections the app holds open"`
	SelfcallLeased  int `json:"selfcall_leased" unit:"leases" desc:"self-call pool connections leased"`
	SelfcallWaiting int `json:"selfcall_waiting" unit:"callers" desc:"self-calls waiting for a pool lease"`
	// AcceptErrors is cumulative since the app started, as the app reports it.
	AcceptErrors int64 `json:"accept_errors" unit:"errors" desc:"accept errors since the app started (EMFILE at the fd limit)"`
	FDsOpen      int   `json:"fds_open" unit:"fds" desc:"file descriptors the app's process holds"`
	// WorkersKilled is cumulative since the app started, as the app reports it: the watchdog's
	// kills (worker_timeout), 0 without one.
	WorkersKilled int64 `json:"workers_killed" unit:"workers" desc:"workers the watchdog (worker_timeout) killed since the app started"`
	// The front proxy's counts (front_proxy), cumulative since the app started as AcceptErrors;
	// 0 without a proxy.
	ProxyTimeouts     int64 `json:"proxy_timeouts" unit:"requests" desc:"front proxy: 504s after proxy_read_timeout since the app started (nginx's upstream timed out)"`
	ProxyClientClosed int64 `json:"proxy_client_closed" unit:"requests" desc:"front proxy: requests whose client left before the answer, upstream closed (nginx's 499), since the app started"`
}

// Phases of a run, as written in Sample.Phase.
const (
	// PhaseLoad is while the attacker offers load.
	PhaseLoad = "load"
	// PhaseRecovery is after the load stopped, while the runner probes for recovery.
	PhaseRecovery = "recovery"
)

// Probe is one recovery probe after the load stopped.
type Probe struct {
	// T is when the probe was sent, in seconds since the attack started.
	T float64 `json:"t_s"`
	// SinceLoadEnd is when the probe was sent, in seconds since the load stopped.
	SinceLoadEnd float64 `json:"since_load_end_s"`
	// OK is true when the probe got a 2xx response.
	OK bool `json:"ok"`
	// Status is the HTTP status, 0 when no response came.
	Status int `json:"status"`
	// LatencyMS is how long the probe took, in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	// Error is the probe's error, empty when a response came.
	Error string `json:"error"`
}

// column maps one CSV column to a field. Columns are looked up by header name when reading, so
// the order here is only the order of a newly written file.
type column[T any] struct {
	name string
	get  func(*T) string
	set  func(*T, string) error
	// allowed says in words what the column holds, for the error about a cell it cannot read.
	allowed string
}

func intCol[T any](name string, f func(*T) *int) column[T] {
	return column[T]{
		name: name,
		get:  func(v *T) string { return strconv.Itoa(*f(v)) },
		set: func(v *T, s string) error {
			n, err := strconv.Atoi(s)
			*f(v) = n
			return err
		},
		allowed: "a whole number",
	}
}

func int64Col[T any](name string, f func(*T) *int64) column[T] {
	return column[T]{
		name: name,
		get:  func(v *T) string { return strconv.FormatInt(*f(v), 10) },
		set: func(v *T, s string) error {
			n, err := strconv.ParseInt(s, 10, 64)
			*f(v) = n
			return err
		},
		allowed: "a whole number",
	}
}

func floatCol[T any](name string, f func(*T) *float64) column[T] {
	return column[T]{
		name: name,
		get:  func(v *T) string { return formatFloat(*f(v)) },
		set: func(v *T, s string) error {
			x, err := parseNumber(s)
			*f(v) = x
			return err
		},
		allowed: numberWords(),
	}
}

func boolCol[T any](name string, f func(*T) *bool) column[T] {
	return column[T]{
		name: name,
		get:  func(v *T) string { return strconv.FormatBool(*f(v)) },
		set: func(v *T, s string) error {
			b, err := strconv.ParseBool(s)
			*f(v) = b
			return err
		},
		allowed: "true or false",
	}
}

func stringCol[T any](name string, f func(*T) *string) column[T] {
	return column[T]{
		name: name,
		// A newline inside a field would make the file no longer one row per line; keeping it
		// line-oriented is what lets Read drop a half-written last row and lets awk/grep work.
		get: func(v *T) string { return oneLine(*f(v)) },
		set: func(v *T, s string) error { *f(v) = s; return nil },
	}
}

// csvDecimals is the precision of floats in the CSV files: microseconds for times and
// latencies, which is finer than anything sampled once per window.
const csvDecimals = 3

func formatFloat(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	p := math.Pow10(csvDecimals)
	return strconv.FormatFloat(math.Round(x*p)/p, 'f', -1, 64)
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

func oneLine(s string) string { return lineBreaks.Replace(s) }

// sampleColumns is the timeline.csv layout, one column per field of Sample (Columns).
var sampleColumns = func() []column[Sample] {
	var out []column[Sample]
	for _, c := range timeline {
		out = append(out, c.csv())
	}
	return out
}()

// probeColumns is the probes.csv layout.
var probeColumns = []column[Probe]{
	floatCol("t_s", func(p *Probe) *float64 { return &p.T }),
	floatCol("since_load_end_s", func(p *Probe) *float64 { return &p.SinceLoadEnd }),
	boolCol("ok", func(p *Probe) *bool { return &p.OK }),
	intCol("status", func(p *Probe) *int { return &p.Status }),
	floatCol("latency_ms", func(p *Probe) *float64 { return &p.LatencyMS }),
	stringCol("error", func(p *Probe) *string { return &p.Error }),
}

// TimelineHeader is the header row of timeline.csv, in the order a new record writes it.
func TimelineHeader() []string { return header(sampleColumns) }

// ProbesHeader is the header row of probes.csv, in the order a new record writes it.
func ProbesHeader() []string { return header(probeColumns) }

func header[T any](cols []column[T]) []string {
	h := make([]string, len(cols))
	for i, c := range cols {
		h[i] = c.name
	}
	return h
}

func row[T any](cols []column[T], v *T) []string {
	r := make([]string, len(cols))
	for i, c := range cols {
		r[i] = c.get(v)
	}
	return r
}

// decodeRow fills v from rec; idx[i] is the column for rec[i], nil for a column this sim does not
// know (a newer writer's), which is skipped. The error names the column and the cell as written.
func decodeRow[T any](idx []*column[T], rec []string, v *T) *invalid.Error {
	for i, field := range rec {
		if i >= len(idx) || idx[i] == nil {
			continue
		}
		// An empty cell is a value the writer did not have; zero is what the struct holds then.
		if field == "" {
			continue
		}
		if err := idx[i].set(v, field); err != nil {
			return &invalid.Error{Field: idx[i].name, Value: field, Allowed: idx[i].allowed}
		}
	}
	return nil
}
