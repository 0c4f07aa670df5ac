package watch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/simdev/sim/internal/hostguard"
	"github.com/simdev/sim/simulator/sockets"
)

// The agent's HTTP API.
const (
	// CensusPath serves the census as JSON (see Census).
	CensusPath = "/census"
	// MetricsPath serves the census and the agent's own cost in the Prometheus text format.
	MetricsPath = "/metrics"
)

const (
	// maxResponseBytes bounds every response body: a census is under 1 KiB and /metrics about
	// 5 KiB, so a larger body is a bug, answered with an error instead of sent.
	maxResponseBytes = 64 << 10
	// maxErrorLen bounds an error message in a response: an error wraps paths and kernel
	// errors, never more than a few hundred bytes.
	maxErrorLen = 1 << 10
	// maxInFlight bounds the requests served at once: samples are shared, so more waiters
	// cost only memory, and a Prometheus server plus `sim run` plus a few dashboards need
	// far fewer. Beyond it the agent answers 503 at once.
	maxInFlight = 16
	// requestTimeout bounds how long a request waits for its sample: a netlink dump gives up
	// after 5 s (package sockets), an owner search after scanTimeMax.
	requestTimeout = 15 * time.Second
)

// HandlerOptions says whom the agent answers.
type HandlerOptions struct {
	// Token, when not empty, must come with every request as "Authorization: Bearer TOKEN".
	Token string
	// AnyHost lets the Host header be any IP address or single-label name (a compose
	// service), for an agent reached through a published port; a dotted DNS name is still
	// refused, as DNS rebinding needs one. Without it only loopback Host values are answered.
	AnyHost bool
}

// Handler serves the census at CensusPath and MetricsPath, to GET and HEAD only, to loopback
// Host values only unless o.AnyHost, and with the bearer token when o.Token is set.
func (w *Watcher) Handler(o HandlerOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(CensusPath, w.serveCensus)
	mux.HandleFunc(MetricsPath, w.serveMetrics)
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		writeError(rw, http.StatusNotFound, fmt.Sprintf("no such path %q: the agent serves %s (JSON) and %s (Prometheus)", r.URL.Path, CensusPath, MetricsPath))
	})
	var sum [sha256.Size]byte
	if o.Token != "" {
		sum = sha256.Sum256([]byte(o.Token))
	}
	slots := make(chan struct{}, maxInFlight)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !hostguard.LoopbackHost(r.Host) && (!o.AnyHost || !hostguard.UndottedHost(r.Host)) {
			allowed := "loopback Host values (localhost, 127.0.0.0/8, [::1]), unless --allow-non-loopback is set"
			if o.AnyHost {
				allowed = "IP addresses and single-label names (no dotted DNS names: they are how DNS rebinding reaches this port)"
			}
			writeError(rw, http.StatusMisdirectedRequest, fmt.Sprintf("misdirected request: Host %q is not served here; the watch agent answers only %s", r.Host, allowed))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", "GET, HEAD")
			writeError(rw, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: the watch agent is read-only (GET, HEAD)", r.Method))
			return
		}
		if o.Token != "" && !tokenOK(r.Header.Get("Authorization"), &sum) {
			rw.Header().Set("WWW-Authenticate", `Bearer realm="sim watch"`)
			writeError(rw, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer TOKEN (the agent's --token or SIM_WATCH_TOKEN)")
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			rw.Header().Set("Retry-After", "1")
			writeError(rw, http.StatusServiceUnavailable, fmt.Sprintf("busy: %d requests in progress", maxInFlight))
			return
		}
		mux.ServeHTTP(rw, r)
	})
}

// tokenOK checks an Authorization header against the token's SHA-256 in constant time: the
// hashes have one length, so neither the content nor the length of the token leaks through
// the time a refusal takes.
func tokenOK(header string, want *[sha256.Size]byte) bool {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func (w *Watcher) serveCensus(rw http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	c, err := w.Sample(ctx)
	if err != nil {
		writeError(rw, http.StatusServiceUnavailable, err.Error())
		return
	}
	c.ProcessError = truncate(c.ProcessError)
	body, err := json.Marshal(c)
	if err != nil {
		writeError(rw, http.StatusInternalServerError, fmt.Sprintf("encode census: %v", err))
		return
	}
	writeBody(rw, "application/json", append(body, '\n'))
}

func (w *Watcher) serveMetrics(rw http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	gatherers := prometheus.Gatherers{w.reg}
	// A failed sample leaves the census series out, so that Prometheus shows a gap, not
	// zeros; the agent's cost and sim_watch_sample_errors_total still tell what happened.
	if c, err := w.Sample(ctx); err == nil {
		reg := prometheus.NewRegistry()
		if err := reg.Register(censusCollector{w.descs, c}); err != nil {
			writeError(rw, http.StatusInternalServerError, fmt.Sprintf("register census metrics: %v", err))
			return
		}
		gatherers = append(gatherers, reg)
	}
	mfs, err := gatherers.Gather()
	if err != nil {
		writeError(rw, http.StatusInternalServerError, fmt.Sprintf("gather metrics: %v", err))
		return
	}
	var buf bytes.Buffer
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			writeError(rw, http.StatusInternalServerError, fmt.Sprintf("encode metrics: %v", err))
			return
		}
	}
	writeBody(rw, string(format), buf.Bytes())
}

// writeBody sends body, or an error when it is larger than maxResponseBytes.
func writeBody(rw http.ResponseWriter, contentType string, body []byte) {
	if len(body) > maxResponseBytes {
		writeError(rw, http.StatusInternalServerError, fmt.Sprintf("response of %d bytes exceeds the agent's bound of %d", len(body), maxResponseBytes))
		return
	}
	rw.Header().Set("Content-Type", contentType)
	rw.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rw.Header().Set("Cache-Control", "no-store")
	_, _ = rw.Write(body)
}

// errorBody is the JSON body of every refusal and failure.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(rw http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(errorBody{Error: truncate(msg)})
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(status)
	_, _ = rw.Write(append(body, '\n'))
}

// truncate cuts s to maxErrorLen bytes, on a rune boundary, and says so.
func truncate(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	cut := maxErrorLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d bytes in all)", len(s))
}

// descs describes the census metrics. Every series carries the port, so that the census of
// several apps (or a sidecar per pod) sits in one Prometheus without clashing.
type descs struct {
	sockets, listening, queueLen, queueLimit, openFDs, maxFDs                                                                 *prometheus.Desc
	selfConns, selfWaiting, selfQueued, selfUnread, selfOldest, selfCallers, selfProcs, selfFirst, selfWarning, selfWarnAfter *prometheus.Desc
	inFlight, inFlightPeak, workers, waitWarning, poolWarning, poolOff                                                        *prometheus.Desc
}

func newDescs() *descs {
	port := []string{"port"}
	return &descs{
		sockets: prometheus.NewDesc("sim_tcp_sockets",
			"Server-side TCP sockets of the port (local port = port) by state, LISTEN excluded.", []string{"port", "state"}, nil),
		listening: prometheus.NewDesc("sim_listening",
			"1 when a socket listens on the port, else 0.", port, nil),
		queueLen: prometheus.NewDesc("sim_listen_queue_length",
			"Connections in the listening socket's accept queue: handshake done, not yet accepted by the app.", port, nil),
		queueLimit: prometheus.NewDesc("sim_listen_queue_limit",
			"Limit of the accept queue: min(listen backlog, net.core.somaxconn).", port, nil),
		openFDs: prometheus.NewDesc("sim_process_open_fds",
			"Open file descriptors of the process that owns the port.", port, nil),
		maxFDs: prometheus.NewDesc("sim_process_max_fds",
			"Soft RLIMIT_NOFILE of the process that owns the port.", port, nil),
		selfConns: prometheus.NewDesc("sim_selfcall_connections",
			"The app's calls to its own port: client sockets held by a process behind the port whose other end is the port's server side here, by state.", []string{"port", "state"}, nil),
		selfWaiting: prometheus.NewDesc("sim_selfcall_waiting",
			"Self-calls whose request is sent and not yet answered (tcp_info): a worker blocked in each.", port, nil),
		selfQueued: prometheus.NewDesc("sim_selfcall_waiting_accept_queue",
			"Waiting self-calls whose server side is still in the listener's accept queue.", port, nil),
		selfUnread: prometheus.NewDesc("sim_selfcall_waiting_unread",
			"Waiting self-calls accepted but whose request the app has not read yet.", port, nil),
		selfOldest: prometheus.NewDesc("sim_selfcall_waiting_oldest_seconds",
			"Age of the oldest waiting self-call (since its request was sent), 0 when none waits.", port, nil),
		selfCallers: prometheus.NewDesc("sim_selfcall_callers",
			"Distinct processes with a waiting self-call.", port, nil),
		selfProcs: prometheus.NewDesc("sim_selfcall_processes",
			"Processes behind the port: the listener's holders and their descendants.", port, nil),
		selfFirst: prometheus.NewDesc("sim_selfcall_first_seen_timestamp_seconds",
			"When the agent first saw a self-call (Unix time); absent until then.", port, nil),
		selfWarning: prometheus.NewDesc("sim_selfcall_warning",
			"The early warning of a self-call deadlock: 1 when sim_selfcall_wait_warning or sim_selfcall_pool_warning is, else 0.", port, nil),
		selfWarnAfter: prometheus.NewDesc("sim_selfcall_warn_after_seconds",
			"Threshold of the wait warning (sim watch --warn-after).", port, nil),
		inFlight: prometheus.NewDesc("sim_requests_in_flight",
			"Requests the app holds unanswered on the port (server-side sockets with a request received and no reply since), self-calls included.", port, nil),
		inFlightPeak: prometheus.NewDesc("sim_requests_in_flight_peak",
			"The most requests the app held at once on the port since the census before (from its sockets' last request and answer times; a lower bound), sim_requests_in_flight included.", port, nil),
		poolOff: prometheus.NewDesc("sim_selfcall_pool_rule_off",
			"1 once the app held more requests than sim_pool_workers with its self-calls answered (its workers are not held inside self-calls: async): the pool warning is off from then on.", port, nil),
		workers: prometheus.NewDesc("sim_pool_workers",
			"The app's worker pool as the agent was told (sim watch --workers); absent when not told.", port, nil),
		waitWarning: prometheus.NewDesc("sim_selfcall_wait_warning",
			"1 when a self-call has waited sim_selfcall_warn_after_seconds or longer, else 0.", port, nil),
		poolWarning: prometheus.NewDesc("sim_selfcall_pool_warning",
			"1 when the app calls itself and sim_requests_in_flight_peak reaches --warn-fraction of sim_pool_workers, else 0.", port, nil),
	}
}

// MetricNames returns the names of the census metrics /metrics serves (the agent's own
// sim_watch_* series aside), for rule files to be checked against.
func MetricNames() []string {
	d := newDescs()
	var names []string
	for _, x := range []*prometheus.Desc{d.sockets, d.listening, d.queueLen, d.queueLimit, d.openFDs, d.maxFDs,
		d.selfConns, d.selfWaiting, d.selfQueued, d.selfUnread, d.selfOldest, d.selfCallers, d.selfProcs, d.selfFirst, d.selfWarning, d.selfWarnAfter,
		d.inFlight, d.inFlightPeak, d.workers, d.waitWarning, d.poolWarning, d.poolOff} {
		// A Desc prints as Desc{fqName: "NAME", ...}: the name is not exported otherwise.
		s := x.String()
		if _, rest, ok := strings.Cut(s, `fqName: "`); ok {
			if name, _, ok := strings.Cut(rest, `"`); ok {
				names = append(names, name)
			}
		}
	}
	return append(names, WarningSamplesMetric)
}

// censusCollector exposes one census as gauges.
type censusCollector struct {
	d *descs
	c Census
}

// Describe sends the census descriptors.
func (cc censusCollector) Describe(ch chan<- *prometheus.Desc) {
	d := cc.d
	for _, x := range []*prometheus.Desc{d.sockets, d.listening, d.queueLen, d.queueLimit, d.openFDs, d.maxFDs,
		d.selfConns, d.selfWaiting, d.selfQueued, d.selfUnread, d.selfOldest, d.selfCallers, d.selfProcs, d.selfFirst, d.selfWarning, d.selfWarnAfter,
		d.inFlight, d.inFlightPeak, d.workers, d.waitWarning, d.poolWarning, d.poolOff} {
		ch <- x
	}
}

// Collect sends the census's figures; unknown ones (a limit /proc cannot see, a process that
// could not be read) are left out rather than sent as zeros.
func (cc censusCollector) Collect(ch chan<- prometheus.Metric) {
	c, d := cc.c, cc.d
	port := strconv.Itoa(int(c.Port))
	gauge := func(desc *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v), append([]string{port}, labels...)...)
	}
	for state, n := range c.Server {
		gauge(d.sockets, n, state)
	}
	listening := 0
	if c.Listen.Listening {
		listening = 1
	}
	gauge(d.listening, listening)
	gauge(d.queueLen, c.Listen.QueueLength)
	if c.Listen.QueueLimit >= 0 {
		gauge(d.queueLimit, c.Listen.QueueLimit)
	}
	if p := c.Process; p != nil {
		gauge(d.openFDs, p.OpenFDs)
		if p.MaxFDs >= 0 {
			gauge(d.maxFDs, p.MaxFDs)
		}
	}
	if sc := c.SelfCall; sc != nil {
		// Every state is sent, zeros included, so that a rule on one state has a series
		// before the first self-call.
		for st := sockets.State(1); st < sockets.NumStates; st++ {
			if st != sockets.Listen {
				gauge(d.selfConns, sc.Connections[stateName(st)], stateName(st))
			}
		}
		gauge(d.selfWaiting, sc.Waiting)
		gauge(d.selfQueued, sc.WaitingAcceptQueue)
		gauge(d.selfUnread, sc.WaitingUnread)
		ch <- prometheus.MustNewConstMetric(d.selfOldest, prometheus.GaugeValue, float64(sc.OldestWaitMS)/1000, port)
		gauge(d.selfCallers, sc.Callers)
		gauge(d.selfProcs, sc.Processes)
		if sc.FirstSeenUnixNano != 0 {
			ch <- prometheus.MustNewConstMetric(d.selfFirst, prometheus.GaugeValue, float64(sc.FirstSeenUnixNano)/1e9, port)
		}
		gauge(d.selfWarning, b2i(sc.Warning))
		gauge(d.waitWarning, b2i(sc.WaitWarning))
		gauge(d.poolWarning, b2i(sc.PoolWarning))
		ch <- prometheus.MustNewConstMetric(d.selfWarnAfter, prometheus.GaugeValue, float64(sc.WarnAfterMS)/1000, port)
		gauge(d.inFlight, sc.RequestsInFlight)
		gauge(d.inFlightPeak, sc.RequestsInFlightPeak)
		gauge(d.poolOff, b2i(sc.PoolRuleOff))
		if sc.Workers > 0 {
			gauge(d.workers, sc.Workers)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
