package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/runtimes"
	"github.com/simdev/sim/internal/testtier"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/runner"
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

// TestReproduceOnRuntime: `sim reproduce --quick --runtime gunicorn` runs the preset's scale on
// gunicorn's mechanics and compares with the real gunicorn: its CLOSE_WAIT pile is in the
// listen backlog (the write-up's Tomcat held its pile), and all five symptoms show.
func TestReproduceOnRuntime(t *testing.T) {
	testtier.Long(t) // two real-socket runs of ~25 s
	out := t.TempDir()
	code, stdout, stderr := simRunFor(t, "", nil, 5*time.Minute, "reproduce", "--quick", "--runtime", "gunicorn", "--static", "embedded", "--json", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Signature []results.SignatureLine `json:"signature"`
		Dir       string                  `json:"dir"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if len(got.Signature) != 5 {
		t.Fatalf("signature %+v", got.Signature)
	}
	for _, l := range got.Signature {
		if !l.Shown {
			t.Errorf("not shown: %s: %s (real: %s)", l.Symptom, l.Measured, l.Incident)
		}
	}
	if !strings.Contains(got.Signature[1].Symptom, "listen backlog") || !strings.Contains(got.Signature[1].Incident, "real gunicorn") {
		t.Errorf("pile line %+v", got.Signature[1])
	}
	rec, err := results.Read(filepath.Join(got.Dir, "self"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Summary.Runtime != "gunicorn" {
		t.Errorf("self ran on %q", rec.Summary.Runtime)
	}
}

// TestOnRuntimeKeepsThePresetsScale: the preset on another runtime keeps its pool, work time,
// fd limit and static server and drops Tomcat's own settings, which the runtime's replace.
func TestOnRuntimeKeepsThePresetsScale(t *testing.T) {
	p, err := loadprofiles.Load("incident-quick")
	if err != nil {
		t.Fatal(err)
	}
	q := onRuntime(p, "gunicorn")
	for _, k := range []string{"max_threads", "work_time", "nofile", "static.server", "runtime"} {
		if _, ok := q.Server.Get(k); !ok {
			t.Errorf("%s dropped", k)
		}
	}
	for _, k := range []string{"accept_count", "max_connections", "max_per_route", "max_total"} {
		if _, ok := q.Server.Get(k); ok {
			t.Errorf("%s kept: it is Tomcat's", k)
		}
	}
	if _, ok := p.Server.Get("runtime"); ok {
		t.Error("the preset itself was changed")
	}
	for _, tp := range []string{"self", "split"} {
		if _, err := runner.ServerConfig(tp, q); err != nil {
			t.Errorf("%s: %v", tp, err)
		}
	}
}
