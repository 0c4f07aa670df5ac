package main

import (
	"io"
	"math"
	"testing"
)

func hold(obs float64, hung bool) row {
	return row{engine: engineSockets, kind: "hold", obsS: obs, hung: hung, complete: true, stallMaxMS: math.NaN()}
}

// The Kaplan-Meier median: censored runs leave the risk set without moving the curve, so the
// median is later than the plain median of the hang times, and unreached when too few hung.
func TestKMMedian(t *testing.T) {
	tests := []struct {
		name string
		runs []row
		want string
	}{
		{"all hung", []row{hold(10, true), hold(30, true), hold(20, true)}, "20.0"},
		// S drops to 3/4 at 10, to 3/4 × 1/2 at 40 (two at risk after the censoring at 20).
		{"censored in between", []row{hold(10, true), hold(20, false), hold(40, true), hold(177, false)}, "40.0"},
		{"fewer than half hung", []row{hold(50, true), hold(177, false), hold(177, false)}, ">177"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kmMedian(tt.runs); got != tt.want {
				t.Errorf("kmMedian = %s, want %s", got, tt.want)
			}
		})
	}
}

// Runs during which the machine stalled too long, or whose stalls were not measured, are left
// out; model runs, which no stall can touch, never are.
func TestDropStalled(t *testing.T) {
	quiet, stalled, unmeasured := hold(10, true), hold(1, true), hold(177, false)
	quiet.stallMaxMS, stalled.stallMaxMS = 8, 3000
	model := hold(10, true)
	model.engine = engineModel
	kept := dropStalled(io.Discard, []row{quiet, stalled, unmeasured, model}, 100)
	if len(kept) != 2 || kept[0].stallMaxMS != 8 || kept[1].engine != engineModel {
		t.Errorf("kept %+v, want the quiet socket run and the model run", kept)
	}
	if all := dropStalled(io.Discard, []row{quiet, stalled}, 0); len(all) != 2 {
		t.Errorf("max 0 kept %d runs, want all 2", len(all))
	}
}

// Seeds are compared on their latest runs: a hang within 1 s of the other engine's matches,
// further apart does not, and two censored runs agree.
func TestSeedMatches(t *testing.T) {
	s := func(seed string, obs float64, hung bool, engine string) row {
		x := hold(obs, hung)
		x.seed, x.engine, x.startedUTC = seed, engine, "2026-12-01T10:00:00Z"
		return x
	}
	rerun := s("4", 12, true, engineSockets)
	rerun.startedUTC = "2026-12-01T11:00:00Z"
	sockets := []row{s("1", 4.0, true, engineSockets), s("2", 30, true, engineSockets), s("3", 177, false, engineSockets),
		s("4", 1, true, engineSockets), rerun, s("5", 177, false, engineSockets)}
	model := []row{s("1", 4.6, true, engineModel), s("2", 90, true, engineModel), s("3", 177, false, engineModel),
		s("4", 12.5, true, engineModel), s("5", 60, true, engineModel), s("6", 9, true, engineModel)}
	got := seedMatches(sockets, model)
	want := seedAgreement{compared: 5, socketsHung: 3, modelHung: 4, withinS: 2, bothElsewise: 1, onlyModel: 1, neitherHung: 1}
	if got != want {
		t.Errorf("seedMatches = %+v, want %+v", got, want)
	}
}
