// Package app is the system under test: a chi web app behind the Tomcat-like connector whose
// GET /page spends work_time and then fetches a static HTML file through the HttpClient-like
// self-call client, from itself (topology self) or from a separate static server (split). An
// admin listener outside the bounded pool reports its state while it is deadlocked.
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

	"github.com/simdev/sim/simulator/connector"
	"github.com/simdev/sim/simulator/selfcall"
	"github.com/simdev/sim/simulator/static"
)

// StaticStarter starts the split topology's static server on addr.
type StaticStarter func(ctx context.Context, addr string) (static.Server, error)

// App is a running app: connector, self-call client, admin listener and, for split, the static
// server.
type App struct {
	cfg    Config
	life   context.Context
	cancel context.CancelFunc

	conn      *connector.Connector
	client    *selfcall.Client
	admin     *adminServer
	static    static.Server
	staticURL string
	fds       *fdCounter
	work      *workTimes
	started   time.Time

	pagesOK     atomic.Int64
	pagesFailed atomic.Int64

	serveErr chan error
	closeOne sync.Once
	closeErr error
}

// Start validates cfg, starts everything and returns once every listener accepts. startStatic
// is used for the split topology (it may be nil for self, or when cfg.Static.URL names an
// external static server).
func Start(ctx context.Context, cfg Config, startStatic StaticStarter) (*App, error) {
	cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	a := &App{cfg: cfg, life: life, cancel: cancel, started: time.Now(), serveErr: make(chan error, 1)}
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
	})

	r := chi.NewRouter()
	r.Get("/page", a.page)
	if cfg.Topology == Self {
		r.Method(http.MethodGet, static.PagePath, static.Handler())
	}
	conn, err := connector.New(cfg.Addr, connectorConfig(cfg), r)
	if err != nil {
		return nil, fmt.Errorf("app listener: %w", err)
	}
	a.conn = conn

	switch cfg.Topology {
	case Self:
		a.staticURL = "http://" + selfAddr(conn.Addr())
	case Split:
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
	}

	a.admin, err = startAdmin(cfg.AdminAddr, a)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	go func() { a.serveErr <- conn.Serve() }()
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

// URL is the app's base URL.
func (a *App) URL() string { return "http://" + a.conn.Addr().String() }

// AdminURL is the admin listener's base URL.
func (a *App) AdminURL() string { return a.admin.url }

// StaticURL is the base URL the self-call fetches from.
func (a *App) StaticURL() string { return a.staticURL }

// Config is the effective config.
func (a *App) Config() Config { return a.cfg }

// Err is closed-over: it yields the connector's serve error if serving stops on its own.
func (a *App) Err() <-chan error { return a.serveErr }

// Close stops the app, its admin listener and its static server; queued and running requests
// are abandoned.
func (a *App) Close() error {
	a.closeOne.Do(func() {
		a.cancel()
		var errs []error
		if a.conn != nil {
			errs = append(errs, a.conn.Close())
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

// page is GET /page: the business logic, then the self-call for the static fragment.
func (a *App) page(w http.ResponseWriter, r *http.Request) {
	if d := a.work.next(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-a.life.Done():
			t.Stop()
			return
		}
	}
	fragment, err := a.client.Get(a.staticURL + static.PagePath)
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
