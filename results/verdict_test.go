package results

import "testing"

func TestVerdictLine(t *testing.T) {
	capacity, drain, between, quick := 79.6, 1710.0, 32.0, 2.0
	ended, stuck := 111.0, 62.0
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
		{"a hang the watchdog's kills ended", Summary{Verdict: VerdictHang, Collapse: true, Recovered: true, RecoveryS: &drain, StuckAfterLoadS: &between, WorkerKills: 848, RecoveryWindowS: 3600},
			"HANG, ended 1710.0 s after the load: the watchdog killed 848 workers, its replacements getting through the requests left behind a few at a time (stuck for 32 s between kills)"},
		{"slow, a few kills", Summary{Verdict: VerdictSaturated, Recovered: true, RecoveryS: &quick, WorkerKills: 3, RecoveryWindowS: 8},
			"SATURATED, recovered 2.0 s after the load; the watchdog killed 3 workers"},
		{"saturated, one kill, not recovered", Summary{Verdict: VerdictSaturated, CapacityRPS: &capacity, WorkerKills: 1, RecoveryWindowS: 8},
			"SATURATED at 80 rps, not recovered within 8 s; the watchdog killed 1 worker"},
		{"ok, a kill", Summary{Verdict: VerdictOK, Recovered: true, WorkerKills: 2}, "OK, recovered; the watchdog killed 2 workers"},
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
