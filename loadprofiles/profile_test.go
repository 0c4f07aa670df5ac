package loadprofiles

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

func TestProfileRateCurve(t *testing.T) {
	p := &Profile{Stages: []Stage{
		{Duration: 10 * time.Second, Target: 40},                          // ramp 0→40
		{Duration: 5 * time.Second, Target: 40, Mode: ModeHold},           // hold 40
		{Duration: 4 * time.Second, Target: 100, From: f64(20)},           // jump to 20, ramp to 100
		{Duration: 2 * time.Second, Target: 10, Mode: ModeHold},           // jump down, hold 10
		{Duration: 2 * time.Second, Target: 0},                            // ramp 10→0
		{Duration: 1 * time.Second, Target: 0, Mode: ModeHold, From: nil}, // idle
	}}
	if got, want := p.Duration(), 24*time.Second; got != want {
		t.Errorf("Duration() = %v, want %v", got, want)
	}
	if got := p.PeakRate(); got != 100 {
		t.Errorf("PeakRate() = %v, want 100", got)
	}
	tests := []struct {
		at   time.Duration
		want float64
	}{
		{-time.Second, 0},
		{0, 0},
		{5 * time.Second, 20},
		{10 * time.Second, 40},
		{12 * time.Second, 40},
		{15 * time.Second, 20}, // a stage boundary belongs to the later stage
		{17 * time.Second, 60},
		{19 * time.Second, 10},
		{22 * time.Second, 5},
		{23500 * time.Millisecond, 0},
		{24 * time.Second, 0},
		{time.Hour, 0},
	}
	for _, tt := range tests {
		if got := p.RateAt(tt.at); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("RateAt(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestPeakRateIncludesRampStart(t *testing.T) {
	p := &Profile{Stages: []Stage{{Duration: time.Second, Target: 5, From: f64(300)}}}
	if got := p.PeakRate(); got != 300 {
		t.Errorf("PeakRate() = %v, want the ramp's start 300", got)
	}
}

func TestNormalizeThenValidate(t *testing.T) {
	p := &Profile{Stages: []Stage{{Duration: time.Second, Target: 10}}}
	err := p.Validate()
	var ie *invalid.Error
	if !errors.As(err, &ie) || ie.Field != "client.timeout" {
		t.Fatalf("Validate before Normalize = %v, want client.timeout missing", err)
	}
	p.Normalize()
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate after Normalize: %v", err)
	}
	if p.Stages[0].Mode != ModeRamp || p.Client.Timeout != DefaultClientTimeout ||
		p.Client.Connections != DefaultConnections || p.Recovery.Interval != DefaultRecoveryInterval ||
		p.SampleInterval != DefaultSampleInterval || p.Detect.HangFraction != DefaultHangFraction {
		t.Errorf("Normalize left a default out: %+v", p)
	}
	// Normalize keeps what was set.
	q := &Profile{Client: Client{Timeout: time.Second, Connections: 3}, Detect: Detect{HangFraction: 0.5}}
	q.Normalize()
	if q.Client.Timeout != time.Second || q.Client.Connections != 3 || q.Detect.HangFraction != 0.5 {
		t.Errorf("Normalize overwrote settings: %+v", q)
	}
}

func TestValidateSourceIsName(t *testing.T) {
	p := &Profile{Name: "mine", Stages: []Stage{{Duration: time.Second, Target: -1}}}
	p.Normalize()
	var ie *invalid.Error
	if err := p.Validate(); !errors.As(err, &ie) || ie.Source != "mine" || ie.Field != "stages[0].target" {
		t.Errorf("Validate() = %#v", err)
	}
}

func TestServerFlags(t *testing.T) {
	type set = map[string]any
	tests := []struct {
		name string
		set  set
		want []string
	}{
		{"nothing set", nil, nil},
		{"pool and work time", set{"max_threads": 16, "work_time": 100 * time.Millisecond},
			[]string{"--max-threads=16", "--work-time=100ms"}},
		{"zero values are overrides too", set{"connect_timeout": time.Duration(0), "honor_client_close": false},
			[]string{"--honor-client-close=false", "--connect-timeout=0s"}},
		{"static server", set{"connector": "nio", "static.server": "nginx", "nofile": 4096},
			[]string{"--connector=nio", "--nofile=4096", "--static-server=nginx"}},
		{"minutes", set{"keep_alive_timeout": 90 * time.Second}, []string{"--keep-alive-timeout=1m30s"}},
		{"tcp keepalive off is an override too", set{"tcp_keepalive": false}, []string{"--tcp-keepalive=false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var server Server
			for name, v := range tt.set {
				if err := server.Set(name, v); err != nil {
					t.Fatal(err)
				}
			}
			if got := server.Flags(); !slices.Equal(got, tt.want) {
				t.Errorf("Flags() = %q, want %q", got, tt.want)
			}
		})
	}
}
