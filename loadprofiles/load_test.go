package loadprofiles

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

const okStages = "stages: [{duration: 10s, target: 40}]\n"

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		wantField string
	}{
		{"zero stage duration", "stages: [{duration: 0s, target: 40}]", "stages[0].duration"},
		{"negative stage duration", "stages: [{duration: 10s, target: 5}, {duration: -5s, target: 40}]", "stages[1].duration"},
		{"missing stage duration", "stages: [{target: 40}]", "stages[0].duration"},
		{"negative target", "stages: [{duration: 10s, target: -1}]", "stages[0].target"},
		{"missing target", "stages: [{duration: 10s}]", "stages[0].target"},
		{"target over the cap", "stages: [{duration: 10s, target: 40}, {duration: 1s, target: 20001}]", "stages[1].target"},
		{"from over the cap", "stages: [{duration: 10s, target: 40, from: 1e6}]", "stages[0].from"},
		{"negative from", "stages: [{duration: 10s, target: 40, from: -3}]", "stages[0].from"},
		{"from in a hold", "stages: [{duration: 10s, target: 40, mode: hold, from: 3}]", "stages[0].from"},
		{"unknown mode", "stages: [{duration: 10s, target: 40, mode: sine}]", "stages[0].mode"},
		{"stages summing to zero", "stages: [{duration: 0s, target: 0, mode: hold}]", "stages[0].duration"},
		{"empty stage list", "stages: []", "stages"},
		{"no stages key", "name: x", "stages"},
		{"stages not a list", "stages: {duration: 10s, target: 40}", "stages"},
		{"total over 24h", "stages: [{duration: 13h, target: 1}, {duration: 13h, target: 1}]", "stages"},
		{"unknown key at top level", okStages + "samples_interval: 1s", "samples_interval"},
		{"unknown key in a stage", "stages: [{duration: 10s, tagret: 40}]", "stages[0].tagret"},
		{"unknown key in server", okStages + "server: {max_thread: 16}", "server.max_thread"},
		{"unknown key in server.static", okStages + "server: {static: {kind: nginx}}", "server.static.kind"},
		{"unknown key in client", okStages + "client: {keep_alive: true}", "client.keep_alive"},
		{"target not a number", "stages: [{duration: 10s, target: fast}]", "stages[0].target"},
		{"quoted target", "stages: [{duration: 10s, target: '40'}]", "stages[0].target"},
		{"bare zero timeout", okStages + "client: {timeout: 0}", "client.timeout"},
		{"duration without unit", "stages: [{duration: 10, target: 40}]", "stages[0].duration"},
		{"duration not a duration", "stages: [{duration: soon, target: 40}]", "stages[0].duration"},
		{"server duration without unit", okStages + "server: {work_time: 100}", "server.work_time"},
		{"keepalive not a bool", okStages + "client: {keepalive: yes}", "client.keepalive"},
		{"fractional max_threads", okStages + "server: {max_threads: 16.5}", "server.max_threads"},
		{"static not a mapping", okStages + "server: {static: nginx}", "server.static"},
		{"malformed YAML", "stages:\n  - duration: 10s\n   target: 40\n", "yaml"},
		{"tab indentation", "stages:\n\t- duration: 10s\n", "yaml"},
		{"not a mapping", "- duration: 10s\n", "yaml"},
		{"empty file", "", "profile"},
		{"only comments", "# nothing here\n\n", "profile"},
		{"multi-line description", okStages + "description: |\n  one\n  two\n", "description"},
		{"zero client timeout", okStages + "client: {timeout: 0s}", "client.timeout"},
		{"negative max_workers", okStages + "client: {max_workers: -1}", "client.max_workers"},
		{"zero connections", okStages + "client: {connections: 0}", "client.connections"},
		{"zero recovery duration", okStages + "recovery: {duration: 0s}", "recovery.duration"},
		{"recovery interval over duration", okStages + "recovery: {duration: 5s, interval: 6s}", "recovery.interval"},
		{"negative recovery timeout", okStages + "recovery: {timeout: -1s}", "recovery.timeout"},
		{"sample interval too short", okStages + "sample_interval: 5ms", "sample_interval"},
		{"hang_fraction 0", okStages + "detect: {hang_fraction: 0}", "detect.hang_fraction"},
		{"hang_fraction 1.5", okStages + "detect: {hang_fraction: 1.5}", "detect.hang_fraction"},
		{"hang_fraction 1", okStages + "detect: {hang_fraction: 1}", "detect.hang_fraction"},
		{"zero hang_hold", okStages + "detect: {hang_hold: 0s}", "detect.hang_hold"},
		{"connector apr", okStages + "server: {connector: apr}", "server.connector"},
		{"max_threads 0", okStages + "server: {max_threads: 0}", "server.max_threads"},
		{"negative accept_count", okStages + "server: {accept_count: -1}", "server.accept_count"},
		{"negative work_time", okStages + "server: {work_time: -1ms}", "server.work_time"},
		{"max_total 0", okStages + "server: {max_total: 0}", "server.max_total"},
		{"negative socket_timeout", okStages + "server: {socket_timeout: -1s}", "server.socket_timeout"},
		{"nofile below the floor", okStages + "server: {nofile: 10}", "server.nofile"},
		{"static server apache", okStages + "server: {static: {server: apache}}", "server.static.server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			var ie *invalid.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %q is a %T, want *invalid.Error", err, err)
			}
			if ie.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (error: %v)", ie.Field, tt.wantField, err)
			}
			if ie.Source != "bad.yaml" {
				t.Errorf("Source = %q, want the file (error: %v)", ie.Source, err)
			}
			if ie.Allowed == "" {
				t.Errorf("Allowed is empty: the user is not told what to write (error: %v)", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "bad.yaml: "+tt.wantField+": ") {
				t.Errorf("message %q does not lead with the file and the field", msg)
			}
		})
	}
}

// The messages a user reads when fixing a profile: they name what was written and what to
// write instead.
func TestParseMessages(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"typo in a stage key", "stages: [{duration: 10s, tagret: 40}]",
			[]string{`stages[0].tagret: "tagret"`, "duration, target, mode, from", "did you mean target?"}},
		{"typo at the top level", okStages + "sampel_interval: 1s",
			[]string{"the top level", "did you mean sample_interval?"}},
		{"duration without unit", "stages: [{duration: 10, target: 40}]",
			[]string{"stages[0].duration: 10 is not allowed", "a duration such as 10s", "no unit"}},
		{"target not a number", "stages: [{duration: 10s, target: fast}]",
			[]string{`stages[0].target: "fast"`, "a number"}},
		{"cap", "stages: [{duration: 10s, target: 30000}]",
			[]string{"30000", "<= 20000"}},
		{"24h", "stages: [{duration: 25h, target: 1}]",
			[]string{"<= 24h0m0s"}},
		{"malformed", "stages:\n  - duration: 10s\n   target: 40\n",
			[]string{"bad.yaml: yaml:", "line "}},
		{"interval names the duration", okStages + "recovery: {duration: 5s, interval: 6s}",
			[]string{"recovery.interval: 6s", "<= recovery.duration (5s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseDefaultsAndOverrides(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		p, err := Parse("dir/mine.yml", []byte(okStages))
		if err != nil {
			t.Fatal(err)
		}
		want := Profile{
			Name:           "mine",
			Stages:         []Stage{{Duration: 10 * time.Second, Target: 40, Mode: ModeRamp}},
			Client:         Client{Timeout: DefaultClientTimeout, Keepalive: true, Connections: DefaultConnections},
			Recovery:       Recovery{Duration: DefaultRecoveryDuration, Interval: DefaultRecoveryInterval, Timeout: DefaultRecoveryTimeout},
			SampleInterval: DefaultSampleInterval,
			Detect:         Detect{HangFraction: DefaultHangFraction, HangHold: DefaultHangHold},
		}
		if !equalProfiles(p, &want) {
			t.Errorf("got  %+v\nwant %+v", *p, want)
		}
	})
	t.Run("every key set", func(t *testing.T) {
		yaml := `
name: full
description: "  every key  "
stages:
  - {duration: 1500ms, target: 12.5, from: 2}
  - {duration: 1m, target: 30, mode: hold}
client: {timeout: 750ms, keepalive: false, max_workers: 64, connections: 100}
recovery: {duration: 20s, interval: 1s, timeout: 300ms}
sample_interval: 100ms
detect: {hang_fraction: 0.25, hang_hold: 5s}
server:
  connector: bio
  max_threads: 16
  max_connections: 500
  accept_count: 10
  connection_timeout: 20s
  keep_alive_timeout: 0s
  honor_client_close: true
  tcp_keepalive: true
  work_time: 0
  max_per_route: 2
  max_total: 20
  connection_request_timeout: 0s
  connect_timeout: 3s
  socket_timeout: 4s
  nofile: 4096
  static: {server: nginx}
`
		p, err := Parse("x.yaml", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "full" || p.Description != "every key" {
			t.Errorf("name %q, description %q", p.Name, p.Description)
		}
		if s := p.Stages[0]; s.Duration != 1500*time.Millisecond || s.Target != 12.5 || s.From == nil || *s.From != 2 || s.Mode != ModeRamp {
			t.Errorf("stage 0 = %+v", s)
		}
		if s := p.Stages[1]; s.Duration != time.Minute || s.Mode != ModeHold || s.From != nil {
			t.Errorf("stage 1 = %+v", s)
		}
		if c := p.Client; c != (Client{Timeout: 750 * time.Millisecond, Keepalive: false, MaxWorkers: 64, Connections: 100}) {
			t.Errorf("client = %+v", c)
		}
		if r := p.Recovery; r != (Recovery{Duration: 20 * time.Second, Interval: time.Second, Timeout: 300 * time.Millisecond}) {
			t.Errorf("recovery = %+v", r)
		}
		if p.SampleInterval != 100*time.Millisecond || p.Detect != (Detect{HangFraction: 0.25, HangHold: 5 * time.Second}) {
			t.Errorf("sample %v, detect %+v", p.SampleInterval, p.Detect)
		}
		want := []string{
			"--connector=bio", "--max-threads=16", "--max-connections=500", "--accept-count=10",
			"--connection-timeout=20s", "--keep-alive-timeout=0s", "--honor-client-close=true",
			"--tcp-keepalive=true",
			"--work-time=0s", "--max-per-route=2", "--max-total=20", "--connection-request-timeout=0s",
			"--connect-timeout=3s", "--socket-timeout=4s", "--nofile=4096", "--static-server=nginx",
		}
		if got := p.Server.Flags(); !slices.Equal(got, want) {
			t.Errorf("Flags() =\n%q\nwant\n%q", got, want)
		}
	})
	t.Run("keys are case-insensitive", func(t *testing.T) {
		p, err := Parse("x", []byte("Stages: [{Duration: 1s, Target: 3}]\nServer: {Max_Threads: 4}"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Stages[0].Target != 3 || !slices.Equal(p.Server.Flags(), []string{"--max-threads=4"}) {
			t.Errorf("%+v", p)
		}
	})
}

func equalProfiles(a, b *Profile) bool {
	return a.Name == b.Name && a.Description == b.Description && slices.EqualFunc(a.Stages, b.Stages, func(x, y Stage) bool {
		return x.Duration == y.Duration && x.Target == y.Target && x.Mode == y.Mode && (x.From == nil) == (y.From == nil)
	}) && a.Client == b.Client && a.Recovery == b.Recovery && a.SampleInterval == b.SampleInterval &&
		a.Detect == b.Detect && len(a.Server.Flags()) == 0 && len(b.Server.Flags()) == 0
}

func TestBuiltin(t *testing.T) {
	if got, want := Builtin(), []string{"incident", "incident-quick", "quick", "ramp", "spike", "steps"}; !slices.Equal(got, want) {
		t.Fatalf("Builtin() = %v, want %v", got, want)
	}
	for _, name := range Builtin() {
		t.Run(name, func(t *testing.T) {
			p, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if p.Name != name {
				t.Errorf("Name = %q", p.Name)
			}
			desc, ok := BuiltinDescription(name)
			if !ok || desc == "" || desc != p.Description || strings.ContainsAny(desc, "\n") {
				t.Errorf("description %q, %v", desc, ok)
			}
			// The point of every built-in: the self topology's deadlock threshold (pool size
			// over work time) is crossed mid-run, after the load started below it.
			threads, okThreads := p.Server.Int("max_threads")
			work, okWork := p.Server.Duration("work_time")
			if !okThreads || !okWork || work <= 0 {
				t.Fatalf("server section does not size the pool: %v", p.Server.Flags())
			}
			threshold := float64(threads) / work.Seconds()
			if r := p.RateAt(0); r >= 0.7*threshold {
				t.Errorf("starts at %v rps, already near the threshold %v", r, threshold)
			}
			if p.PeakRate() <= threshold {
				t.Errorf("peak %v rps never crosses the threshold %v", p.PeakRate(), threshold)
			}
			crossed := time.Duration(-1)
			for at := time.Duration(0); at < p.Duration(); at += 100 * time.Millisecond {
				if p.RateAt(at) >= threshold {
					crossed = at
					break
				}
			}
			if crossed < p.Duration()/10 || crossed > p.Duration()*9/10 {
				t.Errorf("threshold %v rps crossed at %v of %v: not mid-run", threshold, crossed, p.Duration())
			}
			if p.Duration() > 90*time.Second {
				t.Errorf("stages last %v, over 90s", p.Duration())
			}
		})
	}
	t.Run("quick is quick", func(t *testing.T) {
		p, err := Load("quick")
		if err != nil {
			t.Fatal(err)
		}
		if total := p.Duration() + p.Recovery.Duration; total >= 45*time.Second {
			t.Errorf("quick takes %v (stages %v + recovery %v), want < 45s", total, p.Duration(), p.Recovery.Duration)
		}
	})
	if _, ok := BuiltinDescription("nope"); ok {
		t.Error("BuiltinDescription(nope) reported a profile")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "slow-ramp.yaml")
	if err := os.WriteFile(good, []byte("description: mine\n"+okStages), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("stages: [{duration: 10s, target: -4}]"), 0o644); err != nil {
		t.Fatal(err)
	}

	p, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "slow-ramp" || p.Description != "mine" {
		t.Errorf("Load(%s) = name %q, description %q", good, p.Name, p.Description)
	}

	tests := []struct {
		name        string
		arg         string
		wantField   string
		wantSource  string
		wantAllowed string
	}{
		{"unknown built-in", "quik", "profile", "", "one of incident, incident-quick, quick, ramp, spike, steps, or a path to a YAML file"},
		{"empty name", "", "profile", "", "one of incident, incident-quick, quick, ramp, spike, steps"},
		{"missing file", filepath.Join(dir, "nope.yaml"), "profile", "", "an existing YAML file"},
		{"a path, not a built-in", "./quick", "profile", "", "an existing YAML file"},
		{"directory", dir + "/", "profile", "", "a regular file; this is a folder"},
		{"bad file", bad, "stages[0].target", bad, ">= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.arg)
			var ie *invalid.Error
			if !errors.As(err, &ie) {
				t.Fatalf("Load(%q) error %v (%T), want *invalid.Error", tt.arg, err, err)
			}
			if ie.Field != tt.wantField || ie.Source != tt.wantSource || !strings.Contains(ie.Allowed, tt.wantAllowed) {
				t.Errorf("Load(%q) = %#v", tt.arg, ie)
			}
		})
	}
}
