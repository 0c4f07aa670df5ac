package main

import (
	"fmt"
	"strings"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

// breaches lists what a run breached of the profile's thresholds.
func breaches(th loadprofiles.Thresholds, s results.Summary) []string {
	var out []string
	if th.P99 > 0 && s.P99MS > float64(th.P99.Microseconds())/1000 {
		out = append(out, fmt.Sprintf("p99 %.0f ms > %s", s.P99MS, th.P99))
	}
	if th.Errors != nil && s.Requests > 0 {
		rate := float64(s.Requests-s.OK) / float64(s.Requests)
		if rate > float64(*th.Errors) {
			out = append(out, fmt.Sprintf("errors %.2f%% > %s", 100*rate, th.Errors))
		}
	}
	if th.Hang == loadprofiles.HangForbidden && s.Hang {
		out = append(out, "hang (forbidden)")
	}
	return out
}

// checkThresholds returns exit code 1, naming every breach, when a run breached the profile's
// thresholds.
func checkThresholds(prof *loadprofiles.Profile, sums []results.Summary) error {
	var all []string
	for _, s := range sums {
		for _, b := range breaches(prof.Thresholds, s) {
			all = append(all, s.Topology+": "+b)
		}
	}
	if len(all) == 0 {
		return nil
	}
	return &exitError{code: exitBreached, err: fmt.Errorf("threshold breached: %s", strings.Join(all, "; "))}
}
