package static

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/simdev/sim/simulator/child"
)

// Embedded is the name of the embedded static server; Nginx of Debian's nginx.
const (
	Embedded = "embedded"
	Nginx    = "nginx"
)

// Server is a running static server.
type Server interface {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234.
	URL() string
	// Stop stops it and waits until it is gone.
	Stop() error
}

// Serve runs the embedded static server on addr until ctx ends; announce is called with the
// base URL once it listens. It is what `sim static` runs in its own process.
func Serve(ctx context.Context, addr string, announce func(url string)) error {
	// No TCP keepalive on accepted connections, as nginx's listen so_keepalive is off by
	// default; Go's net.Listen would turn it on (15 s).
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("static server: %w", err)
	}
	srv := &http.Server{Handler: Handler(), ReadHeaderTimeout: 20 * time.Second}
	announce("http://" + ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// Process is a static server running as a child process.
type Process struct {
	p   *child.Process
	url string
}

// StartEmbedded starts `exe static --addr addr` (exe is the sim binary) and waits until it
// listens. It is a separate process so that it shares nothing with the app: its own fds, its own
// scheduler, as a separate nginx would.
func StartEmbedded(ctx context.Context, exe, addr string) (*Process, error) {
	p, err := child.Start(ctx, child.Spec{
		Name:  "static server",
		Path:  exe,
		Args:  []string{"static", "--addr", addr},
		Ready: []string{"static"},
	})
	if err != nil {
		return nil, err
	}
	return &Process{p: p, url: p.URL("static")}, nil
}

// URL is the base URL.
func (s *Process) URL() string { return s.url }

// Stop stops the process.
func (s *Process) Stop() error { return s.p.Stop(3 * time.Second) }
