package results

import "testing"

func TestVerdictLine(t *testing.T) {
	capacity := 79.6
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.VerdictLine(); got != tt.want {
				t.Errorf("VerdictLine() = %q, want %q", got, tt.want)
			}
		})
	}
}
