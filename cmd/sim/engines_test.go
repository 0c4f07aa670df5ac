package main

import (
	"strings"
	"testing"

	"github.com/simdev/sim/results"
)

// The rule that holds the engines to each other (TestCompareAllTopologiesSockets) passes what
// the README's matrix shows and fails each kind of drift.
func TestEngineDisagreements(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	sockets := results.Summary{Verdict: results.VerdictHang, CollapseOnsetS: f(12.0), PeakCloseWait: 827, OK: 488, LoadDurationS: 20}
	for _, c := range []struct {
		name  string
		edit  func(*results.Summary)
		wants []string
	}{
		{"the README's self row", func(m *results.Summary) { m.PeakCloseWait = 824; m.OK = 492 }, nil},
		{"onset one window later", func(m *results.Summary) { m.CollapseOnsetS = f(12.25) }, nil},
		{"onset two windows later", func(m *results.Summary) { m.CollapseOnsetS = f(12.5) }, []string{"collapse onset"}},
		{"no onset", func(m *results.Summary) { m.CollapseOnsetS = nil }, []string{"collapse onset 12.00 s vs none"}},
		{"another verdict", func(m *results.Summary) { m.Verdict = results.VerdictSaturated; m.Recovered = true }, []string{"verdict"}},
		{"recovered", func(m *results.Summary) { m.Recovered = true }, []string{"verdict"}},
		{"6 % more CLOSE_WAIT", func(m *results.Summary) { m.PeakCloseWait = 880 }, []string{"peak CLOSE_WAIT"}},
		{"6 % less goodput", func(m *results.Summary) { m.OK = 458 }, []string{"goodput"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := sockets
			c.edit(&m)
			got := engineDisagreements(sockets, m, 0.25)
			if len(got) != len(c.wants) {
				t.Fatalf("disagreements %q, want %d: %q", got, len(c.wants), c.wants)
			}
			for i, w := range c.wants {
				if !strings.Contains(got[i], w) {
					t.Errorf("disagreement %q, want it to name %q", got[i], w)
				}
			}
		})
	}
}
