package results

import "testing"

func TestWhy(t *testing.T) {
	lead := 1.5
	after := -0.25
	for _, tt := range []struct {
		name string
		s    Summary
		want string
	}{
		{"hang with self-calls, the app's count and an early warning", Summary{Hang: true, SelfcallMeasured: true, PeakSelfcallSockets: 2,
			OnsetWorkersBusy: 16, OnsetWorkersInSelfcall: 16, OnsetSelfcallWaiting: 2, OnsetSelfcallOldestWaitMS: 310, SelfcallWarningLeadS: &lead},
			"the app calls its own listener: 16 of 16 busy workers were inside self-calls at the onset, 2 self-calls waiting on its port, the oldest for 0.3 s; warned 1.5 s before the onset"},
		{"hang seen from sockets only, warned late", Summary{Hang: true, SelfcallMeasured: true, PeakSelfcallSockets: 200,
			OnsetWorkersInSelfcall: -1, OnsetSelfcallWaiting: 44, OnsetSelfcallOldestWaitMS: 112, SelfcallWarningLeadS: &after},
			"the app calls its own listener: 44 self-calls waiting on its port, the oldest for 0.1 s; warned 0.2 s after the onset"},
		{"hang without a self-call", Summary{Hang: true, SelfcallMeasured: true},
			"no self-call was seen on the app's port: the hang has another cause"},
		{"hang whose census could not see self-calls", Summary{Hang: true}, ""},
		{"no hang", Summary{SelfcallMeasured: true, PeakSelfcallSockets: 2}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Why(); got != tt.want {
				t.Errorf("Why() = %q\nwant     %q", got, tt.want)
			}
		})
	}
}
