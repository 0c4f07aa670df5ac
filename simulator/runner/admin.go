package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/simdev/sim/simulator/app"
)

// adminClient talks to the app's admin listener over ONE keep-alive connection opened at the
// start: once the app is at its fd limit, a new connection to any of its listeners fails.
type adminClient struct {
	base string
	tr   *http.Transport
	c    *http.Client
}

func newAdminClient(base string) *adminClient {
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
	return &adminClient{base: base, tr: tr, c: &http.Client{Transport: tr}}
}

// errNoAdmin: an external target without an admin listener; its /stats columns stay empty.
var errNoAdmin = errors.New("no admin listener")

func (a *adminClient) get(ctx context.Context, path string, timeout time.Duration) ([]byte, error) {
	if a == nil {
		return nil, errNoAdmin
	}
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

func (a *adminClient) stats(ctx context.Context, timeout time.Duration) (app.Stats, error) {
	var s app.Stats
	body, err := a.get(ctx, "/stats", timeout)
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(body, &s)
	return s, err
}

func (a *adminClient) close() {
	if a != nil {
		a.tr.CloseIdleConnections()
	}
}

func portOf(rawURL string) uint16 {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(u.Port())
	return uint16(n)
}

// statsPoller polls /stats in its own loop, so that a slow answer delays neither the
// observation windows nor cancels the request (a cancelled request would close the one admin
// connection, and at the fd limit no new one can be opened).
type statsPoller struct {
	mu     chan struct{}
	latest app.Stats
	at     time.Time
	done   chan struct{}
}

func startStatsPoller(ctx context.Context, a *adminClient, interval time.Duration) *statsPoller {
	p := &statsPoller{mu: make(chan struct{}, 1), done: make(chan struct{})}
	if a == nil {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if st, err := a.stats(ctx, 10*time.Second); err == nil {
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
