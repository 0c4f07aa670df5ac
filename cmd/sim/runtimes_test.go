package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/results"
)

// TestCompareRuntimesModel: `sim compare --runtimes all` runs the topology on every runtime,
// a record each under RUNTIME/TOPOLOGY whose summary and config name the runtime and whose
// server carries the runtime's defaults, skips (saying so) a topology a runtime does not run,
// and prints a row per run labelled with its runtime.
func TestCompareRuntimesModel(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := simRunFor(t, "", nil, 2*time.Minute, "compare", "--engine", "model", "--runtimes", "all", "--topologies", "self,bounded-queue", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, rt := range []string{"gunicorn", "php-fpm", "puma"} {
		if !strings.Contains(stderr, "skipped: bounded-queue on "+rt) {
			t.Errorf("stderr does not say bounded-queue on %s was skipped:\n%s", rt, stderr)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-compare"))
	if len(dirs) != 1 {
		t.Fatalf("comparison folders %v", dirs)
	}
	for _, rt := range runtimes.All() {
		rec, err := results.Read(filepath.Join(dirs[0], rt.Name, "self"))
		if err != nil {
			t.Errorf("%s: %v", rt.Name, err)
			continue
		}
		if rec.Summary.Runtime != rt.Name {
			t.Errorf("%s: summary runtime %q", rt.Name, rec.Summary.Runtime)
		}
		var cfg struct {
			Server map[string]any `json:"server"`
		}
		data, err := os.ReadFile(filepath.Join(rec.Dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Server["runtime"] != rt.Name {
			t.Errorf("%s: config.json server.runtime %v", rt.Name, cfg.Server["runtime"])
		}
		// The profile (quick) sets max_threads; the runtime sets what the profile leaves.
		if want, ok := rt.Defaults["connector"]; ok && cfg.Server["connector"] != want {
			t.Errorf("%s: connector %v, want the runtime's %s", rt.Name, cfg.Server["connector"], want)
		}
		if mt, _ := cfg.Server["max_threads"].(float64); mt != 16 {
			t.Errorf("%s: max_threads %v, want the profile's 16", rt.Name, cfg.Server["max_threads"])
		}
		if !strings.Contains(stdout, "self (incident) on "+rt.Label) {
			t.Errorf("no row for self on %s in\n%s", rt.Label, stdout)
		}
	}
	if _, err := results.Read(filepath.Join(dirs[0], "jetty", "bounded-queue")); err != nil {
		t.Errorf("bounded-queue on jetty (nio) should have run: %v", err)
	}
}
