package app

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil},
		url: "http://" + ln.Addr().String(),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *adminServer) close() error { return s.srv.Close() }

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
	gauge("workers_max", "Size of the worker pool (max_threads).", func(s Stats) float64 { return float64(s.MaxThreads) })
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
	reg.MustRegister(collectors.NewGoCollector())
	return reg
}
