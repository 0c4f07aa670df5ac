package model

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/simulator/app"
)

// hangKeys are the key sets the "can it hang" tables run every topology with: none of the
// timeouts, each of them, and a lease timeout with as many leases as workers (then no page ever
// waits for a lease, and the timeout cannot free one).
func hangKeys() []struct {
	name   string
	change func(*app.Config)
} {
	return []struct {
		name   string
		change func(*app.Config)
	}{
		{"no timeouts", func(*app.Config) {}},
		{"socket_timeout", func(c *app.Config) { c.SocketTimeout = time.Second }},
		{"connection_request_timeout", func(c *app.Config) { c.ConnectionRequestTimeout = time.Second }},
		{"connection_request_timeout, a lease per worker", func(c *app.Config) {
			c.ConnectionRequestTimeout, c.MaxPerRoute = time.Second, c.MaxThreads
		}},
		{"connect_timeout", func(c *app.Config) { c.ConnectTimeout = time.Second }},
		{"all three", func(c *app.Config) {
			c.SocketTimeout, c.ConnectionRequestTimeout, c.ConnectTimeout = time.Second, time.Second, time.Second
		}},
		// A front proxy: its read timeout ends a stuck self-call (a short one, so that the
		// drain fits the probes: with nginx's 60 s it takes hours, see WhyNoHang); without a
		// read timeout nothing does.
		{"front_proxy, proxy_read_timeout 1s", func(c *app.Config) { c.FrontProxy, c.ProxyReadTimeout = true, time.Second }},
		{"front_proxy, no read timeout", func(c *app.Config) { c.FrontProxy, c.ProxyReadTimeout = true, 0 }},
	}
}

// TestModelAgreesWithCanHang holds the model to topology.CanHang, the one decision of "can this
// hang", on every registered topology (and admission mode) with every key set of hangKeys:
//
//   - a server that can hang reaches the model's absorbing state (every worker held by a page,
//     for good) when fed 200 rps (2.5 times what 16 workers × 200 ms serve), within a minute;
//   - on the quick profile (a ramp past capacity) with 12 minutes of probes, one every 5 s,
//     after the load, a server that can hang hangs and does not recover, and one that cannot
//     recovers. (Quick's own probes, 8 s of them 2 a second, are too few or too many for some
//     that cannot: self with socket_timeout alone finishes a page per lease and timeout, ~2 a
//     second, so it drains its ~700 queued requests in minutes (measured: 435 s), and probes sent at 2 a second
//     keep it just as busy.)
func TestModelAgreesWithCanHang(t *testing.T) {
	quick, err := loadprofiles.Load("quick")
	if err != nil {
		t.Fatal(err)
	}
	prof := *quick
	prof.Recovery.Duration, prof.Recovery.Interval = 12*time.Minute, 5*time.Second
	client := loadprofiles.Client{Timeout: time.Second, Keepalive: true}
	for _, v := range variants() {
		for _, k := range hangKeys() {
			t.Run(fmt.Sprintf("%s/%s", v, k.name), func(t *testing.T) {
				cfg := v.config(t, &prof)
				k.change(&cfg)
				cfg.Normalize()
				canHang := cfg.CanHang()
				why := topology.WhyNoHang(cfg.Hang())

				if canHang {
					s := steadyFactory(t, cfg, client)(200, 7).(*steady)
					for s.Now() < 60 && !s.Absorbed() && s.Step() {
					}
					if !s.Absorbed() {
						t.Errorf("CanHang says it can hang, but a minute at 200 rps never reached the absorbing state")
					}
				}

				out, err := Run(context.Background(), Options{Topology: v.topology, Profile: &prof, ProfileName: prof.Name,
					Server: cfg, RecordDir: filepath.Join(t.TempDir(), "run")})
				if err != nil {
					t.Fatal(err)
				}
				sum := out.Summary
				rec := "-"
				if sum.RecoveryS != nil {
					rec = fmt.Sprintf("%.0f s", *sum.RecoveryS)
				}
				t.Logf("CanHang %v (%s); quick: %s, recovery %s", canHang, why, sum.VerdictLine(), rec)
				if hung := sum.Hang && !sum.Recovered; hung != canHang {
					t.Errorf("CanHang %v (%s), but on the quick profile: %s", canHang, why, sum.VerdictLine())
				}
			})
		}
	}
}
