package results

import "testing"

func TestVerdictLine(t *testing.T) {
	capacity, ended, stuck := 79.6, 111.0, 62.0
	tests := []struct {
		name string
		s    Summary
		want string
	}{
		{"hang", Summary{Verdict: VerdictHang, CapacityRPS: &capacity}, "HANG"},
		{"ok", Summary{Verdict: VerdictOK, Recovered: true}, "OK"},
		{"incomplete", Summary{Verdict: VerdictIncomplete}, "INCOMPLETE"},
		{"none", Summary{}, ""},
		{"saturated, recovered", Summary{Verdict: VerdictSaturated, CapacityRPS: &capacity, Recovered: true}, "SATURATED at 80 rps, recovered"},
		{"saturated, not recovered", Summary{Verdict: VerdictSaturated, CapacityRPS: &capacity, RecoveryWindowS: 8}, "SATURATED at 80 rps, not recovered within 8 s"},
		{"collapse without a plateau", Summary{Verdict: VerdictSaturated, Recovered: true}, "SATURATED, recovered"},
		{"a hang a timeout ended", Summary{Verdict: VerdictHang, Collapse: true, Recovered: true, RecoveryS: &ended, StuckAfterLoadS: &stuck},
			"HANG, ended 111.0 s after the load (stuck for 62 s: a timeout ended it, it did not drain)"},
		{"saturated by failures", Summary{Verdict: VerdictSaturated, Recovered: true, FailedLoadShare: 0.32}, "SATURATED, 32 % of the requests failed, recovered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.VerdictLine(); got != tt.want {
				t.Errorf("VerdictLine() = %q, want %q", got, tt.want)
			}
		})
	}
}
