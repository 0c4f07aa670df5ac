package detect

import (
	"testing"

	"github.com/simdev/sim/results"
)

// TestSummarizeSelfCalls: a hang whose census warned two windows before the onset, with the
// self-calls at the onset taken from the last measured window when the onset window's census
// is a gap; and a run whose census never measured self-calls reports nothing about them.
func TestSummarizeSelfCalls(t *testing.T) {
	var tl []results.Sample
	for i := 1; i <= 40; i++ {
		s := results.Sample{T: float64(i) * 0.25, WindowS: 0.25, Phase: results.PhaseLoad, OfferedRPS: 50, OKRPS: 50,
			SelfcallMeasured: true, AppUp: true}
		s.SelfcallSockets, s.WorkersBusy = 2, 10
		switch {
		case i == 19: // 4.75 s: the pool warning, before the collapse
			s.SelfcallWarning = true
		case i == 21: // the first collapsed window (onset 5.0 s); its census is a gap
			s.OKRPS, s.SocketsMissing, s.SelfcallMeasured, s.SelfcallSockets = 0, true, false, 0
			s.WorkersBusy, s.SelfcallLeased, s.SelfcallWaiting = 16, 2, 14
		case i > 21:
			s.OKRPS, s.SelfcallWarning, s.SelfcallSocketsWaiting, s.SelfcallOldestWaitMS = 0, true, 2, int64(i-21)*250
			s.WorkersBusy = 16
		case i == 20:
			s.SelfcallSocketsWaiting, s.SelfcallOldestWaitMS = 1, 40
		}
		tl = append(tl, s)
	}
	var sum results.Summary
	Summarize(&sum, tl, nil, Thresholds{})
	if !sum.Collapse || sum.CollapseOnsetS == nil || *sum.CollapseOnsetS != 5.0 {
		t.Fatalf("collapse %v onset %v, want a collapse at 5.0 s", sum.Collapse, sum.CollapseOnsetS)
	}
	if !sum.SelfcallMeasured || sum.PeakSelfcallSockets != 2 || sum.SelfcallFirstSeenS == nil || *sum.SelfcallFirstSeenS != 0.25 {
		t.Errorf("measured %v, peak %d, first seen %v; want true, 2, 0.25 s", sum.SelfcallMeasured, sum.PeakSelfcallSockets, sum.SelfcallFirstSeenS)
	}
	if sum.SelfcallWarningS == nil || *sum.SelfcallWarningS != 4.75 || sum.SelfcallWarningLeadS == nil || *sum.SelfcallWarningLeadS != 0.25 {
		t.Errorf("warning at %v, lead %v; want 4.75 s and 0.25 s (the census at the end of the window before the onset)", sum.SelfcallWarningS, sum.SelfcallWarningLeadS)
	}
	if sum.OnsetSelfcallWaiting != 1 || sum.OnsetSelfcallOldestWaitMS != 40 || sum.OnsetWorkersInSelfcall != 16 {
		t.Errorf("at the onset: %d waiting, oldest %d ms, %d workers in self-calls; want 1, 40 (the last measured window) and 16 (the app's 2 leased + 14 waiting)",
			sum.OnsetSelfcallWaiting, sum.OnsetSelfcallOldestWaitMS, sum.OnsetWorkersInSelfcall)
	}

	for i := range tl {
		tl[i].SelfcallMeasured = false
	}
	Summarize(&sum, tl, nil, Thresholds{})
	if sum.SelfcallMeasured || sum.SelfcallWarningS != nil || sum.SelfcallFirstSeenS != nil || sum.PeakSelfcallSockets != 0 || sum.Why() != "" {
		t.Errorf("without a self-call census: measured %v, warning %v, first seen %v, peak %d, why %q; want nothing", sum.SelfcallMeasured, sum.SelfcallWarningS, sum.SelfcallFirstSeenS, sum.PeakSelfcallSockets, sum.Why())
	}
}
