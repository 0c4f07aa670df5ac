package connector

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// The watchdog (Config.WorkerTimeout) imitates gunicorn's arbiter with sync workers. A sync
// worker tells the arbiter it is alive (WorkerTmp.notify) before each accept and while it
// waits idle; inside a request it says nothing. Every second (its select timeout) the arbiter
// kills each worker silent for longer than --timeout: SIGABRT, whose handler raises SystemExit,
// so `finally: util.close(client)` closes the client's connection unanswered, and a SIGKILL a
// second later if the process has not exited (measured: 44 of 64). The process's other
// descriptors close with it: a self-call in flight is closed from the client's side, and if it
// still waits in the listen backlog it stays there, dead, for the next worker to take (its
// request was sent: the worker runs it and its answer meets a reset). The arbiter reaps the
// child and forks a replacement, which imports the app and accepts the next connection of the
// backlog. Here a request's timer starts when its handler starts (a sync worker accepts and
// reads the request at once), fires at WorkerTimeout, and the worker's permit comes back
// WorkerBoot after the kill (the SIGKILL's second and the replacement's boot).

// errKilled is what a killed request's writes return.
var errKilled = errors.New("worker killed by the watchdog")

// killState is where a watched request stands; the handler's end and the timer race for it.
type killState int

const (
	running killState = iota
	finished
	killed
)

// watched is one request under the watchdog.
type watched struct {
	mu    sync.Mutex
	state killState
	// ctx ends when the worker is killed: what the handler's waits and its self-call end with
	// (the process is gone). It derives from the connector's life, never from the client's.
	ctx    context.Context
	cancel context.CancelFunc
	// done is closed once the kill has taken the connection and the worker.
	done chan struct{}
}

func (k *watched) isKilled() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state == killed
}

// watchedKey is the request context's key of its *watched.
type watchedKey struct{}

// connKey is the connection context's key of the accepted *conn (http.Server.ConnContext).
type connKey struct{}

// KillContext is the context a handler's waits and its self-call should end with: it ends when
// the watchdog kills the request's worker, or when the connector stops. Without a watchdog it is
// the connector's life (it never ends while the connector serves); outside a connector's
// request, context.Background.
func KillContext(ctx context.Context) context.Context {
	if k, ok := ctx.Value(watchedKey{}).(*watched); ok {
		return k.ctx
	}
	if c, ok := ctx.Value(lifeKey{}).(context.Context); ok {
		return c
	}
	return context.Background()
}

// Killed reports whether the watchdog killed the worker of the request whose context is ctx:
// its handler must then neither answer nor count the page.
func Killed(ctx context.Context) bool {
	k, ok := ctx.Value(watchedKey{}).(*watched)
	return ok && k.isKilled()
}

// lifeKey is the request context's key of the connector's life.
type lifeKey struct{}

// watch runs each request under the watchdog's timer (WorkerTimeout > 0). On time, kill: the
// client's connection is closed unanswered, the request's kill context ends, the worker's
// permit comes back WorkerBoot later, and whatever the handler does after that goes nowhere.
func (c *Connector) watch(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(c.life)
		defer cancel()
		k := &watched{ctx: ctx, cancel: cancel, done: make(chan struct{})}
		cn, _ := r.Context().Value(connKey{}).(*conn)
		wk := WorkerFrom(r.Context())
		t := time.AfterFunc(c.cfg.WorkerTimeout, func() { c.kill(k, cn, wk) })
		defer t.Stop()
		next.ServeHTTP(&killWriter{ResponseWriter: w, k: k}, r.WithContext(context.WithValue(r.Context(), watchedKey{}, k)))
		k.mu.Lock()
		dead := k.state == killed
		if !dead {
			k.state = finished
		}
		k.mu.Unlock()
		if dead {
			// Wait for the kill to finish, so that net/http's Close of the connection finds
			// the slot and worker already in the watchdog's hands. The connection is closed; ErrAbortHandler makes net/http drop the
			// response it buffered instead of writing it, and log nothing.
			<-k.done
			panic(http.ErrAbortHandler)
		}
	})
}

// kill is the arbiter's murder of one worker.
func (c *Connector) kill(k *watched, cn *conn, wk *Worker) {
	k.mu.Lock()
	if k.state != running {
		k.mu.Unlock()
		return
	}
	k.state = killed
	k.mu.Unlock()
	c.killed.Add(1)
	// The kill context ends last, when the handler may return.
	defer close(k.done)
	defer k.cancel()
	boot := c.cfg.WorkerBoot
	switch {
	case wk != nil:
		// nio: the worker is the pool's permit; the connection only an fd.
		wk.kill(boot)
		if cn != nil {
			cn.Close()
		}
	case cn != nil:
		// bio: the worker belongs to the connection; it comes back with the replacement.
		cn.kill(boot)
	}
}

// killWriter drops what a handler writes once its worker is killed.
type killWriter struct {
	http.ResponseWriter
	k *watched
}

func (w *killWriter) Write(b []byte) (int, error) {
	if w.k.isKilled() {
		return 0, errKilled
	}
	return w.ResponseWriter.Write(b)
}

func (w *killWriter) WriteHeader(code int) {
	if !w.k.isKilled() {
		w.ResponseWriter.WriteHeader(code)
	}
}

// kill closes the connection now and gives its slot and worker back after boot (bio). The
// handler's own Close later finds them given back already.
func (c *conn) kill(boot time.Duration) {
	c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		time.AfterFunc(boot, c.l.release)
	})
}

// kill takes the worker from its handler and gives it back to the pool after boot (nio): the
// handler's deferred Release then does nothing, and a Reacquire fails.
func (w *Worker) kill(boot time.Duration) {
	w.mu.Lock()
	held := w.held
	w.held, w.dead = false, true
	w.mu.Unlock()
	if held {
		time.AfterFunc(boot, w.c.workers.Release)
	}
}

var _ net.Conn = (*conn)(nil)
