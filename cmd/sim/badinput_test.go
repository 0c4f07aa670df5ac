package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Bad input across the commands: exit 2, a message naming the field and the value, at once,
// and no record folder. Values that would exhaust the machine are bad input too.
func TestBadInputExits2(t *testing.T) {
	dir := t.TempDir()
	prof := func(name, yaml string) string { return writeFile(t, dir, name+".yaml", yaml) }
	const stage = "stages: [{duration: 10s, target: 40}]\n"
	serverYAML := func(name, yaml string) string { return writeFile(t, dir, "serve-"+name+".yaml", yaml) }

	// A record whose summary is from a newer sim, and one not written by sim.
	newer := filepath.Join(dir, "newer")
	os.Mkdir(newer, 0o755)
	writeFile(t, newer, "summary.json", `{"schema_version": 99, "topology": "self"}`)
	foreign := filepath.Join(dir, "foreign")
	os.Mkdir(foreign, 0o755)
	writeFile(t, foreign, "summary.json", `{"topology": "self"}`)
	notDir := writeFile(t, dir, "not-a-folder", "")
	recA, recB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeRecord(t, recA, "self")
	writeRecord(t, recB, "split")

	tests := []struct {
		name  string
		args  []string // OUT in args is replaced by the test's out folder
		field string
		value string
	}{
		// sim serve: flags, environment is covered by TestServeBadConfigExits2.
		{"serve max_threads 1e7", []string{"serve", "--max-threads", "10000000"}, "max_threads", "10000000"},
		{"serve negative max_threads", []string{"serve", "--max-threads", "-4"}, "max_threads", "-4"},
		{"serve nofile 1e9", []string{"serve", "--nofile", "1000000000"}, "nofile", "1000000000"},
		{"serve negative work time", []string{"serve", "--work-time", "-1s"}, "work_time", "-1s"},
		{"serve work time 1000h", []string{"serve", "--work-time", "1000h"}, "work_time", "1000h0m0s"},
		{"serve accept_count 0", []string{"serve", "--accept-count", "0"}, "accept_count", "0"},
		{"serve unknown topology", []string{"serve", "--topology", "ring"}, "topology", "ring"},
		{"serve wrong type", []string{"serve", "--max-threads", "many"}, "--max-threads", "many"},
		{"serve malformed config", []string{"serve", "--config", serverYAML("malformed", "max_threads: [4\n")}, "--config", "serve-malformed.yaml"},
		{"serve unknown nested key", []string{"serve", "--config", serverYAML("nested", "static:\n  kind: nginx\n")}, "static.kind", "unknown key"},
		{"serve config wrong type", []string{"serve", "--config", serverYAML("type", "max_threads: lots\n")}, "max_threads", "lots"},

		// sim run: profiles written by the test.
		{"run negative rate", []string{"run", "--profile", prof("neg", "stages: [{duration: 10s, target: -5}]")}, "stages[0].target", "-5"},
		{"run zero duration", []string{"run", "--profile", prof("zerodur", "stages: [{duration: 0s, target: 40}]")}, "stages[0].duration", "0s"},
		{"run negative duration", []string{"run", "--profile", prof("negdur", "stages: [{duration: 10s, target: 5}, {duration: -5s, target: 40}]")}, "stages[1].duration", "-5s"},
		{"run stages sum to zero load", []string{"run", "--profile", prof("noload", "stages: [{duration: 10s, target: 0, mode: hold}, {duration: 5s, target: 0}]")}, "stages", "0 requests in all"},
		{"run target 1e9", []string{"run", "--profile", prof("flood", "stages: [{duration: 10s, target: 1e9}]")}, "stages[0].target", "1e+09"},
		{"run target over the default limit", []string{"run", "--profile", prof("over", "stages: [{duration: 10s, target: 6000}]")}, "stages[0].target", "6000"},
		{"run duration 1000h", []string{"run", "--profile", prof("long", "stages: [{duration: 1000h, target: 1}]")}, "stages", "1000h0m0s"},
		{"run duration over the default limit", []string{"run", "--profile", prof("hours", "stages: [{duration: 2h, target: 1}]")}, "stages", "2h0m0s in all"},
		{"run recovery 1000h", []string{"run", "--profile", prof("recovery", stage+"recovery: {duration: 1000h}\n")}, "recovery.duration", "1000h0m0s"},
		{"run client timeout 1000h", []string{"run", "--profile", prof("timeout", stage+"client: {timeout: 1000h}\n")}, "client.timeout", "1000h0m0s"},
		{"run max_threads 1e7", []string{"run", "--profile", prof("threads", stage+"server: {max_threads: 10000000}\n")}, "max_threads", "10000000"},
		{"run nofile 1e9", []string{"run", "--profile", prof("nofile", stage+"server: {nofile: 1000000000}\n")}, "nofile", "1000000000"},
		{"run wrong type", []string{"run", "--profile", prof("type", "stages: [{duration: 10s, target: fast}]")}, "stages[0].target", "fast"},
		{"run bool of the wrong type", []string{"run", "--profile", prof("bool", stage+"client: {keepalive: yes}\n")}, "client.keepalive", "yes"},
		{"run unknown top-level key", []string{"run", "--profile", prof("topkey", stage+"sampel_interval: 1s\n")}, "sampel_interval", "sample_interval"},
		{"run unknown nested key", []string{"run", "--profile", prof("nestkey", stage+"server: {static: {kind: nginx}}\n")}, "server.static.kind", "kind"},
		{"run unknown arrivals", []string{"run", "--profile", prof("arrivals", stage+"arrivals: bursty\n")}, "arrivals", "bursty"},
		{"run malformed YAML", []string{"run", "--profile", prof("malformed", "stages:\n  - duration: 10s\n   target: 40\n")}, "yaml", "did not find expected"},
		{"run empty file", []string{"run", "--profile", prof("empty", "")}, "profile", "<empty>"},
		{"run profile is a folder", []string{"run", "--profile", dir + "/"}, "profile", dir},
		{"run unknown topology", []string{"run", "--topology", "ring"}, "--topology", "ring"},
		{"run --max-rate 0", []string{"run", "--max-rate", "0"}, "--max-rate", "0"},
		{"run --max-rate over the ceiling", []string{"run", "--max-rate", "1e9"}, "--max-rate", "1e+09"},
		{"run --max-rate NaN", []string{"run", "--max-rate", "NaN"}, "--max-rate", "NaN"},
		{"run --max-duration 1000h", []string{"run", "--max-duration", "1000h"}, "--max-duration", "1000h0m0s"},
		{"run --max-duration negative", []string{"run", "--max-duration", "-1s"}, "--max-duration", "-1s"},
		{"run --max-rate wrong type", []string{"run", "--max-rate", "fast"}, "--max-rate", "fast"},
		{"run unknown flag", []string{"run", "--profil", "quick"}, "unknown flag", "--profil"},
		{"run external remote", []string{"run", "--target", "http://10.0.0.1/page"}, "--target", "10.0.0.1"},
		{"run external bad watch port", []string{"run", "--target", "http://127.0.0.1:1/page", "--watch-port", "70000"}, "--watch-port", "70000"},

		// sim compare
		{"compare unknown topology", []string{"compare", "--topologies", "self,ring"}, "--topologies", "ring"},
		{"compare topology twice", []string{"compare", "--topologies", "self,self"}, "--topologies", "self,self"},
		{"compare negative rate", []string{"compare", "--profile", prof("cneg", "stages: [{duration: 10s, target: -1}]")}, "stages[0].target", "-1"},
		{"compare target 1e9", []string{"compare", "--profile", prof("cflood", "stages: [{duration: 10s, target: 1e9}]")}, "stages[0].target", "1e+09"},

		// sim plan
		{"plan zero pool", []string{"plan", "--max-threads", "0"}, "--max-threads", "0"},
		{"plan pool 1e7", []string{"plan", "--max-threads", "10000000"}, "--max-threads", "10000000"},
		{"plan step 1000h", []string{"plan", "--step-duration", "1000h"}, "--step-duration", "1000h0m0s"},
		{"plan zero steps", []string{"plan", "--steps", "0"}, "--steps", "0"},
		{"plan error rate over 100%", []string{"plan", "--slo-errors", "150%"}, "--slo-errors", "150%"},
		{"plan negative work time", []string{"plan", "--work-time", "-1s"}, "--work-time", "-1s"},
		{"plan unknown arrivals", []string{"plan", "--arrivals", "bursty"}, "--arrivals", "bursty"},

		// sim report
		{"report missing folder", []string{"report", filepath.Join(dir, "nope")}, "report", "nope"},
		{"report a file", []string{"report", notDir}, "report", "not-a-folder"},
		{"report newer schema", []string{"report", "--out", "OUT", newer}, "schema_version", "99"},
		{"report no schema", []string{"report", "--out", "OUT", foreign}, "schema_version", "foreign"},
		{"report several without --out", []string{"report", recA, recB}, "--out", `""`},

		// sim reproduce
		{"reproduce unknown static server", []string{"reproduce", "--static", "apache"}, "--static", "apache"},
		{"reproduce extra argument", []string{"reproduce", "now"}, "unknown command", "now"},
	}
	if len(tests) < 30 {
		t.Fatalf("%d cases, want at least 30", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "runs")
			args := append([]string(nil), tt.args...)
			hasOut := false
			for i, a := range args {
				if a == "OUT" {
					args[i], hasOut = out, true
				}
			}
			switch args[0] {
			case "run", "compare", "plan", "reproduce":
				args, hasOut = append(args, "--out", out), true
			}
			start := time.Now()
			code, stdout, stderr := simRun(t, nil, args...)
			took := time.Since(start)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr)
			}
			if took > 2*time.Second {
				t.Errorf("refusal took %s: bad input must be refused before anything runs", took)
			}
			mustContain(t, "message", stderr, tt.field, tt.value)
			if args[0] == "serve" && stdout != "" {
				t.Errorf("announced listeners for a bad config: %q", stdout)
			}
			if hasOut {
				if left, err := os.ReadDir(out); err == nil && len(left) > 0 {
					t.Errorf("bad input left %v in %s", names(left), out)
				}
			}
		})
	}
}
