package watch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/simdev/sim/internal/hostguard"
	"github.com/simdev/sim/internal/invalid"
)

// DefaultAddr is where the agent listens unless told otherwise: loopback, a free port.
const DefaultAddr = "127.0.0.1:0"

// MinTokenLen is the shortest token accepted: 16 characters of a random string are beyond
// guessing at any rate an HTTP listener answers.
const MinTokenLen = 16

// maxTokenLen bounds a token: it travels in a header, whose size the server bounds too.
const maxTokenLen = 1 << 10

const (
	// readHeaderTimeout bounds a client's request headers, so an idle connection cannot hold
	// a slot forever.
	readHeaderTimeout = 5 * time.Second
	// writeTimeout bounds a whole exchange: requestTimeout for the sample, then the write.
	writeTimeout = requestTimeout + 5*time.Second
	// idleTimeout closes keep-alive connections a scraper left idle, well above the usual
	// 15 s to 60 s scrape interval.
	idleTimeout = 2 * time.Minute
	// maxHeaderBytes bounds request headers: a request needs a Host and a token.
	maxHeaderBytes = 8 << 10
)

// Config is what `sim watch` is told. Field names in errors are the command's flags.
type Config struct {
	// Port is the app's port (1 to 65535).
	Port int
	// PID is the app's process; 0 finds the owner of the port's listening socket.
	PID int
	// Upstream, when not 0, is the port of the app behind Port's proxy (PHP-FPM behind
	// nginx): its processes' calls to Port count as self-calls (Options.Upstream).
	Upstream int
	// Addr is the agent's own listen address, host:port.
	Addr string
	// AllowNonLoopback lets Addr be beyond loopback (a container's 0.0.0.0, reached through
	// a published port) and the Host header any IP or single-label name.
	AllowNonLoopback bool
	// Token is the bearer token; required when Addr is beyond loopback.
	Token string
	// WarnAfter is the self-call warning's threshold; 0 is DefaultWarnAfter.
	WarnAfter time.Duration
	// Workers is the app's worker pool for the pool warning (0: off); WarnFraction its share
	// (0: DefaultWarnFraction).
	Workers      int
	WarnFraction float64
	// Interval, when not 0, makes the agent sample by itself this often, between requests, so
	// that the first self-call is noticed (and Log told) without a scraper.
	Interval time.Duration
	// Log, when not nil, receives the agent's own lines (the first self-call seen).
	Log func(line string)
}

// Bounds of Config.Interval and Config.WarnAfter.
const (
	// minInterval keeps the agent's own sampling below a few percent of a core: a sample of
	// 10,000 sockets costs a few milliseconds.
	minInterval  = 100 * time.Millisecond
	maxInterval  = time.Hour
	maxWarnAfter = time.Hour
	// maxWorkers bounds --workers: far above any pool (Tomcat's maxThreads tops out in the
	// thousands).
	maxWorkers = 1 << 20
)

// Validate checks c and returns an invalid.Field error naming the flag for the first
// mistake. The token's value never appears in a message.
func (c Config) Validate() error {
	if c.Port < 1 || c.Port > 65535 {
		return invalid.Field("--port", c.Port, "the app's TCP port, 1 to 65535")
	}
	if c.PID < 0 {
		return invalid.Field("--pid", c.PID, "the id of a running process, or 0 (the default) to find the owner of the port's listening socket")
	}
	if c.PID > 0 {
		if _, err := os.Stat(procRoot + "/" + strconv.Itoa(c.PID)); err != nil {
			return invalid.Field("--pid", c.PID, fmt.Sprintf("the id of a running process visible in %s, or 0 (the default) to find the owner of the port's listening socket", procRoot))
		}
	}
	if c.Upstream != 0 && (c.Upstream < 1 || c.Upstream > 65535 || c.Upstream == c.Port) {
		return invalid.Field("--upstream", c.Upstream, "the TCP port of the app behind --port's proxy (e.g. PHP-FPM's behind nginx), 1 to 65535 and not --port, or 0 (the default: none)")
	}
	if c.Interval != 0 && (c.Interval < minInterval || c.Interval > maxInterval) {
		return invalid.Field("--interval", c.Interval, fmt.Sprintf("0 (sample only when asked) or %v to %v", minInterval, maxInterval))
	}
	if c.WarnAfter < 0 || c.WarnAfter > maxWarnAfter {
		return invalid.Field("--warn-after", c.WarnAfter, fmt.Sprintf("0 (the default, %v) to %v", DefaultWarnAfter, maxWarnAfter))
	}
	if c.Workers < 0 || c.Workers > maxWorkers {
		return invalid.Field("--workers", c.Workers, fmt.Sprintf("the app's worker pool size, 1 to %d, or 0 (the default) to leave the pool warning off", maxWorkers))
	}
	if !(c.WarnFraction >= 0 && c.WarnFraction <= 1) {
		return invalid.Field("--warn-fraction", c.WarnFraction, fmt.Sprintf("a share of --workers above 0 and at most 1, or 0 (the default, %v)", DefaultWarnFraction))
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || !validPort(port) {
		return invalid.Field("--addr", c.Addr, "host:port, port 0 to 65535 (0 picks a free one), e.g. "+DefaultAddr)
	}
	loopback := hostguard.LoopbackAddr(c.Addr)
	if !loopback && !c.AllowNonLoopback {
		return invalid.Field("--addr", c.Addr, "host:port on loopback (127.0.0.0/8, ::1 or localhost); other hosts only with --allow-non-loopback and a --token")
	}
	if c.Token != "" {
		if len(c.Token) < MinTokenLen || len(c.Token) > maxTokenLen || strings.IndexFunc(c.Token, notTokenRune) >= 0 {
			return invalid.Field("--token", secret(len(c.Token)),
				fmt.Sprintf("%d to %d printable characters without spaces (e.g. openssl rand -hex 16)", MinTokenLen, maxTokenLen))
		}
	} else if !loopback {
		return invalid.Field("--token", secret(0),
			fmt.Sprintf("a token of at least %d characters (--token or SIM_WATCH_TOKEN) when --addr %s is beyond loopback: the census and the app's fd counts would be open to anyone who reaches the port", MinTokenLen, c.Addr))
	}
	return nil
}

// validPort reports whether a port string is a decimal 0 to 65535 (no service names: the
// agent's address is written by hand, and "http" would be a mistake, not a wish).
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535 && strconv.Itoa(n) == s
}

// notTokenRune is a rune a token may not hold: it must survive an HTTP header as it is.
func notTokenRune(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' }

// secret stands for a token in an error message: its length, never its value.
type secret int

func (s secret) String() string {
	if s == 0 {
		return "<none>"
	}
	return fmt.Sprintf("<a token of %d characters, not shown>", int(s))
}

// Agent is a running `sim watch`: a Watcher behind its own HTTP listener.
type Agent struct {
	w    *Watcher
	srv  *http.Server
	url  string
	done chan error
	stop chan struct{} // closed by Close: ends the sampling loop
	loop chan struct{} // closed when the sampling loop has returned
}

// Start validates cfg, opens the listener and serves until Close. On error nothing is left
// open.
func Start(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, err := New(Options{Port: uint16(cfg.Port), Upstream: uint16(cfg.Upstream), PID: cfg.PID, WarnAfter: cfg.WarnAfter, Workers: cfg.Workers, WarnFraction: cfg.WarnFraction, Notify: cfg.Log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("watch agent: %w", err)
	}
	a := &Agent{
		w: w,
		srv: &http.Server{
			Handler:           w.Handler(HandlerOptions{Token: cfg.Token, AnyHost: cfg.AllowNonLoopback}),
			ReadHeaderTimeout: readHeaderTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
		},
		url:  "http://" + ln.Addr().String(),
		done: make(chan error, 1),
		stop: make(chan struct{}),
		loop: make(chan struct{}),
	}
	go a.sampleEvery(cfg.Interval)
	go func() {
		err := a.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		a.done <- err
	}()
	return a, nil
}

// URL returns the agent's base URL, http://HOST:PORT.
func (a *Agent) URL() string { return a.url }

// Watcher returns the agent's watcher.
func (a *Agent) Watcher() *Watcher { return a.w }

// Err delivers the listener's error if it stops by itself (nil after Close).
func (a *Agent) Err() <-chan error { return a.done }

// Close stops the listener, waits for requests in progress until ctx ends (then cuts them
// off), and releases the sampler.
func (a *Agent) Close(ctx context.Context) error {
	close(a.stop)
	<-a.loop
	err := a.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("stop watch agent: %w", err), a.srv.Close())
	}
	return errors.Join(err, a.w.Close())
}

// sampleEvery samples every d until Close; with d 0 it only waits for Close.
func (a *Agent) sampleEvery(d time.Duration) {
	defer close(a.loop)
	if d == 0 {
		<-a.stop
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			go func() {
				select {
				case <-a.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			_, _ = a.w.Sample(ctx) // a failed sample is counted and served by the next request
			cancel()
		}
	}
}
