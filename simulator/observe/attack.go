package observe

import (
	"context"
	"io"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

// maxBodyCounted is how much of each response body vegeta reads into its result. vegeta's
// BytesIn is the length of what it kept (a MaxBody of 0 recorded 0 bytes in for every request),
// so the body must be kept to be counted; results.Writer drops it before writing results.bin.
// sim's page is about 3 KB; an external target's larger bodies are counted up to this much
// (vegeta reads the rest and drops it), so that memory stays bounded at in-flight requests x
// 1 MiB whatever the target serves.
const maxBodyCounted = 1 << 20

// AttackerOptions are the vegeta options of a profile's client settings: its timeout,
// keep-alive, connections and worker cap, no redirects, HTTP/1.1, and bodies read up to
// maxBodyCounted so that BytesIn counts them.
func AttackerOptions(c loadprofiles.Client) []func(*vegeta.Attacker) {
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(c.Timeout),
		vegeta.KeepAlive(c.Keepalive),
		vegeta.Connections(c.Connections),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.HTTP2(false),
		vegeta.MaxBody(maxBodyCounted),
	}
	if c.MaxWorkers > 0 {
		opts = append(opts, vegeta.MaxWorkers(uint64(c.MaxWorkers)))
	}
	return opts
}

// Probe is one recovery probe: GET url on a fresh connection, as a new user would open one,
// within timeout.
func Probe(ctx context.Context, url string, timeout time.Duration) results.Probe {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	// A Transport, unlike a Client (and vegeta), sends no credentials from the URL by itself.
	if u := req.URL.User; u != nil {
		password, _ := u.Password()
		req.SetBasicAuth(u.Username(), password)
	}
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	p := results.Probe{}
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		p.Status = resp.StatusCode
	}
	p.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		p.Error = err.Error()
	}
	p.OK = err == nil && p.Status == http.StatusOK
	return p
}
