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
type Sample struct {
	// T is the end of the window in seconds since the attack started.
	T float64 `json:"t_s"`
	// WindowS is the length of the window in seconds. It lets a reader place the window's start
	// without assuming the sampling period; 0 in records that did not fill it.
	WindowS float64 `json:"window_s"`
	// Phase is PhaseLoad or PhaseRecovery.
	Phase string `json:"phase"`
	// OfferedRPS is the pacer's target rate in the window.
	OfferedRPS float64 `json:"offered_rps"`
	// SentRPS is the requests started in the window divided by its length.
	SentRPS float64 `json:"sent_rps"`
	// OKRPS is the results with a 2xx status that completed in the window divided by its length.
	OKRPS float64 `json:"ok_rps"`
	// Sent and OK are the counts behind SentRPS and OKRPS.
	Sent int `json:"sent"`
	OK   int `json:"ok"`
	// The failed results that completed in the window, by Classify's kind; ErrHTTP is a complete
	// response with a status outside 2xx, whatever the status (IsHTTPKind).
	ErrTimeout int `json:"err_timeout"`
	ErrRefused int `json:"err_refused"`
	ErrReset   int `json:"err_reset"`
	ErrHTTP    int `json:"err_http"`
	ErrOther   int `json:"err_other"`
	// Latency percentiles and maximum in milliseconds; 0 when nothing completed in the window.
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	// InFlight is the requests sent and not yet completed at the end of the window.
	InFlight int `json:"in_flight"`

	// Server-side sockets of the app port by state, as the kernel sees them.
	CloseWait   int `json:"close_wait"`
	Established int `json:"established"`
	TimeWait    int `json:"time_wait"`
	FinWait1    int `json:"fin_wait1"`
	FinWait2    int `json:"fin_wait2"`
	SynRecv     int `json:"syn_recv"`
	LastAck     int `json:"last_ack"`
	// Client-side sockets (remote port is the app port) by state.
	ClientEstablished int `json:"client_established"`
	ClientFinWait2    int `json:"client_fin_wait2"`
	ClientTimeWait    int `json:"client_time_wait"`
	ClientSynSent     int `json:"client_syn_sent"`
	// AcceptQueue and AcceptQueueMax are the listener's accept queue length and limit.
	AcceptQueue    int `json:"accept_queue"`
	AcceptQueueMax int `json:"accept_queue_max"`
	// SocketsMissing marks a gap in the socket census: its source did not give one for this
	// window in time (a watch agent that did not answer within its timeout, refused, or sent a
	// stale sample). The socket fields above are then not measured: zero here, empty cells in
	// timeline.csv, a break in the report's charts, and no part in peak CLOSE_WAIT.
	SocketsMissing bool `json:"sockets_missing"`
	// The app's calls to its own port, from the census (a sim watch agent's, or the local
	// one's: package simulator/watch finds them). SelfcallMeasured is false when the census
	// could not attribute sockets to the app (no process found, no netlink, an older agent);
	// the other fields are then zero, not measured.
	SelfcallMeasured bool `json:"selfcall_measured"`
	// SelfcallSockets counts the self-calls' client sockets, all states.
	SelfcallSockets int `json:"selfcall_sockets"`
	// SelfcallSocketsWaiting counts the self-calls whose request is sent and not yet
	// answered: a worker blocked in each.
	SelfcallSocketsWaiting int `json:"selfcall_sockets_waiting"`
	// SelfcallOldestWaitMS is the age of the oldest waiting self-call.
	SelfcallOldestWaitMS int64 `json:"selfcall_oldest_wait_ms"`
	// SelfcallCallers counts the distinct processes with a waiting self-call.
	SelfcallCallers int `json:"selfcall_callers"`
	// SelfcallWarning is the census's early warning: a self-call has waited the agent's
	// threshold or longer.
	SelfcallWarning bool `json:"selfcall_warning"`
	// PortRequestsInFlight counts the requests the app holds unanswered on its port, as the
	// census sees them (server-side sockets with a request and no reply since): what fills
	// the worker pool, measured from outside.
	PortRequestsInFlight int `json:"port_requests_in_flight"`

	// AppUp is false when the app's admin /stats did not answer in the window; the fields below
	// are then zero, not measured.
	AppUp           bool `json:"app_up"`
	WorkersBusy     int  `json:"workers_busy"`
	Queued          int  `json:"queued"`
	ConnectionsOpen int  `json:"connections_open"`
	SelfcallLeased  int  `json:"selfcall_leased"`
	SelfcallWaiting int  `json:"selfcall_waiting"`
	// AcceptErrors is cumulative since the app started, as the app reports it.
	AcceptErrors int64 `json:"accept_errors"`
	FDsOpen      int   `json:"fds_open"`
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

// socketCol is a socket census column: an empty cell in a window whose census is missing, so
// that a gap never reads as zero sockets (sockets_missing says it was one).
func socketCol(name string, f func(*Sample) *int) column[Sample] {
	c := intCol(name, f)
	get := c.get
	c.get = func(s *Sample) string {
		if s.SocketsMissing {
			return ""
		}
		return get(s)
	}
	return c
}

// sampleColumns is the timeline.csv layout.
var sampleColumns = []column[Sample]{
	floatCol("t_s", func(s *Sample) *float64 { return &s.T }),
	floatCol("window_s", func(s *Sample) *float64 { return &s.WindowS }),
	stringCol("phase", func(s *Sample) *string { return &s.Phase }),
	floatCol("offered_rps", func(s *Sample) *float64 { return &s.OfferedRPS }),
	floatCol("sent_rps", func(s *Sample) *float64 { return &s.SentRPS }),
	floatCol("ok_rps", func(s *Sample) *float64 { return &s.OKRPS }),
	intCol("sent", func(s *Sample) *int { return &s.Sent }),
	intCol("ok", func(s *Sample) *int { return &s.OK }),
	intCol("err_timeout", func(s *Sample) *int { return &s.ErrTimeout }),
	intCol("err_refused", func(s *Sample) *int { return &s.ErrRefused }),
	intCol("err_reset", func(s *Sample) *int { return &s.ErrReset }),
	intCol("err_http", func(s *Sample) *int { return &s.ErrHTTP }),
	intCol("err_other", func(s *Sample) *int { return &s.ErrOther }),
	floatCol("p50_ms", func(s *Sample) *float64 { return &s.P50 }),
	floatCol("p90_ms", func(s *Sample) *float64 { return &s.P90 }),
	floatCol("p99_ms", func(s *Sample) *float64 { return &s.P99 }),
	floatCol("max_ms", func(s *Sample) *float64 { return &s.Max }),
	intCol("in_flight", func(s *Sample) *int { return &s.InFlight }),
	socketCol("close_wait", func(s *Sample) *int { return &s.CloseWait }),
	socketCol("established", func(s *Sample) *int { return &s.Established }),
	socketCol("time_wait", func(s *Sample) *int { return &s.TimeWait }),
	socketCol("fin_wait1", func(s *Sample) *int { return &s.FinWait1 }),
	socketCol("fin_wait2", func(s *Sample) *int { return &s.FinWait2 }),
	socketCol("syn_recv", func(s *Sample) *int { return &s.SynRecv }),
	socketCol("last_ack", func(s *Sample) *int { return &s.LastAck }),
	socketCol("client_established", func(s *Sample) *int { return &s.ClientEstablished }),
	socketCol("client_fin_wait2", func(s *Sample) *int { return &s.ClientFinWait2 }),
	socketCol("client_time_wait", func(s *Sample) *int { return &s.ClientTimeWait }),
	socketCol("client_syn_sent", func(s *Sample) *int { return &s.ClientSynSent }),
	socketCol("accept_queue", func(s *Sample) *int { return &s.AcceptQueue }),
	socketCol("accept_queue_max", func(s *Sample) *int { return &s.AcceptQueueMax }),
	boolCol("sockets_missing", func(s *Sample) *bool { return &s.SocketsMissing }),
	boolCol("selfcall_measured", func(s *Sample) *bool { return &s.SelfcallMeasured }),
	socketCol("selfcall_sockets", func(s *Sample) *int { return &s.SelfcallSockets }),
	socketCol("selfcall_sockets_waiting", func(s *Sample) *int { return &s.SelfcallSocketsWaiting }),
	int64Col("selfcall_oldest_wait_ms", func(s *Sample) *int64 { return &s.SelfcallOldestWaitMS }),
	socketCol("selfcall_callers", func(s *Sample) *int { return &s.SelfcallCallers }),
	boolCol("selfcall_warning", func(s *Sample) *bool { return &s.SelfcallWarning }),
	socketCol("port_requests_in_flight", func(s *Sample) *int { return &s.PortRequestsInFlight }),
	boolCol("app_up", func(s *Sample) *bool { return &s.AppUp }),
	intCol("workers_busy", func(s *Sample) *int { return &s.WorkersBusy }),
	intCol("queued", func(s *Sample) *int { return &s.Queued }),
	intCol("connections_open", func(s *Sample) *int { return &s.ConnectionsOpen }),
	intCol("selfcall_leased", func(s *Sample) *int { return &s.SelfcallLeased }),
	intCol("selfcall_waiting", func(s *Sample) *int { return &s.SelfcallWaiting }),
	int64Col("accept_errors", func(s *Sample) *int64 { return &s.AcceptErrors }),
	intCol("fds_open", func(s *Sample) *int { return &s.FDsOpen }),
}

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
