package results

import "testing"

func TestVerdictLine(t *testing.T) {
	capacity, drain := 79.6, 1710.0
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
		{"hang, the watchdog killing workers", Summary{Verdict: VerdictHang, WorkerKills: 64, RecoveryWindowS: 120},
			"HANG: the watchdog killed 64 workers; still not answering 120 s after the load"},
		{"drained by the watchdog", Summary{Verdict: VerdictSaturated, Recovered: true, RecoveryS: &drain, WorkerKills: 848, RecoveryWindowS: 3600},
			"SATURATED, recovered 1710.0 s after the load; the watchdog killed 848 workers"},
		{"saturated, one kill, not recovered", Summary{Verdict: VerdictSaturated, CapacityRPS: &capacity, WorkerKills: 1, RecoveryWindowS: 8},
			"SATURATED at 80 rps, not recovered within 8 s; the watchdog killed 1 worker"},
		{"ok, a kill", Summary{Verdict: VerdictOK, Recovered: true, WorkerKills: 2}, "OK, recovered; the watchdog killed 2 workers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.VerdictLine(); got != tt.want {
				t.Errorf("VerdictLine() = %q, want %q", got, tt.want)
			}
		})
	}
}
