package loadprofiles

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// FuzzParse: whatever the bytes, Parse does not panic; it either refuses them with an
// *invalid.Error (a user's mistake, exit 2) or returns a profile that validates and that the
// rest of sim can use.
func FuzzParse(f *testing.F) {
	for _, name := range Builtin() {
		data, err := builtinFS.ReadFile(builtinDir + "/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		okStages,
		"stages: [{duration: 10s, target: 40, from: 5}, {duration: 5s, mode: hold, target: 40}]\narrivals: poisson\nseed: 7\n",
		"stages: [{duration: 1s, target: 20000}]\nthresholds: {p99: 500ms, errors: 1%, hang: forbidden}\n",
		"stages:\n  - duration: 10s\n   target: 40\n",
		"stages: [{duration: 10, target: '40'}]\n",
		"stages: &a [*a]\n",
		"server: {static: {server: nginx}, max_threads: 16.5}\n" + okStages,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ie *invalid.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %q is a %T, want an *invalid.Error", err, err)
			}
			if ie.Field == "" || ie.Allowed == "" {
				t.Fatalf("error %q does not say which field or what is allowed", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse returned a profile that does not validate: %v", err)
		}
		// What a run does with a profile must not panic either.
		d := p.Duration()
		if d <= 0 || d > MaxDuration {
			t.Fatalf("duration %s out of (0, %s]", d, MaxDuration)
		}
		if peak := p.PeakRate(); peak < 0 || peak > MaxTarget || math.IsNaN(peak) {
			t.Fatalf("peak rate %v out of [0, %v]", peak, MaxTarget)
		}
		for _, at := range []time.Duration{-1, 0, d / 3, d / 2, d - 1, d, d + time.Second} {
			if r := p.RateAt(at); r < 0 || r > MaxTarget || math.IsNaN(r) {
				t.Fatalf("RateAt(%s) = %v", at, r)
			}
		}
		pacer := p.Pacer()
		if h := pacer.Hits(); h < 0 || math.IsNaN(h) || math.IsInf(h, 0) {
			t.Fatalf("Hits() = %v", h)
		}
		_ = p.Server.Flags()
		if err := DefaultLimits().Check(p); err != nil && !invalid.Is(err) {
			t.Fatalf("Limits.Check: %v (%T), want an *invalid.Error", err, err)
		}
	})
}
