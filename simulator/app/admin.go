package app

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/simdev/sim/internal/hostguard"
)

// adminServer is the admin listener. It is a plain Go server outside the connector's worker
// pool, like JMX beside Tomcat, so it answers while every worker is stuck.
type adminServer struct {
	srv *http.Server
	url string
}

func startAdmin(addr string, a *App) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry(), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Stats())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s := &adminServer{
		srv: &http.Server{Handler: guardAdmin(mux, a.cfg.AllowNonLoopback), ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil},
		url: "http://" + ln.Addr().String(),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *adminServer) close() error { return s.srv.Close() }

// guardAdmin lets through only GET and HEAD (405 with Allow otherwise: pprof's handlers would
// answer any method) and, unless anyHost, only requests whose Host is on loopback (421
// otherwise). The Host check defeats DNS rebinding: a web page that points its own name at
// 127.0.0.1 can reach a fixed admin port from the user's browser, but its requests carry its
// name as Host, and they would read the heap, goroutines and command line through pprof.
//
// The app's own listener gets no such check, on purpose: it serves a page and a static file,
// nothing a rebinding page could read that it cannot fetch anyway; any page can already send
// it load without rebinding (a plain cross-origin GET); and Tomcat, which it models, answers
// any Host through its default host. The self-call's Host is loopback and would pass.
//
// With anyHost (allow_non_loopback: a container whose admin port is published) the Host may
// also be any IP address or a single-label name such as a compose service name ("app-self"),
// but still not a dotted DNS name: rebinding needs a name in a domain the attacker controls,
// and the fixed ports of the compose file are exactly what such a page would aim at. Reach
// the admin listener of a remote host by its IP address.
func guardAdmin(next http.Handler, anyHost bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostguard.LoopbackHost(r.Host) && (!anyHost || !hostguard.UndottedHost(r.Host)) {
			allowed := "loopback Host values (localhost, 127.0.0.0/8, [::1]), unless allow_non_loopback is set"
			if anyHost {
				allowed = "IP addresses and single-label names (no dotted DNS names: they are how DNS rebinding reaches this port)"
			}
			http.Error(w, fmt.Sprintf("misdirected request: Host %q is not served here; the admin listener answers only %s", r.Host, allowed),
				http.StatusMisdirectedRequest)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, fmt.Sprintf("method %s not allowed: the admin listener is read-only (GET, HEAD)", r.Method), http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// registry exposes Stats to Prometheus, read at scrape time.
func (a *App) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, f func(Stats) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sim", Name: name, Help: help},
			func() float64 { return f(a.Stats()) }))
	}
	counter := func(name, help string, f func(Stats) float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "sim", Name: name, Help: help},
			func() float64 { return f(a.Stats()) }))
	}
	gauge("workers_max", "Size of the worker pool that serves requests (max_threads less connector_threads).", func(s Stats) float64 { return float64(s.MaxThreads) })
	gauge("workers_busy", "Workers holding a request.", func(s Stats) float64 { return float64(s.WorkersBusy) })
	gauge("requests_queued", "Requests waiting for a worker.", func(s Stats) float64 { return float64(s.Queued) })
	gauge("connections_open", "Connections accepted and not yet closed.", func(s Stats) float64 { return float64(s.ConnectionsOpen) })
	gauge("selfcall_leased", "Self-call pool connections leased.", func(s Stats) float64 { return float64(s.SelfcallLeased) })
	gauge("selfcall_waiting", "Callers waiting for a self-call pool lease.", func(s Stats) float64 { return float64(s.SelfcallWaiting) })
	gauge("fds_open", "Open file descriptors of the process.", func(s Stats) float64 { return float64(s.FDsOpen) })
	gauge("fd_limit", "RLIMIT_NOFILE of the process.", func(s Stats) float64 { return float64(s.FDLimit) })
	counter("accept_errors_total", "accept() errors (EMFILE and others) the acceptor backed off from.", func(s Stats) float64 { return float64(s.AcceptErrors) })
	counter("connections_accepted_total", "Connections accepted.", func(s Stats) float64 { return float64(s.Accepted) })
	counter("selfcall_calls_total", "Self-calls made.", func(s Stats) float64 { return float64(s.SelfcallCalls) })
	counter("selfcall_errors_total", "Self-calls that failed.", func(s Stats) float64 { return float64(s.SelfcallErrors) })
	counter("pages_ok_total", "GET /page answered 200.", func(s Stats) float64 { return float64(s.PagesOK) })
	counter("pages_failed_total", "GET /page answered with an error.", func(s Stats) float64 { return float64(s.PagesFailed) })
	if a.cfg.WorkerTimeout > 0 {
		counter("workers_killed_total", "Workers the watchdog killed after worker_timeout in one request.", func(s Stats) float64 { return float64(s.WorkersKilled) })
	}
	// The topology's mechanics, registered only where it has them.
	if a.mech.QueueLimit {
		gauge("queue_max", "Requests the worker queue holds before it answers 503 (max_queue_size).", func(s Stats) float64 { return float64(s.MaxQueueSize) })
		counter("queue_rejected_total", "Requests answered 503 because the worker queue was full, pages and self-calls alike.", func(s Stats) float64 { return float64(s.QueueRejected) })
	}
	if a.admit != nil {
		gauge("admission_limit", "Pages admitted at once at most (max_threads - reserve).", func(s Stats) float64 { return float64(s.AdmissionLimit) })
		gauge("admission_admitted", "Pages holding an admission permit.", func(s Stats) float64 { return float64(s.AdmissionAdmitted) })
		gauge("admission_waiting", "Pages waiting for an admission permit (inside a worker with admission wait, before one with queue).", func(s Stats) float64 { return float64(s.AdmissionWaiting) })
		counter("admission_rejected_total", "Pages answered 503 by the admission limit (admission reject).", func(s Stats) float64 { return float64(s.AdmissionRejected) })
	}
	if a.staticConn != nil {
		gauge("bulkhead_workers_max", "Size of the static connector's worker pool (bulkhead_threads).", func(s Stats) float64 { return float64(s.BulkheadMaxThreads) })
		gauge("bulkhead_workers_busy", "Static connector workers holding a request.", func(s Stats) float64 { return float64(s.BulkheadWorkersBusy) })
		gauge("bulkhead_requests_queued", "Requests waiting for a static connector worker.", func(s Stats) float64 { return float64(s.BulkheadQueued) })
		gauge("bulkhead_connections_open", "Static connector connections accepted and not yet closed.", func(s Stats) float64 { return float64(s.BulkheadConnectionsOpen) })
	}
	if a.mech.Async {
		gauge("async_parked", "Async pages whose worker is released while their self-call is in flight.", func(s Stats) float64 { return float64(s.AsyncParked) })
		gauge("async_resuming", "Async pages waiting in the worker queue to finish.", func(s Stats) float64 { return float64(s.AsyncResuming) })
	}
	if a.front != nil {
		gauge("proxy_in_flight", "Front proxy: requests waiting for the pool's answer.", func(s Stats) float64 { return float64(s.InFlight) })
		counter("proxy_requests_total", "Front proxy: requests forwarded to the pool, each on a new connection.", func(s Stats) float64 { return float64(s.Requests) })
		counter("proxy_timeouts_total", "Front proxy: 504s after proxy_read_timeout (nginx's upstream timed out).", func(s Stats) float64 { return float64(s.Timeouts) })
		counter("proxy_client_closed_total", "Front proxy: requests whose client left first, upstream closed (nginx's 499).", func(s Stats) float64 { return float64(s.ClientClosed) })
		counter("proxy_errors_total", "Front proxy: 502s (upstream refused or reset).", func(s Stats) float64 { return float64(s.Errors) })
	}
	reg.MustRegister(collectors.NewGoCollector())
	return reg
}
