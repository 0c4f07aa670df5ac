package planner

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/app"
)

// TestCanHangAgreesWithRegistry: the planner plans a hang risk exactly for the servers that
// topology.CanHang says can hang, on every registered topology (and admission mode) with and
// without each self-call timeout, set through the profile's server section as `sim plan
// --server` sets them; and a lease timeout that frees a page only in the larger of two pools is
// refused, naming --max-threads, rather than planned as one kind of risk.
func TestCanHangAgreesWithRegistry(t *testing.T) {
	keySets := []map[string]any{
		{},
		{"socket_timeout": time.Second},
		{"connection_request_timeout": time.Second},
		{"connection_request_timeout": time.Second, "max_per_route": 20},
		{"connect_timeout": time.Second},
		{"worker_timeout": 30 * time.Second, "worker_boot": 2 * time.Second},
	}
	for _, tp := range topology.All() {
		modes := []string{""}
		if tp.Mechanics.Admission {
			modes = topology.AdmissionModes()
		}
		for _, mode := range modes {
			for _, keys := range keySets {
				var srv loadprofiles.Server
				for k, v := range keys {
					if err := srv.Set(k, v); err != nil {
						t.Fatal(err)
					}
				}
				if mode != "" {
					if err := srv.Set("admission", mode); err != nil {
						t.Fatal(err)
					}
				}
				o := Options{Topology: tp.Name, Server: srv, MaxThreads: []int{16}}
				o.Normalize()
				cfg, err := o.serverConfig(16)
				if err != nil {
					t.Fatal(err)
				}
				// The registry's answer from the same keys, on a config built as `sim serve` builds it.
				want := app.Defaults()
				want.Topology, want.MaxThreads = tp.Name, 16
				srv.Apply(&want)
				want.Normalize()
				got, err := CanHang(cfg, []int{16})
				if err != nil || got != want.CanHang() {
					t.Errorf("%s (admission %q) with %v: planner CanHang %v (%v), registry %v (%s)",
						tp.Name, mode, keys, got, err, want.CanHang(), topology.WhyNoHang(want.Hang()))
				}
			}
		}
	}

	cfg := app.Defaults()
	cfg.Topology, cfg.ConnectionRequestTimeout = topology.Self, time.Second
	cfg.Normalize()
	if _, err := CanHang(cfg, []int{2, 16}); !errors.As(err, new(*invalid.Error)) {
		t.Errorf("pools 2 and 16 with connection_request_timeout (2 leases): %v, want an invalid --max-threads", err)
	} else {
		t.Log(err)
	}
}

// TestPlanSaysWhatTheWatchdogDoes: a plan of a server with a watchdog carries
// topology.Watchdog's sentence, and its explanation says it plainly.
func TestPlanSaysWhatTheWatchdogDoes(t *testing.T) {
	var srv loadprofiles.Server
	for k, v := range map[string]any{"worker_timeout": 30 * time.Second, "worker_boot": 2 * time.Second, "connector": "bio", "selfcall_pool": false} {
		if err := srv.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Topology: topology.Self, Server: srv, MaxThreads: []int{16}}
	o.Normalize()
	cfg, err := o.serverConfig(16)
	if err != nil {
		t.Fatal(err)
	}
	msg := topology.Watchdog(cfg.Hang())
	if !strings.Contains(msg, "does not end the hang") || !strings.Contains(msg, "0.50 pages a second") {
		t.Fatalf("topology.Watchdog for the plan's server: %q", msg)
	}
	hangs := true
	text := strings.Join(explain(&results.Plan{Topology: topology.Self, CanHang: &hangs, Watchdog: msg}), "\n")
	if !strings.Contains(text, "With a watchdog: "+msg) {
		t.Errorf("explanation does not say what the watchdog does:\n%s", text)
	}
}
