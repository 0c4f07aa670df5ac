// Package app is the system under test: a chi web app behind the Tomcat-like connector whose
// GET /page spends work_time and then gets a static HTML fragment. Where it gets it, and what
// the connector does around it, is the topology's (package topology's Mechanics): a self-call
// through the HttpClient-like client to its own connector (self, the incident), to a separate
// static server (split) or to a second connector of the same process with its own pool
// (bulkhead), or a read in process (inproc); a bounded worker queue, an admission limit in
// front of the page, or a page that releases its worker during the self-call (async). An admin
// listener outside the bounded pool reports its state while it is deadlocked.
package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/simulator/connector"
	"github.com/simdev/sim/simulator/proxy"
	"github.com/simdev/sim/simulator/selfcall"
	"github.com/simdev/sim/simulator/static"
)

// pagePath is the app's page, the route the load hits and the admission limit guards.
const pagePath = "/page"

// StaticStarter starts the split topology's static server on addr.
type StaticStarter func(ctx context.Context, addr string) (static.Server, error)

// App is a running app: connector, self-call client, admin listener and, as the topology says,
// the static server (split), the static connector (bulkhead) and the admission limit.
type App struct {
	cfg    Config
	mech   topology.Mechanics
	life   context.Context
	cancel context.CancelFunc

	conn       *connector.Connector
	staticConn *connector.Connector // bulkhead only
	front      *proxy.Proxy         // front_proxy only: on addr, in front of conn
	client     *selfcall.Client
	admin      *adminServer
	static     static.Server
	staticURL  string
	admit      *admission // admission-limit only
	fds        *fdCounter
	work       *workTimes
	started    time.Time

	pagesOK     atomic.Int64
	pagesFailed atomic.Int64
	// parked counts async pages whose worker is released while their self-call is in flight;
	// resuming those waiting in the worker queue to finish.
	parked   atomic.Int64
	resuming atomic.Int64

	serveErr chan error
	closeOne sync.Once
	closeErr error
}

// Start validates cfg, starts everything the topology needs and returns once every listener
// accepts. startStatic is used for the split topology (it may be nil for every other one, or
// when cfg.Static.URL names an external static server).
func Start(ctx context.Context, cfg Config, startStatic StaticStarter) (*App, error) {
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	a := &App{
		cfg: cfg, mech: topology.Must(cfg.Topology).Mechanics, life: life, cancel: cancel, started: time.Now(),
		// One per server that serves: the app's connector, the bulkhead's, the front proxy.
		serveErr: make(chan error, 3),
	}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()

	a.fds = newFDCounter()
	a.work = newWorkTimes(cfg)
	a.client = selfcall.New(life, selfcall.Config{
		MaxPerRoute:              cfg.MaxPerRoute,
		MaxTotal:                 cfg.MaxTotal,
		ConnectionRequestTimeout: cfg.ConnectionRequestTimeout,
		ConnectTimeout:           cfg.ConnectTimeout,
		SocketTimeout:            cfg.SocketTimeout,
		TCPKeepAlive:             cfg.TCPKeepAlive,
		NoPool:                   !cfg.SelfCallPool,
		Retries:                  cfg.SelfCallRetries,
	})

	r := chi.NewRouter()
	r.Get(pagePath, a.page)
	if a.mech.Fragment == topology.FromSelf {
		r.Method(http.MethodGet, static.PagePath, static.Handler())
	}
	ccfg := connectorConfig(cfg)
	if a.mech.QueueLimit {
		ccfg.MaxQueueSize = cfg.MaxQueueSize
	}
	if a.mech.Admission {
		a.admit = newAdmission(cfg.Admission, cfg.Workers()-cfg.Reserve)
		if cfg.Admission == topology.AdmitQueue {
			ccfg.Gate = a.admit.gate
		}
	}
	// With a front proxy the pool's connector is behind it, on pool_addr (PHP-FPM's port), and
	// the proxy takes addr: the app's public address, where the load and the self-call go.
	poolAddr := cfg.Addr
	if cfg.FrontProxy {
		poolAddr = cfg.PoolAddr
	}
	conn, err := connector.New(poolAddr, ccfg, r)
	if err != nil {
		return nil, fmt.Errorf("app listener: %w", err)
	}
	a.conn = conn
	public := net.Addr(conn.Addr())
	if cfg.FrontProxy {
		a.front, err = proxy.Start(cfg.Addr, proxy.Config{Upstream: selfAddr(conn.Addr()), ReadTimeout: cfg.ProxyReadTimeout})
		if err != nil {
			return nil, fmt.Errorf("front proxy listener: %w", err)
		}
		public = a.front.Addr()
	}

	switch a.mech.Fragment {
	case topology.FromSelf:
		a.staticURL = "http://" + selfAddr(public)
	case topology.FromSeparate:
		if cfg.Static.URL != "" {
			// An external server (docker-compose's nginx): not ours to start or stop.
			a.staticURL = strings.TrimRight(cfg.Static.URL, "/")
			break
		}
		if startStatic == nil {
			return nil, errors.New("split topology: no static server to start")
		}
		s, err := startStatic(ctx, cfg.StaticAddr)
		if err != nil {
			return nil, fmt.Errorf("static server: %w", err)
		}
		a.static = s
		a.staticURL = s.URL()
	case topology.FromBulkhead:
		// A second <Connector> with its own <Executor>: same connector settings, its own pool
		// and its own unbounded queue, in this process (so under the same fd limit).
		scfg := connectorConfig(cfg)
		scfg.MaxThreads, scfg.StartWorkers = cfg.BulkheadThreads, 0
		sc, err := connector.New(cfg.StaticAddr, scfg, static.Handler())
		if err != nil {
			return nil, fmt.Errorf("static listener: %w", err)
		}
		a.staticConn = sc
		a.staticURL = "http://" + selfAddr(sc.Addr())
	case topology.InProcess:
		// No URL: the page reads the file in process.
	}

	a.admin, err = startAdmin(cfg.AdminAddr, a)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	go func() { a.serveErr <- conn.Serve() }()
	if a.front != nil {
		go func() { a.serveErr <- a.front.Serve() }()
	}
	if a.staticConn != nil {
		go func() { a.serveErr <- a.staticConn.Serve() }()
	}
	ok = true
	return a, nil
}

// selfAddr is where the app reaches its own listener: on loopback, as the incident's
// http://localhost:8080, also when it listens on every address (allow_non_loopback).
func selfAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	ip := net.IPv4(127, 0, 0, 1)
	if tcp.IP.To4() == nil {
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// URL is the app's base URL: the front proxy's with front_proxy, else the connector's.
func (a *App) URL() string {
	if a.front != nil {
		return "http://" + a.front.Addr().String()
	}
	return "http://" + a.conn.Addr().String()
}

// PoolURL is the base URL of the worker pool's connector: behind the front proxy with
// front_proxy (where the dead requests wait in its backlog), else the same as URL.
func (a *App) PoolURL() string { return "http://" + a.conn.Addr().String() }

// AdminURL is the admin listener's base URL.
func (a *App) AdminURL() string { return a.admin.url }

// StaticURL is the base URL the self-call fetches from: the app itself, the split's static
// server or the bulkhead's static connector; empty for inproc, which makes no call.
func (a *App) StaticURL() string { return a.staticURL }

// Config is the effective config.
func (a *App) Config() Config { return a.cfg }

// Err yields a connector's serve error (the app's or the bulkhead's static one) if serving
// stops on its own; after Close, nil.
func (a *App) Err() <-chan error { return a.serveErr }

// Close stops the app, its admin listener and its static server or connector; queued and
// running requests are abandoned.
func (a *App) Close() error {
	a.closeOne.Do(func() {
		a.cancel()
		var errs []error
		if a.front != nil {
			errs = append(errs, a.front.Close())
		}
		if a.conn != nil {
			errs = append(errs, a.conn.Close())
		}
		if a.staticConn != nil {
			errs = append(errs, a.staticConn.Close())
		}
		if a.admin != nil {
			errs = append(errs, a.admin.close())
		}
		if a.static != nil {
			errs = append(errs, a.static.Stop())
		}
		if a.client != nil {
			a.client.Close()
		}
		if a.fds != nil {
			a.fds.close()
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// page is GET /page: admission (admission-limit, unless it is the connector's gate), the
// business logic, then the static fragment.
func (a *App) page(w http.ResponseWriter, r *http.Request) {
	if a.admit != nil && a.admit.mode != topology.AdmitQueue {
		// A servlet filter: it runs in the worker the page already holds.
		release, err := a.admit.enter(a.waitContext(r))
		if errors.Is(err, errAdmissionFull) {
			a.pagesFailed.Add(1)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			return // the server is stopping (or, with honor_client_close, the client left)
		}
		defer release()
	}
	// kill ends with the app, or when the watchdog kills this page's worker: the process is
	// gone, its sleep and its self-call with it.
	kill := connector.KillContext(r.Context())
	if d := a.work.next(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-a.life.Done():
			t.Stop()
			return
		case <-kill.Done():
			t.Stop()
		}
	}
	fragment, err := a.fragment(r, kill)
	if connector.Killed(r.Context()) {
		// Neither answered nor counted: the watchdog closed its connection.
		panic(http.ErrAbortHandler)
	}
	if err != nil {
		a.pagesFailed.Add(1)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	a.pagesOK.Add(1)
	if i := bytes.Index(fragment, []byte("<section")); i >= 0 {
		if j := bytes.LastIndex(fragment, []byte("</section>")); j > i {
			fragment = fragment[i : j+len("</section>")]
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html>\n<html><head><title>sim page</title></head><body>\n<h1>Page</h1>\n%s\n</body></html>\n", fragment)
}

// waitContext is what a page's waits end with: the server stopping, as in Tomcat, or with
// honor_client_close the client leaving, as the connector's queue does.
func (a *App) waitContext(r *http.Request) context.Context {
	if a.cfg.HonorClientClose {
		return r.Context()
	}
	return a.life
}

// fragment gets the static page where the topology says: in process, or by HTTP through the
// self-call client, releasing the worker meanwhile when the page is async.
func (a *App) fragment(r *http.Request, kill context.Context) ([]byte, error) {
	if a.mech.Fragment == topology.InProcess {
		return static.Page(), nil
	}
	url := a.staticURL + static.PagePath
	wk := connector.WorkerFrom(r.Context())
	if !a.mech.Async || wk == nil {
		// Without a Worker (bio: the worker belongs to the connection) the page stays
		// synchronous.
		return a.client.GetContext(kill, url)
	}
	// Servlet 3 async: the container thread goes back to the pool during the call, and the
	// completion is dispatched to the executor again, queued behind what arrived meanwhile.
	wk.Release()
	a.parked.Add(1)
	body, err := a.client.GetContext(kill, url)
	a.parked.Add(-1)
	a.resuming.Add(1)
	rerr := wk.Reacquire()
	a.resuming.Add(-1)
	if errors.Is(rerr, connector.ErrStopped) {
		// Stopping: no worker, no answer, as for a request still queued.
		panic(http.ErrAbortHandler)
	}
	if rerr != nil {
		return nil, fmt.Errorf("resume async page: %w", rerr)
	}
	return body, err
}
