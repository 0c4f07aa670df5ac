package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// Stats is where a window's app columns (workers busy, queued, self-call pool, accept errors,
// fds) come from: sim's admin /stats, or anything that can tell some of them (a process's
// open fds). The observer polls it on a loop of its own (see statsPoller), so it may be slow.
type Stats interface {
	// Stats returns the app's figures now, giving up after timeout.
	Stats(ctx context.Context, timeout time.Duration) (app.Stats, error)
}

var _ Stats = (*Admin)(nil)

// Admin talks to sim's admin listener over ONE keep-alive connection opened at the start:
// once the app is at its fd limit, a new connection to any of its listeners fails.
type Admin struct {
	base string
	tr   *http.Transport
	c    *http.Client
}

// NewAdmin returns a client of the admin listener at base (http://HOST:PORT).
func NewAdmin(base string) *Admin {
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
	return &Admin{base: base, tr: tr, c: &http.Client{Transport: tr}}
}

// Get returns the body of GET path on the admin listener, within timeout.
func (a *Admin) Get(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin %s: status %d", path, resp.StatusCode)
	}
	return body, nil
}

// Stats returns the app's /stats.
func (a *Admin) Stats(ctx context.Context, timeout time.Duration) (app.Stats, error) {
	var s app.Stats
	body, err := a.Get(ctx, "/stats", timeout)
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(body, &s)
	return s, err
}

// Close releases the admin connection.
func (a *Admin) Close() { a.tr.CloseIdleConnections() }

// statsPoller polls the stats in its own loop, so that a slow answer delays neither the
// observation windows nor cancels the request (a cancelled request would close the one admin
// connection, and at the fd limit no new one can be opened).
type statsPoller struct {
	mu     chan struct{}
	latest app.Stats
	at     time.Time
	done   chan struct{}
}

// statsTimeout bounds one poll: long enough for an app whose admin goroutines are starved by
// a hang's load, short enough that a dead one does not hold the loop past the run.
const statsTimeout = 10 * time.Second

func startStatsPoller(ctx context.Context, src Stats, interval time.Duration) *statsPoller {
	p := &statsPoller{mu: make(chan struct{}, 1), done: make(chan struct{})}
	if src == nil {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if st, err := src.Stats(ctx, statsTimeout); err == nil {
				p.mu <- struct{}{}
				p.latest, p.at = st, time.Now()
				<-p.mu
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// get returns the latest stats if they are fresher than maxAge.
func (p *statsPoller) get(maxAge time.Duration) (app.Stats, bool) {
	p.mu <- struct{}{}
	defer func() { <-p.mu }()
	if p.at.IsZero() || time.Since(p.at) > maxAge {
		return p.latest, false
	}
	return p.latest, true
}

func (p *statsPoller) wait() { <-p.done }

// fillStats copies the app's figures into a timeline row.
func fillStats(s *results.Sample, st app.Stats) {
	s.AppUp, s.AppStats = true, statsOf(st)
}

// statsOf is the app's /stats as a timeline row holds them (TestStatsOfFillsEveryColumn holds
// it to every column).
func statsOf(st app.Stats) results.AppStats {
	return results.AppStats{
		WorkersBusy:     st.WorkersBusy,
		Queued:          st.Queued,
		ConnectionsOpen: int(st.ConnectionsOpen),
		SelfcallLeased:  st.SelfcallLeased,
		SelfcallWaiting: st.SelfcallWaiting,
		AcceptErrors:    st.AcceptErrors,
		FDsOpen:         st.FDsOpen,
		WorkersKilled:   st.WorkersKilled,
		// Zero without a front proxy (app.Stats embeds proxy.Stats).
		ProxyTimeouts:     st.Timeouts,
		ProxyClientClosed: st.ClientClosed,
	}
}
