package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/redact"
)

// Client fetches census samples from a `sim watch` agent. Safe for concurrent use.
type Client struct {
	census  string
	shown   string // the base URL with credentials masked, for messages
	token   string
	timeout time.Duration
	hc      *http.Client
	tr      *http.Transport
}

// Reading is one census with the reader's clock around the request.
type Reading struct {
	Census
	// Sent and Received are the reader's clock when the request left and the answer came.
	Sent, Received time.Time
}

// Offset estimates the agent's clock minus the reader's: the agent's sample is taken to sit
// in the middle of the round trip, as NTP assumes, so the error is at most half the round
// trip. Add it to a reader's time to get the agent's; subtract it from Census.Time to get the
// reader's.
func (r Reading) Offset() time.Duration {
	mid := r.Sent.Add(r.Received.Sub(r.Sent) / 2)
	agentMid := r.Census.Time().Add(r.Census.Duration() / 2)
	return agentMid.Sub(mid)
}

// NewClient returns a client of the agent at baseURL (http://HOST:PORT, as `sim watch`
// prints it; a path prefix is kept, for an agent behind a proxy), sending token when not
// empty, and giving up on a sample after timeout. A baseURL that is not an http(s) URL is an
// invalid.Field error on --watch.
func NewClient(baseURL, token string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, invalid.Field("--watch", redact.URL(baseURL), "the http:// URL of a sim watch agent, as it prints it, e.g. http://127.0.0.1:8082")
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("watch client: timeout %v, want > 0", timeout)
	}
	// An agent is reached directly: a proxy from the environment would see the token and
	// add its own latency to every sample.
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1, ResponseHeaderTimeout: timeout}
	c := &Client{
		census:  strings.TrimSuffix(u.String(), "/") + CensusPath,
		shown:   redact.URL(baseURL),
		token:   token,
		timeout: timeout,
		tr:      tr,
		hc: &http.Client{
			Transport: tr,
			// A redirect would carry the token elsewhere; an agent never sends one.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	return c, nil
}

// Census fetches one sample. It fails when the agent does not answer within the client's
// timeout, answers anything but 200 with a census of this schema version, or sends more than
// the agent's response bound: the caller records a gap, not zeros.
func (c *Client) Census(ctx context.Context) (Reading, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.census, nil)
	if err != nil {
		return Reading{}, fmt.Errorf("census from %s: %w", c.shown, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	r := Reading{Sent: time.Now()}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Reading{}, fmt.Errorf("census from %s: no answer within %v: %w", c.shown, c.timeout, context.DeadlineExceeded)
		}
		return Reading{}, fmt.Errorf("census from %s: %w", c.shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	r.Received = time.Now()
	if err != nil {
		return Reading{}, fmt.Errorf("census from %s: read answer: %w", c.shown, err)
	}
	if len(body) > maxResponseBytes {
		return Reading{}, fmt.Errorf("census from %s: answer longer than %d bytes", c.shown, maxResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return Reading{}, fmt.Errorf("census from %s: %s: %s", c.shown, resp.Status, truncate(msg))
	}
	if err := json.Unmarshal(body, &r.Census); err != nil {
		return Reading{}, fmt.Errorf("census from %s: decode: %w", c.shown, err)
	}
	if r.Census.Version != SchemaVersion {
		return Reading{}, fmt.Errorf("census from %s: schema version %d, this sim reads version %d", c.shown, r.Census.Version, SchemaVersion)
	}
	return r, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// unwrapURLError drops net/http's *url.Error wrapper, whose message repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
