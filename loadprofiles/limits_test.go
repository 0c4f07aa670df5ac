package loadprofiles

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// Every built-in profile fits the default limits: Load must keep loading them.
func TestBuiltinsWithinDefaultLimits(t *testing.T) {
	for _, name := range Builtin() {
		if _, err := Load(name); err != nil {
			t.Errorf("built-in %s: %v", name, err)
		}
	}
}

func TestLimitsCheck(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		field string // "" = accepted
		want  string
	}{
		{"at the rate limit", "stages: [{duration: 10s, target: 5000}]", "", ""},
		{"target over the rate limit", "stages: [{duration: 10s, target: 5001}]", "stages[0].target", "<= 5000"},
		{"from over the rate limit", "stages: [{duration: 10s, from: 9000, target: 10}]", "stages[0].from", "<= 5000"},
		{"hold over the rate limit", "stages: [{duration: 1s, target: 5}, {duration: 1s, target: 7000, mode: hold}]", "stages[1].target", "<= 5000"},
		{"at the duration limit", "stages: [{duration: 30m, target: 1}, {duration: 30m, target: 1}]", "", ""},
		{"load over the duration limit", "stages: [{duration: 40m, target: 1}, {duration: 40m, target: 1}]", "stages", "1h20m0s in all"},
		{"recovery over the duration limit", "stages: [{duration: 10s, target: 1}]\nrecovery: {duration: 90m}", "recovery.duration", "1h30m0s"},
		{"client timeout over the cap", "stages: [{duration: 10s, target: 1}]\nclient: {timeout: 6m}", "client.timeout", "<= 5m0s"},
		{"probe timeout over the cap", "stages: [{duration: 10s, target: 1}]\nrecovery: {timeout: 6m}", "recovery.timeout", "<= 5m0s"},
		{"no load at all", "stages: [{duration: 10s, target: 0, mode: hold}]", "stages", "0 requests in all"},
		{"less than one request", "stages: [{duration: 1s, target: 0.5}]", "stages", "0.25 requests in all"},
		{"a single request", "stages: [{duration: 2s, target: 1}]", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *invalid.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want an *invalid.Error", err, err)
			}
			if ie.Field != tt.field || ie.Source != path {
				t.Errorf("field %q source %q, want %q %q (%v)", ie.Field, ie.Source, tt.field, path, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message %q lacks %q", err, tt.want)
			}
		})
	}
}

// A caller lifts the limits up to the hard ceilings, and the message names how.
func TestLoadWithLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte("stages: [{duration: 90m, target: 8000}]"), 0o644); err != nil {
		t.Fatal(err)
	}
	lifted := Limits{MaxRate: 8000, MaxDuration: 2 * time.Hour, RateSetting: "--max-rate", DurationSetting: "--max-duration"}
	if _, err := LoadWithLimits(path, lifted); err != nil {
		t.Fatalf("lifted limits refused: %v", err)
	}
	rate := lifted
	rate.MaxRate = 7999
	_, err := LoadWithLimits(path, rate)
	if err == nil || !strings.Contains(err.Error(), "--max-rate raises it up to 20000") {
		t.Errorf("over a lifted rate limit: %v", err)
	}
	dur := lifted
	dur.MaxDuration = time.Hour
	_, err = LoadWithLimits(path, dur)
	if err == nil || !strings.Contains(err.Error(), "--max-duration raises it up to 24h") {
		t.Errorf("over a lifted duration limit: %v", err)
	}
	// At the ceiling there is nothing left to raise.
	ceil := Limits{MaxRate: MaxTarget, MaxDuration: time.Hour, RateSetting: "--max-rate"}
	if err := ceil.Check(&Profile{Stages: []Stage{{Duration: time.Second, Target: MaxTarget + 1}}}); err == nil || strings.Contains(err.Error(), "raises") {
		t.Errorf("at the ceiling: %v", err)
	}
	if _, err := Load(path); err == nil {
		t.Error("Load accepted 8000 rps for 90 minutes with the default limits")
	}
}

func TestLimitsValidate(t *testing.T) {
	named := Limits{RateSetting: "--max-rate", DurationSetting: "--max-duration"}
	tests := []struct {
		name     string
		rate     float64
		duration time.Duration
		field    string
	}{
		{"defaults", DefaultMaxRate, DefaultMaxDuration, ""},
		{"ceilings", MaxTarget, MaxDuration, ""},
		{"zero rate", 0, time.Hour, "--max-rate"},
		{"negative rate", -1, time.Hour, "--max-rate"},
		{"NaN rate", math.NaN(), time.Hour, "--max-rate"},
		{"rate over the ceiling", MaxTarget + 1, time.Hour, "--max-rate"},
		{"zero duration", 100, 0, "--max-duration"},
		{"duration over the ceiling", 100, MaxDuration + time.Second, "--max-duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := named
			l.MaxRate, l.MaxDuration = tt.rate, tt.duration
			err := l.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ie *invalid.Error
			if !errors.As(err, &ie) || ie.Field != tt.field {
				t.Fatalf("error %v, want an *invalid.Error on %s", err, tt.field)
			}
			if _, err := LoadWithLimits("quick", l); err == nil {
				t.Error("LoadWithLimits accepted invalid limits")
			}
		})
	}
}

// Parse enforces only the hard ceilings: the limits are the caller's.
func TestParseIgnoresLimits(t *testing.T) {
	if _, err := Parse("p.yaml", []byte("stages: [{duration: 20h, target: 20000}]")); err != nil {
		t.Fatal(err)
	}
}
