package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badInputCase is one bad input for the bad-input tables: sim with args (and env) must exit 2 at
// once, with a message naming field and value, and leave nothing behind.
type badInputCase struct {
	name string
	args []string // "OUT" is replaced by the case's out folder
	env  []string
	// field and value must both appear in the message.
	field string
	value string
	// unchanged lists folders whose entries must be the same after the command: a record a
	// refused `sim report` must not write report files into.
	unchanged []string
}

// runBadInputCases runs each case in a subtest. run, compare, plan and reproduce get --out OUT
// appended; whatever holds OUT must be empty or missing afterwards.
func runBadInputCases(t *testing.T, cases []badInputCase) {
	t.Helper()
	for _, tt := range cases {
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
			before := make([][]string, len(tt.unchanged))
			for i, dir := range tt.unchanged {
				before[i] = listDir(t, dir)
			}
			start := time.Now()
			code, stdout, stderr := simRun(t, tt.env, args...)
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
			for i, dir := range tt.unchanged {
				if after := listDir(t, dir); !reflect.DeepEqual(after, before[i]) {
					t.Errorf("%s changed: %v, was %v", dir, after, before[i])
				}
			}
		})
	}
}

// listDir lists the entries of dir, recursively, as paths relative to it.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// mkfifo makes a named pipe at path: opening it for reading blocks until a writer comes.
func mkfifo(t *testing.T, path string) string {
	t.Helper()
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

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
	// record returns a fresh copy of a good record with file name replaced by data.
	record := func(name, file, data string) string {
		rec := filepath.Join(dir, "rec-"+name)
		writeRecord(t, rec, "self")
		writeFile(t, rec, file, data)
		return rec
	}

	// Inputs that are not regular files, or not readable (issue 10, items 1 and 7).
	fifo := mkfifo(t, filepath.Join(dir, "fifo.yaml"))
	fifoRecord := filepath.Join(dir, "rec-fifo")
	writeRecord(t, fifoRecord, "self")
	mkfifo(t, filepath.Join(fifoRecord, "summary.json"))
	fifoTimeline := filepath.Join(dir, "rec-fifo-timeline")
	writeRecord(t, fifoTimeline, "self")
	mkfifo(t, filepath.Join(fifoTimeline, "timeline.csv"))
	fifoPlan := filepath.Join(dir, "plan-fifo")
	os.Mkdir(fifoPlan, 0o755)
	mkfifo(t, filepath.Join(fifoPlan, "plan.json"))
	loop := filepath.Join(dir, "loop.yaml")
	os.Symlink(loop, loop)
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, nil, 0o644); err != nil || os.Truncate(big, 2<<20) != nil {
		t.Fatal("sparse file", err)
	}
	// 25,000 keys took 11.5 s to refuse: the YAML decoder compared every pair (issue 10, item 2).
	var keys strings.Builder
	keys.WriteString(stage + "server:\n")
	for i := range 25_000 {
		fmt.Fprintf(&keys, "  k%d: 1\n", i)
	}
	manyKeys := prof("many-keys", keys.String())
	corruptPlan := filepath.Join(dir, "plan-corrupt")
	os.Mkdir(corruptPlan, 0o755)
	writeFile(t, corruptPlan, "plan.json", `{"schema_version": 2,`)

	tests := []badInputCase{
		// sim serve: flags, environment is covered by TestServeBadConfigExits2.
		{name: "serve max_threads 1e7", args: []string{"serve", "--max-threads", "10000000"}, field: "max_threads", value: "10000000"},
		{name: "serve negative max_threads", args: []string{"serve", "--max-threads", "-4"}, field: "max_threads", value: "-4"},
		{name: "serve nofile 1e9", args: []string{"serve", "--nofile", "1000000000"}, field: "nofile", value: "1000000000"},
		{name: "serve negative work time", args: []string{"serve", "--work-time", "-1s"}, field: "work_time", value: "-1s"},
		{name: "serve work time 1000h", args: []string{"serve", "--work-time", "1000h"}, field: "work_time", value: "1000h0m0s"},
		{name: "serve accept_count 0", args: []string{"serve", "--accept-count", "0"}, field: "accept_count", value: "0"},
		{name: "serve unknown topology", args: []string{"serve", "--topology", "ring"}, field: "topology", value: "ring"},
		{name: "serve wrong type", args: []string{"serve", "--max-threads", "many"}, field: "--max-threads", value: "many"},
		{name: "serve malformed config", args: []string{"serve", "--config", serverYAML("malformed", "max_threads: [4\n")}, field: "--config", value: "serve-malformed.yaml"},
		{name: "serve unknown nested key", args: []string{"serve", "--config", serverYAML("nested", "static:\n  kind: nginx\n")}, field: "static.kind", value: "unknown key"},
		{name: "serve config wrong type", args: []string{"serve", "--config", serverYAML("type", "max_threads: lots\n")}, field: "max_threads", value: "lots"},

		// sim run: profiles written by the test.
		{name: "run negative rate", args: []string{"run", "--profile", prof("neg", "stages: [{duration: 10s, target: -5}]")}, field: "stages[0].target", value: "-5"},
		{name: "run zero duration", args: []string{"run", "--profile", prof("zerodur", "stages: [{duration: 0s, target: 40}]")}, field: "stages[0].duration", value: "0s"},
		{name: "run negative duration", args: []string{"run", "--profile", prof("negdur", "stages: [{duration: 10s, target: 5}, {duration: -5s, target: 40}]")}, field: "stages[1].duration", value: "-5s"},
		{name: "run stages sum to zero load", args: []string{"run", "--profile", prof("noload", "stages: [{duration: 10s, target: 0, mode: hold}, {duration: 5s, target: 0}]")}, field: "stages", value: "0 requests in all"},
		{name: "run target 1e9", args: []string{"run", "--profile", prof("flood", "stages: [{duration: 10s, target: 1e9}]")}, field: "stages[0].target", value: "1e+09"},
		{name: "run target over the default limit", args: []string{"run", "--profile", prof("over", "stages: [{duration: 10s, target: 6000}]")}, field: "stages[0].target", value: "6000"},
		{name: "run duration 1000h", args: []string{"run", "--profile", prof("long", "stages: [{duration: 1000h, target: 1}]")}, field: "stages", value: "1000h0m0s"},
		{name: "run duration over the default limit", args: []string{"run", "--profile", prof("hours", "stages: [{duration: 2h, target: 1}]")}, field: "stages", value: "2h0m0s in all"},
		{name: "run recovery 1000h", args: []string{"run", "--profile", prof("recovery", stage+"recovery: {duration: 1000h}\n")}, field: "recovery.duration", value: "1000h0m0s"},
		{name: "run client timeout 1000h", args: []string{"run", "--profile", prof("timeout", stage+"client: {timeout: 1000h}\n")}, field: "client.timeout", value: "1000h0m0s"},
		{name: "run max_threads 1e7", args: []string{"run", "--profile", prof("threads", stage+"server: {max_threads: 10000000}\n")}, field: "max_threads", value: "10000000"},
		{name: "run nofile 1e9", args: []string{"run", "--profile", prof("nofile", stage+"server: {nofile: 1000000000}\n")}, field: "nofile", value: "1000000000"},
		{name: "run wrong type", args: []string{"run", "--profile", prof("type", "stages: [{duration: 10s, target: fast}]")}, field: "stages[0].target", value: "fast"},
		{name: "run bool of the wrong type", args: []string{"run", "--profile", prof("bool", stage+"client: {keepalive: yes}\n")}, field: "client.keepalive", value: "yes"},
		{name: "run unknown top-level key", args: []string{"run", "--profile", prof("topkey", stage+"sampel_interval: 1s\n")}, field: "sampel_interval", value: "sample_interval"},
		{name: "run unknown nested key", args: []string{"run", "--profile", prof("nestkey", stage+"server: {static: {kind: nginx}}\n")}, field: "server.static.kind", value: "kind"},
		{name: "run unknown arrivals", args: []string{"run", "--profile", prof("arrivals", stage+"arrivals: bursty\n")}, field: "arrivals", value: "bursty"},
		{name: "run malformed YAML", args: []string{"run", "--profile", prof("malformed", "stages:\n  - duration: 10s\n   target: 40\n")}, field: "yaml", value: "did not find expected"},
		{name: "run empty file", args: []string{"run", "--profile", prof("empty", "")}, field: "profile", value: "<empty>"},
		{name: "run profile is a folder", args: []string{"run", "--profile", dir + "/"}, field: "profile", value: dir},
		{name: "run unknown topology", args: []string{"run", "--topology", "ring"}, field: "--topology", value: "ring"},
		{name: "run --max-rate 0", args: []string{"run", "--max-rate", "0"}, field: "--max-rate", value: "0"},
		{name: "run --max-rate over the ceiling", args: []string{"run", "--max-rate", "1e9"}, field: "--max-rate", value: "1e+09"},
		{name: "run --max-rate NaN", args: []string{"run", "--max-rate", "NaN"}, field: "--max-rate", value: "NaN"},
		{name: "run --max-duration 1000h", args: []string{"run", "--max-duration", "1000h"}, field: "--max-duration", value: "1000h0m0s"},
		{name: "run --max-duration negative", args: []string{"run", "--max-duration", "-1s"}, field: "--max-duration", value: "-1s"},
		{name: "run --max-rate wrong type", args: []string{"run", "--max-rate", "fast"}, field: "--max-rate", value: "fast"},
		{name: "run unknown flag", args: []string{"run", "--profil", "quick"}, field: "unknown flag", value: "--profil"},
		{name: "run external remote", args: []string{"run", "--target", "http://10.0.0.1/page"}, field: "--target", value: "10.0.0.1"},
		{name: "run external bad watch port", args: []string{"run", "--target", "http://127.0.0.1:1/page", "--watch-port", "70000"}, field: "--watch-port", value: "70000"},

		// sim compare
		{name: "compare unknown topology", args: []string{"compare", "--topologies", "self,ring"}, field: "--topologies", value: "ring"},
		{name: "compare topology twice", args: []string{"compare", "--topologies", "self,self"}, field: "--topologies", value: "self,self"},
		{name: "compare all inside a list", args: []string{"compare", "--topologies", "self,all"}, field: "--topologies", value: "self,all"},
		{name: "compare empty topologies", args: []string{"compare", "--topologies", ""}, field: "--topologies", value: `""`},
		{name: "compare topologies trailing comma", args: []string{"compare", "--topologies", "self,"}, field: "--topologies", value: "self,"},
		{name: "compare topology in capitals", args: []string{"compare", "--topologies", "ALL"}, field: "--topologies", value: "ALL"},
		{name: "compare repeated flag repeats a topology", args: []string{"compare", "--topologies", "all", "--topologies", "inproc"}, field: "--topologies", value: "all,inproc"},
		{name: "plan unknown topology", args: []string{"plan", "--topology", "self_timeout"}, field: "--topology", value: "self_timeout"},
		{name: "compare negative rate", args: []string{"compare", "--profile", prof("cneg", "stages: [{duration: 10s, target: -1}]")}, field: "stages[0].target", value: "-1"},
		{name: "compare target 1e9", args: []string{"compare", "--profile", prof("cflood", "stages: [{duration: 10s, target: 1e9}]")}, field: "stages[0].target", value: "1e+09"},

		// sim plan
		{name: "plan zero pool", args: []string{"plan", "--max-threads", "0"}, field: "--max-threads", value: "0"},
		{name: "plan pool 1e7", args: []string{"plan", "--max-threads", "10000000"}, field: "--max-threads", value: "10000000"},
		{name: "plan step 1000h", args: []string{"plan", "--step-duration", "1000h"}, field: "--step-duration", value: "1000h0m0s"},
		{name: "plan zero steps", args: []string{"plan", "--steps", "0"}, field: "--steps", value: "0"},
		{name: "plan error rate over 100%", args: []string{"plan", "--slo-errors", "150%"}, field: "--slo-errors", value: "150%"},
		{name: "plan negative work time", args: []string{"plan", "--work-time", "-1s"}, field: "--work-time", value: "-1s"},
		{name: "plan unknown arrivals", args: []string{"plan", "--arrivals", "bursty"}, field: "--arrivals", value: "bursty"},

		// sim report
		{name: "report missing folder", args: []string{"report", filepath.Join(dir, "nope")}, field: "report", value: "nope"},
		{name: "report a file", args: []string{"report", notDir}, field: "report", value: "not-a-folder"},
		{name: "report newer schema", args: []string{"report", "--out", "OUT", newer}, field: "schema_version", value: "99"},
		{name: "report no schema", args: []string{"report", "--out", "OUT", foreign}, field: "schema_version", value: "foreign"},
		{name: "report several without --out", args: []string{"report", recA, recB}, field: "--out", value: `""`},

		// Issue 10, item 1: inputs that are not regular files, or too big, refused at once.
		{name: "run profile is a FIFO", args: []string{"run", "--profile", fifo}, field: "profile", value: fifo},
		{name: "run profile is /dev/zero", args: []string{"run", "--profile", "/dev/zero"}, field: "profile", value: "character device"},
		{name: "run profile over the size cap", args: []string{"run", "--profile", big}, field: "profile", value: "2097152 bytes"},
		{name: "compare profile is a FIFO", args: []string{"compare", "--profile", fifo}, field: "profile", value: fifo},
		{name: "serve config is a FIFO", args: []string{"serve", "--config", fifo}, field: "--config", value: fifo},
		{name: "serve config is /dev/zero", args: []string{"serve", "--config", "/dev/zero"}, field: "--config", value: "/dev/zero"},
		{name: "serve config over the size cap", args: []string{"serve", "--config", big}, field: "--config", value: "2097152 bytes"},
		{name: "report summary.json is a FIFO", args: []string{"report", fifoRecord}, field: "summary.json", value: "named pipe", unchanged: []string{fifoRecord}},
		{name: "report timeline.csv is a FIFO", args: []string{"report", fifoTimeline}, field: "timeline.csv", value: "named pipe", unchanged: []string{fifoTimeline}},
		{name: "report plan.json is a FIFO", args: []string{"report", fifoPlan}, field: "plan.json", value: "named pipe", unchanged: []string{fifoPlan}},
		// Item 2: refused in well under a second, not 11.5 s.
		{name: "run profile with 25,000 keys", args: []string{"run", "--profile", manyKeys}, field: "server.k0", value: "max_threads"},
		// Item 3: keys that differ only in case.
		{name: "run keys differing in case", args: []string{"run", "--profile", prof("case", "stages: [{duration: 2s, target: 5, Target: 4999}]")},
			field: "stages[0].target", value: `"target" (line 1) and "Target" (line 1)`},
		{name: "serve config keys differing in case", args: []string{"serve", "--config", serverYAML("case", "max_threads: 4\nMAX_THREADS: 20000\n")},
			field: "max_threads", value: `"max_threads" (line 1) and "MAX_THREADS" (line 2)`},
		{name: "serve config nested keys differing in case", args: []string{"serve", "--config", serverYAML("case-nested", "static:\n  server: nginx\n  Server: embedded\n")},
			field: "static.server", value: `"Server" (line 3)`},
		// Item 5: NaN and infinities.
		{name: "run errors threshold nan%", args: []string{"run", "--profile", prof("nan-errors", stage+"thresholds: {errors: \"nan%\"}\n")}, field: "thresholds.errors", value: "NaN%"},
		{name: "run target .nan", args: []string{"run", "--profile", prof("nan-target", "stages: [{duration: 10s, target: .nan}]")}, field: "stages[0].target", value: "NaN"},
		{name: "run target .inf", args: []string{"run", "--profile", prof("inf-target", "stages: [{duration: 10s, target: .inf}]")}, field: "stages[0].target", value: "+Inf"},
		{name: "plan --slo-errors NaN", args: []string{"plan", "--slo-errors", "NaN"}, field: "--slo-errors", value: "NaN"},
		{name: "run --max-rate +Inf", args: []string{"run", "--max-rate", "+Inf"}, field: "--max-rate", value: "+Inf"},
		// Item 6: floors and caps.
		{name: "run recovery interval 1ns", args: []string{"run", "--profile", prof("probe-1ns", stage+"recovery: {interval: 1ns}\n")}, field: "recovery.interval", value: "1ns"},
		{name: "run too many probes", args: []string{"run", "--profile", prof("probes", stage+"recovery: {duration: 1h, interval: 10ms}\n")}, field: "recovery.interval", value: "360001 probes"},
		{name: "run drain_max negative", args: []string{"run", "--profile", prof("drain-neg", stage+"recovery: {drain_max: -1s}\n")}, field: "recovery.drain_max", value: "-1s"},
		{name: "run drain_max bare number", args: []string{"run", "--profile", prof("drain-bare", stage+"recovery: {drain_max: 30}\n")}, field: "recovery.drain_max", value: "30"},
		{name: "run drain_max too many probes", args: []string{"run", "--profile", prof("drain-probes", stage+"recovery: {interval: 10ms, drain_max: 1h}\n")}, field: "recovery.drain_max", value: "1h0m0s"},
		{name: "run sample interval 1h", args: []string{"run", "--profile", prof("window-1h", stage+"sample_interval: 1h\n")}, field: "sample_interval", value: "1h0m0s"},
		{name: "run hang_hold 1000000h", args: []string{"run", "--profile", prof("hold", stage+"detect: {hang_hold: 1000000h}\n")}, field: "detect.hang_hold", value: "1000000h0m0s"},
		// Item 7: what the user handed us and we cannot read is bad input, 2, with the path.
		{name: "run profile symlink loop", args: []string{"run", "--profile", loop}, field: loop, value: "too many levels of symbolic links"},
		{name: "report corrupt summary.json", args: []string{"report", record("corrupt-summary", "summary.json", `{"schema_version": 1, "topology": sel`)},
			field: filepath.Join(dir, "rec-corrupt-summary", "summary.json"), value: "invalid character", unchanged: []string{filepath.Join(dir, "rec-corrupt-summary")}},
		{name: "report summary.json of the wrong type", args: []string{"report", record("type-summary", "summary.json", "{\"schema_version\": 1,\n\"p99_ms\": \"slow\"}")},
			field: "p99_ms", value: "line 2", unchanged: []string{filepath.Join(dir, "rec-type-summary")}},
		{name: "report corrupt timeline.csv", args: []string{"report", record("corrupt-timeline", "timeline.csv", "t_s,close_wait\n1,5\n2,many\n")},
			field: "close_wait", value: `"many"`, unchanged: []string{filepath.Join(dir, "rec-corrupt-timeline")}},
		{name: "report corrupt plan.json", args: []string{"report", corruptPlan}, field: "plan.json", value: "unexpected end", unchanged: []string{corruptPlan}},
		// Item 8: a timeline value JSON cannot carry, or that overflows in a report.
		{name: "report timeline value 1.9e305", args: []string{"report", record("huge", "timeline.csv", "t_s,p99_ms\n1,210\n2,1.9e305\n")},
			field: "p99_ms", value: `line 3: p99_ms: "1.9e305"`, unchanged: []string{filepath.Join(dir, "rec-huge")}},
		{name: "report timeline value NaN", args: []string{"report", record("nan", "timeline.csv", "t_s,ok_rps\n1,NaN\n")},
			field: "ok_rps", value: `"NaN"`, unchanged: []string{filepath.Join(dir, "rec-nan")}},
		{name: "report summary value 1.9e305", args: []string{"report", record("huge-summary", "summary.json", `{"schema_version": 1, "topology": "self", "p99_ms": 1.9e305}`)},
			field: "p99_ms", value: "1.9e+305", unchanged: []string{filepath.Join(dir, "rec-huge-summary")}},

		// sim reproduce
		{name: "reproduce unknown static server", args: []string{"reproduce", "--static", "apache"}, field: "--static", value: "apache"},
		{name: "reproduce extra argument", args: []string{"reproduce", "now"}, field: "unknown command", value: "now"},
	}
	if os.Geteuid() != 0 {
		// Root reads any file whatever its mode, so this case needs an unprivileged user.
		secret := writeFile(t, dir, "secret.yaml", stage)
		os.Chmod(secret, 0)
		tests = append(tests, badInputCase{name: "run profile unreadable", args: []string{"run", "--profile", secret}, field: secret, value: "permission denied"})
	}
	if len(tests) < 30 {
		t.Fatalf("%d cases, want at least 30", len(tests))
	}
	runBadInputCases(t, tests)
}
