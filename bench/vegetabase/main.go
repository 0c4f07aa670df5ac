// Command vegetabase is the plain-vegeta baseline of bench/run.sh: it attacks one URL at a
// constant rate for a duration with vegeta's library and nothing else (no record, no sampler,
// no windows), with the client settings `sim run` uses, and prints one JSON line with what it
// sent and how much of it was OK. The difference between the rate it sustains and the rate
// `sim run` sustains against the same server is the runner's own cost.
//
//	vegetabase -url http://127.0.0.1:PORT/page -rate 1000 -duration 8s
//
// It starts no server: run `sim serve` first and point -url at it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/observe"
)

// Exit codes, as sim's: 2 for a usage mistake, 3 for an attack that could not run to its end.
const (
	exitUsage  = 2
	exitFailed = 3
)

// drainGrace is how long in-flight requests get to finish after the attack is stopped early,
// beyond the client timeout that bounds each of them.
const drainGrace = 5 * time.Second

// maxPrealloc caps the latency slice allocated up front (8 MB).
const maxPrealloc = 1 << 20

// options is one attack, with the defaults of a `sim run` profile's client section.
type options struct {
	url         string
	rate        int
	duration    time.Duration
	timeout     time.Duration
	keepalive   bool
	connections int
	maxWorkers  int
}

// report is the JSON line printed at the end.
type report struct {
	URL        string  `json:"url"`
	Rate       int     `json:"rate"`
	DurationS  float64 `json:"duration_s"`
	Planned    int     `json:"planned"`
	Requests   int     `json:"requests"`
	OK         int     `json:"ok"`
	OKFraction float64 `json:"ok_fraction"` // OK over planned hits, not over sent ones
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	MaxMS      float64 `json:"max_ms"`
	ElapsedS   float64 `json:"elapsed_s"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "vegetabase: %v\n", err)
		}
		return exitUsage
	}
	rep, err := attack(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "vegetabase: %v\n", err)
		return exitFailed
	}
	if err := json.NewEncoder(stdout).Encode(rep); err != nil {
		fmt.Fprintf(stderr, "vegetabase: %v\n", err)
		return exitFailed
	}
	return 0
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("vegetabase", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.url, "url", "", "URL to GET (required), e.g. the app's /page")
	fs.IntVar(&o.rate, "rate", 0, "constant rate, requests per second (required, 1 to 20000)")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "how long to attack")
	fs.DurationVar(&o.timeout, "timeout", loadprofiles.DefaultClientTimeout, "per-request timeout (profile client.timeout)")
	fs.BoolVar(&o.keepalive, "keepalive", true, "reuse connections (profile client.keepalive)")
	fs.IntVar(&o.connections, "connections", loadprofiles.DefaultConnections, "idle connections per host (profile client.connections)")
	fs.IntVar(&o.maxWorkers, "max-workers", 0, "cap on vegeta's workers, 0 = unbounded (profile client.max_workers)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if u, err := url.Parse(o.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("-url %q: want an http:// or https:// URL with a host", o.url)
	}
	if o.rate < 1 || float64(o.rate) > loadprofiles.MaxTarget {
		return o, fmt.Errorf("-rate %d: want 1 to %.0f", o.rate, loadprofiles.MaxTarget)
	}
	if o.duration <= 0 {
		return o, fmt.Errorf("-duration %v: want a duration > 0", o.duration)
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("-timeout %v: want a duration > 0", o.timeout)
	}
	if o.connections < 1 {
		return o, fmt.Errorf("-connections %d: want > 0", o.connections)
	}
	if o.maxWorkers < 0 {
		return o, fmt.Errorf("-max-workers %d: want >= 0", o.maxWorkers)
	}
	return o, nil
}

// attack runs the attack and counts its results; an interrupt stops it early and is an error.
func attack(ctx context.Context, o options) (report, error) {
	// The same options as sim run's, so only the runner's own work differs.
	atk := vegeta.NewAttacker(observe.AttackerOptions(loadprofiles.Client{
		Timeout: o.timeout, Keepalive: o.keepalive, Connections: o.connections, MaxWorkers: o.maxWorkers,
	})...)
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: o.url})
	rate := vegeta.Rate{Freq: o.rate, Per: time.Second}
	planned := int(o.duration.Seconds() * float64(o.rate))
	// Every latency is kept, for exact quantiles: 8 bytes a request, under 2 MB for the
	// benchmark's 8 s runs at up to 20000 rps. The preallocation is capped for long attacks.
	latencies := make([]time.Duration, 0, min(planned, maxPrealloc))
	rep := report{URL: o.url, Rate: o.rate, DurationS: o.duration.Seconds(), Planned: planned}

	began := time.Now()
	res := atk.Attack(tr, rate, o.duration, "vegetabase")
	var interrupted bool
	var stopped <-chan time.Time
loop:
	for {
		select {
		case r, ok := <-res:
			if !ok {
				break loop
			}
			rep.Requests++
			if results.Classify(r) == results.KindOK {
				rep.OK++
			}
			latencies = append(latencies, r.Latency)
		case <-ctx.Done():
			if !interrupted {
				// vegeta's Attack has no context: stop it and keep draining its results.
				interrupted = true
				atk.Stop()
				stopped = time.After(o.timeout + drainGrace)
			}
		case <-stopped:
			return rep, errors.New("interrupted, and in-flight requests did not drain")
		}
	}
	rep.ElapsedS = time.Since(began).Seconds()
	if interrupted {
		return rep, errors.New("interrupted")
	}
	if planned > 0 {
		rep.OKFraction = float64(rep.OK) / float64(planned)
	}
	slices.Sort(latencies)
	rep.P50MS, rep.P99MS = quantileMS(latencies, 0.50), quantileMS(latencies, 0.99)
	if n := len(latencies); n > 0 {
		rep.MaxMS = ms(latencies[n-1])
	}
	return rep, nil
}

// quantileMS is the nearest-rank p-quantile of sorted, in milliseconds; 0 for none.
func quantileMS(sorted []time.Duration, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := min(max(int(math.Ceil(p*float64(n)))-1, 0), n-1)
	return ms(sorted[i])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
