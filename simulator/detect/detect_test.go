package detect

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

// load builds one-second load windows ending at 1, 2, 3, ... s from the offered and 2xx rates;
// CloseWait is 100 × the window's index so a test can see which window an onset came from.
func load(offered, ok []float64) []results.Sample {
	if len(offered) != len(ok) {
		panic("offered and ok differ in length")
	}
	tl := make([]results.Sample, len(offered))
	for i := range offered {
		tl[i] = results.Sample{
			T: float64(i + 1), WindowS: 1, Phase: results.PhaseLoad,
			OfferedRPS: offered[i], OKRPS: ok[i],
			InFlight: 10 * i, AppStats: results.AppStats{WorkersBusy: i}, SocketCensus: results.SocketCensus{CloseWait: 100 * i},
		}
	}
	return tl
}

// repeat is n copies of v.
func repeat(v float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func cat(parts ...[]float64) []float64 {
	var s []float64
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

// recovery appends n recovery windows: no load offered, nothing answered.
func recovery(tl []results.Sample, n int) []results.Sample {
	end := tl[len(tl)-1].T
	for i := range n {
		tl = append(tl, results.Sample{T: end + float64(i+1), WindowS: 1, Phase: results.PhaseRecovery, SocketCensus: results.SocketCensus{CloseWait: 9999}})
	}
	return tl
}

func TestCollapse(t *testing.T) {
	ramp := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	tests := []struct {
		name      string
		timeline  []results.Sample
		th        Thresholds
		want      bool
		wantIndex int
		wantT     float64
	}{
		{
			name:     "clean collapse",
			timeline: recovery(load(ramp, cat(ramp[:6], repeat(0, 4))), 5),
			want:     true, wantIndex: 6, wantT: 6,
		},
		{
			name:     "no collapse",
			timeline: load(ramp, ramp),
		},
		{
			name:     "saturated server keeps its capacity",
			timeline: load(ramp, cat(ramp[:5], repeat(50, 5))),
		},
		{
			name:     "one-second dip to zero during load",
			timeline: load(repeat(100, 10), cat(repeat(100, 4), []float64{0}, repeat(100, 5))),
		},
		{
			name:     "long dip that recovers before the load ends",
			timeline: load(repeat(100, 12), cat(repeat(100, 2), repeat(0, 6), repeat(100, 4))),
		},
		{
			name:     "intermittent 50% throughput",
			timeline: load(repeat(100, 10), []float64{100, 50, 100, 50, 50, 100, 50, 50, 50, 50}),
		},
		{
			name:     "intermittent 50% with fraction 0.6",
			timeline: load(repeat(100, 10), []float64{100, 50, 100, 50, 50, 100, 50, 50, 50, 50}),
			th:       Thresholds{HangFraction: 0.6},
			want:     true, wantIndex: 6, wantT: 6,
		},
		{
			name:     "collapse at the end shorter than the hold",
			timeline: recovery(load(repeat(100, 10), cat(repeat(100, 8), repeat(0, 2))), 5),
		},
		{
			name:     "collapse at the end exactly the hold",
			timeline: load(repeat(100, 10), cat(repeat(100, 7), repeat(0, 3))),
			want:     true, wantIndex: 7, wantT: 7,
		},
		{
			name:     "dip, resume, then collapse: onset is the last run",
			timeline: load(repeat(100, 14), cat(repeat(100, 2), repeat(0, 4), repeat(100, 2), repeat(0, 6))),
			want:     true, wantIndex: 8, wantT: 8,
		},
		{
			name:     "one window back above the fraction restarts the run",
			timeline: load(repeat(100, 10), cat(repeat(100, 2), repeat(0, 5), []float64{20}, repeat(0, 2))),
		},
		{
			name:     "just below the fraction counts",
			timeline: load(repeat(100, 6), cat(repeat(100, 2), repeat(9.99, 4))),
			want:     true, wantIndex: 2, wantT: 2,
		},
		{
			name:     "at the fraction does not",
			timeline: load(repeat(100, 6), cat(repeat(100, 2), repeat(10, 4))),
		},
		{
			name:     "zero-offered windows at the start are ignored",
			timeline: load(cat(repeat(0, 3), ramp), cat(repeat(0, 3), ramp[:7], repeat(0, 3))),
			want:     true, wantIndex: 10, wantT: 10,
		},
		{
			name:     "windows below MinOfferedRPS are not judged",
			timeline: load(repeat(0.5, 8), repeat(0, 8)),
		},
		{
			name:     "low-rate windows at the end do not shorten a collapse",
			timeline: load(cat(repeat(100, 6), repeat(0.5, 3)), cat(repeat(100, 3), repeat(0, 6))),
			want:     true, wantIndex: 3, wantT: 3,
		},
		{
			name:     "low-rate windows at the end do not lengthen a short collapse",
			timeline: load(cat(repeat(100, 6), repeat(0.5, 3)), cat(repeat(100, 4), repeat(0, 5))),
		},
		{
			name:     "recovery-phase windows are not judged",
			timeline: recovery(load(repeat(100, 8), cat(repeat(100, 7), repeat(0, 1))), 10),
		},
		{
			name:     "empty timeline",
			timeline: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			onset, got := Collapse(tt.timeline, tt.th)
			if got != tt.want {
				t.Fatalf("Collapse = %v (onset %+v), want %v", got, onset, tt.want)
			}
			if !got {
				if onset != (Onset{}) {
					t.Errorf("no collapse but onset %+v", onset)
				}
				return
			}
			s := tt.timeline[tt.wantIndex]
			want := Onset{T: tt.wantT, OfferedRPS: s.OfferedRPS, InFlight: s.InFlight, WorkersBusy: s.WorkersBusy, CloseWait: s.CloseWait, Index: tt.wantIndex}
			if onset != want {
				t.Errorf("onset %+v, want %+v", onset, want)
			}
		})
	}
}

// TestCollapseWindowTiming: windows end on a ticker that runs late by a few milliseconds, and
// old records have no window length; neither may change the verdict.
func TestCollapseWindowTiming(t *testing.T) {
	jittery := load(repeat(100, 6), cat(repeat(100, 3), repeat(0, 3)))
	ends := []float64{1.004, 2.001, 3.02, 4.003, 5.001, 6.005} // the collapse spans 2.985 s
	for i := range jittery {
		jittery[i].T, jittery[i].WindowS = ends[i], 0
	}
	onset, ok := Collapse(jittery, Thresholds{})
	if !ok || onset.Index != 3 || onset.T != 3.02 {
		t.Errorf("jittery 3-window collapse: %v %+v, want a collapse at index 3, T 3.02", ok, onset)
	}

	// Without WindowS the first window starts at the attack's start.
	first := load(repeat(100, 4), repeat(0, 4))
	for i := range first {
		first[i].WindowS = 0
	}
	if onset, ok := Collapse(first, Thresholds{}); !ok || onset.T != 0 {
		t.Errorf("collapse from the first window: %v %+v, want onset at 0 s", ok, onset)
	}

	// Half-second windows: the hold is in seconds, not windows.
	half := load(repeat(100, 12), cat(repeat(100, 6), repeat(0, 6)))
	for i := range half {
		half[i].T, half[i].WindowS = float64(i+1)/2, 0.5
	}
	if _, ok := Collapse(half, Thresholds{}); !ok {
		t.Error("six collapsed half-second windows (3 s) were not a collapse")
	}
	short := load(repeat(100, 12), cat(repeat(100, 7), repeat(0, 5)))
	for i := range short {
		short[i].T, short[i].WindowS = float64(i+1)/2, 0.5
	}
	if _, ok := Collapse(short, Thresholds{}); ok {
		t.Error("five collapsed half-second windows (2.5 s) were a collapse")
	}
}

func TestCollapseNaN(t *testing.T) {
	tl := load(repeat(100, 6), cat(repeat(100, 2), repeat(math.NaN(), 4)))
	if _, ok := Collapse(tl, Thresholds{}); ok {
		t.Error("windows with an unknown 2xx rate were taken as a collapse")
	}
}

func TestRecovery(t *testing.T) {
	tests := []struct {
		name   string
		probes []results.Probe
		want   float64
		ok     bool
	}{
		{"none", nil, 0, false},
		{"never answered", []results.Probe{{SinceLoadEnd: 1}, {SinceLoadEnd: 2, Status: 503}, {SinceLoadEnd: 3, Error: "EOF"}}, 0, false},
		{"first answer", []results.Probe{{SinceLoadEnd: 1}, {SinceLoadEnd: 2.5, OK: true, Status: 200}, {SinceLoadEnd: 3, OK: true}}, 2.5, true},
		{"out of order", []results.Probe{{SinceLoadEnd: 4, OK: true}, {SinceLoadEnd: 0.5, OK: true}, {SinceLoadEnd: 0.2}}, 0.5, true},
		{"answers at once", []results.Probe{{SinceLoadEnd: 0, OK: true}}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Recovery(tt.probes)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Recovery = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		collapsed, saturated, recovered bool
		want                            string
	}{
		{false, false, true, results.VerdictOK},
		{false, false, false, results.VerdictOK},
		{true, false, true, results.VerdictSaturated},
		{true, false, false, results.VerdictHang},
		{false, true, true, results.VerdictSaturated},
		{false, true, false, results.VerdictSaturated},
		{true, true, true, results.VerdictSaturated},
		// A plateau before a collapse the app never recovers from is still the deadlock.
		{true, true, false, results.VerdictHang},
	}
	for _, tt := range tests {
		if got := Verdict(tt.collapsed, tt.saturated, tt.recovered); got != tt.want {
			t.Errorf("Verdict(%v, %v, %v) = %q, want %q", tt.collapsed, tt.saturated, tt.recovered, got, tt.want)
		}
	}
}

// quarter builds 250 ms load windows (the profiles' default sample interval) from the offered
// and 2xx rates.
func quarter(offered, ok []float64) []results.Sample {
	tl := load(offered, ok)
	for i := range tl {
		tl[i].T, tl[i].WindowS = float64(i+1)/4, 0.25
	}
	return tl
}

// linear is n rates from a to b.
func linear(a, b float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = a + (b-a)*float64(i)/float64(n-1)
	}
	return s
}

func TestSaturate(t *testing.T) {
	// quick on split, as measured: a 10→120 rps ramp over 20 s, capacity 80 rps (16 workers ×
	// 200 ms); 2xx track the offered rate to 80, hold there with the jitter of 250 ms windows,
	// then fall to 0 for the last 1.25 s, when every queued request waits past the 1 s client
	// timeout (too short a collapse for hang_hold).
	offered := linear(10, 118, 80)
	ok := make([]float64, 80)
	for i, o := range offered {
		ok[i] = math.Min(o, 80) - float64(i%2)*4 // a request more or less in a window
	}
	ok[70] = 72
	for i := 75; i < 80; i++ {
		ok[i] = 0
	}
	splitQuick := quarter(offered, ok)

	ramp := linear(10, 100, 40)
	tests := []struct {
		name         string
		timeline     []results.Sample
		th           Thresholds
		want         bool
		wantCapacity float64
		wantT        float64
		// tol is how far capacity (rps) and onset (s) may be from the wanted values.
		tol float64
	}{
		{
			name: "keeps up along a ramp, with a request more or less per window",
			timeline: quarter(ramp, func() []float64 {
				ok := slices.Clone(ramp)
				for i := range ok {
					ok[i] -= float64(i%2) * 4
				}
				return ok
			}()),
		},
		{
			name:         "plateau below the offered rate for the hold",
			timeline:     recovery(load(repeat(100, 8), cat(repeat(100, 2), []float64{60, 62, 58, 60, 61, 59})), 3),
			want:         true,
			wantCapacity: 60, wantT: 2,
		},
		{
			name:         "split on quick: plateau at 80 rps, then a short collapse at the end",
			timeline:     splitQuick,
			want:         true,
			wantCapacity: 78, wantT: 14.25, tol: 2,
		},
		{
			name:     "short dips are no plateau",
			timeline: load(repeat(100, 12), cat(repeat(100, 2), repeat(50, 2), repeat(100, 3), repeat(50, 2), repeat(100, 3))),
		},
		{
			name:     "a plateau shorter than the hold",
			timeline: load(repeat(100, 10), cat(repeat(100, 8), repeat(60, 2))),
		},
		{
			name:         "a plateau of exactly the hold",
			timeline:     load(repeat(100, 10), cat(repeat(100, 7), repeat(60, 3))),
			want:         true,
			wantCapacity: 60, wantT: 7,
		},
		{
			name:     "a collapse with no plateau before it shows no capacity",
			timeline: load(ramp[:10], cat(ramp[:4], repeat(0, 6))),
		},
		{
			name:         "collapsed windows inside a run do not count toward the plateau, nor break it",
			timeline:     load(repeat(100, 10), cat(repeat(100, 2), repeat(70, 2), []float64{0}, repeat(70, 1), repeat(100, 4))),
			want:         true,
			wantCapacity: 70, wantT: 2,
		},
		{
			name:         "the longest of two plateaus",
			timeline:     load(repeat(100, 14), cat(repeat(50, 3), repeat(100, 2), repeat(70, 5), repeat(100, 4))),
			want:         true,
			wantCapacity: 70, wantT: 5,
		},
		{
			name:     "recovery windows are not judged",
			timeline: recovery(load(repeat(100, 4), repeat(100, 4)), 10),
		},
		{
			name:     "NaN throughput counts as keeping up",
			timeline: load(repeat(100, 6), cat(repeat(100, 2), repeat(math.NaN(), 4))),
		},
		{
			name:         "a stricter fraction",
			timeline:     load(repeat(100, 6), cat(repeat(100, 2), repeat(96, 4))),
			th:           Thresholds{SaturationFraction: 0.97},
			want:         true,
			wantCapacity: 96, wantT: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Saturate(tt.timeline, tt.th)
			if ok != tt.want {
				t.Fatalf("Saturate = %+v, %v; want %v", got, ok, tt.want)
			}
			if !ok {
				return
			}
			if math.Abs(got.CapacityRPS-tt.wantCapacity) > tt.tol || math.Abs(got.T-tt.wantT) > tt.tol+1e-9 {
				t.Errorf("capacity %v rps from %v s, want %v rps from %v s", got.CapacityRPS, got.T, tt.wantCapacity, tt.wantT)
			}
		})
	}
}

// The verdicts of whole runs on synthetic timelines: a plateau then recovery is saturated at
// its capacity; short dips are ok; a collapse without recovery is a hang.
func TestSummarizeSaturation(t *testing.T) {
	answered := []results.Probe{{SinceLoadEnd: 0.5, OK: true, Status: 200}}
	silent := []results.Probe{{SinceLoadEnd: 0.5}, {SinceLoadEnd: 1.5}}
	ramp := []float64{10, 20, 30, 40, 50, 60, 70, 80}
	tests := []struct {
		name      string
		timeline  []results.Sample
		probes    []results.Probe
		verdict   string
		capacity  any // float64 or nil, as JSON gives it
		saturated bool
	}{
		{"plateau, recovered", recovery(load(repeat(100, 8), cat(repeat(100, 2), repeat(75, 6))), 2), answered, results.VerdictSaturated, 75.0, true},
		{"plateau, not recovered", recovery(load(repeat(100, 8), cat(repeat(100, 2), repeat(75, 6))), 2), silent, results.VerdictSaturated, 75.0, true},
		{"short dips", load(repeat(100, 8), []float64{100, 60, 100, 60, 60, 100, 60, 100}), answered, results.VerdictOK, nil, false},
		{"collapse, no recovery", recovery(load(ramp, cat(ramp[:4], repeat(0, 4))), 3), silent, results.VerdictHang, nil, false},
		{"plateau, then collapse, no recovery", load(repeat(100, 10), cat(repeat(60, 4), repeat(0, 6))), silent, results.VerdictHang, 60.0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := results.Summary{Complete: true}
			Summarize(&s, tt.timeline, tt.probes, Thresholds{})
			data, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			if m["verdict"] != tt.verdict || m["capacity_rps"] != tt.capacity || m["saturated"] != tt.saturated {
				t.Errorf("verdict %v, capacity_rps %v, saturated %v; want %v, %v, %v",
					m["verdict"], m["capacity_rps"], m["saturated"], tt.verdict, tt.capacity, tt.saturated)
			}
			if (m["saturation_onset_s"] == nil) != (tt.capacity == nil) {
				t.Errorf("saturation_onset_s %v with capacity %v", m["saturation_onset_s"], tt.capacity)
			}
			if th := m["thresholds"].(map[string]any); th["saturation_fraction"] != DefaultSaturationFraction {
				t.Errorf("thresholds %v lack saturation_fraction %v", th, DefaultSaturationFraction)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	ramp := []float64{10, 20, 30, 40, 50, 60, 70, 80}
	collapsed := recovery(load(ramp, cat(ramp[:4], repeat(0, 4))), 3)
	collapsed[2].FDsOpen, collapsed[5].FDsOpen = 50, 4096
	collapsed[6].AcceptErrors, collapsed[7].AcceptErrors = 12, 0 // /stats did not answer in 7
	fine := load(ramp, ramp)
	answered := []results.Probe{{SinceLoadEnd: 0.5}, {SinceLoadEnd: 1.5, OK: true, Status: 200}}
	silent := []results.Probe{{SinceLoadEnd: 0.5}, {SinceLoadEnd: 1.5}}

	type want struct {
		verdict              string
		collapse, hang, recd bool
		onset                any // float64 or nil
		hangOnset            any
		recoveryS            any
	}
	tests := []struct {
		name     string
		timeline []results.Sample
		probes   []results.Probe
		want     want
	}{
		{"hang", collapsed, silent, want{results.VerdictHang, true, true, false, 4.0, 4.0, nil}},
		{"saturated", collapsed, answered, want{results.VerdictSaturated, true, false, true, 4.0, nil, 1.5}},
		{"ok", fine, answered, want{results.VerdictOK, false, false, true, nil, nil, 1.5}},
		{"not recovered without collapse", fine, silent, want{results.VerdictOK, false, false, false, nil, nil, nil}},
		{"no probes", collapsed, nil, want{results.VerdictHang, true, true, false, 4.0, 4.0, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := results.Summary{Topology: "self", Requests: 42}
			Summarize(&s, tt.timeline, tt.probes, Thresholds{})
			// Through JSON, as scripts see it: absent values must be null, not 0.
			data, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			w := tt.want
			for k, v := range map[string]any{
				"verdict": w.verdict, "collapse": w.collapse, "hang": w.hang, "recovered": w.recd,
				"collapse_onset_s": w.onset, "hang_onset_s": w.hangOnset, "recovery_s": w.recoveryS,
				"topology": "self", "requests": 42.0,
			} {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			if w.collapse {
				if m["onset_rate_rps"] != 50.0 || m["onset_close_wait"] != 400.0 || m["onset_in_flight"] != 40.0 || m["onset_workers_busy"] != 4.0 {
					t.Errorf("onset fields: rate %v close_wait %v in_flight %v busy %v; want 50 400 40 4",
						m["onset_rate_rps"], m["onset_close_wait"], m["onset_in_flight"], m["onset_workers_busy"])
				}
			} else if m["onset_rate_rps"] != nil || m["onset_close_wait"] != 0.0 {
				t.Errorf("onset fields without a collapse: %s", data)
			}
			th := m["thresholds"].(map[string]any)
			if th["hang_fraction"] != DefaultHangFraction || th["hang_hold_s"] != DefaultHangHold.Seconds() || th["min_offered_rps"] != 1.0 {
				t.Errorf("thresholds = %v, want the defaults", th)
			}
		})
	}

	s := results.Summary{Complete: true}
	Summarize(&s, collapsed, silent, Thresholds{})
	if s.PeakCloseWait != 9999 || s.PeakCloseWaitTS != 9 {
		t.Errorf("peak CLOSE_WAIT %d at %v, want 9999 at 9 s (first window with it)", s.PeakCloseWait, s.PeakCloseWaitTS)
	}
	if s.PeakFDs != 4096 || s.AcceptErrors != 12 {
		t.Errorf("peak fds %d, accept errors %d; want 4096, 12", s.PeakFDs, s.AcceptErrors)
	}

	// Summarize is idempotent: a second call with a different outcome clears the first one's.
	Summarize(&s, fine, answered, Thresholds{HangHold: 2 * time.Second})
	if s.Hang || s.HangOnsetS != nil || s.CollapseOnsetS != nil || s.OnsetRateRPS != nil || s.OnsetCloseWait != 0 ||
		s.Verdict != results.VerdictOK || s.Thresholds.HangHoldS != 2 {
		t.Errorf("re-summarized: %+v", s)
	}
}

// A window whose socket census is a gap (a watch agent that did not answer in time) measured
// no sockets: it takes no part in peak CLOSE_WAIT even when its row holds a number, and an
// onset in such a window reports the last CLOSE_WAIT known before it.
func TestSummarizeSkipsCensusGaps(t *testing.T) {
	ramp := []float64{10, 20, 30, 40, 50, 60, 70, 80}
	tl := load(ramp, cat(ramp[:4], repeat(0, 4))) // onset window 4 (CLOSE_WAIT 400)
	tl[4].SocketsMissing = true                   // the onset window: a gap
	tl[7].SocketsMissing, tl[7].CloseWait = true, 99999
	var s results.Summary
	Summarize(&s, tl, nil, Thresholds{})
	if !s.Collapse || s.CollapseOnsetS == nil || *s.CollapseOnsetS != 4 {
		t.Fatalf("collapse %v at %v, want the onset at 4 s", s.Collapse, s.CollapseOnsetS)
	}
	if s.OnsetCloseWait != 300 {
		t.Errorf("onset CLOSE_WAIT %d, want 300: the onset window is a gap, the window before it had 300", s.OnsetCloseWait)
	}
	if s.PeakCloseWait != 600 || s.PeakCloseWaitTS != 7 {
		t.Errorf("peak CLOSE_WAIT %d at %v s, want 600 at 7 s: the gap's 99999 was not measured", s.PeakCloseWait, s.PeakCloseWaitTS)
	}
}

// The time to hang of a steady stage: a hang that begins in a hold is reported from that
// stage's start, one that begins in a ramp is not, and nothing is without the stages.
func TestSummarizeTimeToHang(t *testing.T) {
	stages := []loadprofiles.Stage{
		{Duration: 3 * time.Second, Target: 30},                              // ramp, [0, 3) s
		{Duration: 4 * time.Second, Target: 30, Mode: loadprofiles.ModeHold}, // [3, 7) s
		{Duration: 5 * time.Second, Target: 60, Mode: loadprofiles.ModeHold}, // [7, 12) s
	}
	silent := []results.Probe{{SinceLoadEnd: 0.5}, {SinceLoadEnd: 1.5}}
	answered := []results.Probe{{SinceLoadEnd: 0.5, OK: true, Status: 200}}
	// goodFor: 12 one-second windows of 30 rps offered, answered in full for the first n.
	goodFor := func(n int) []results.Sample {
		return recovery(load(repeat(30, 12), cat(repeat(30, n), repeat(0, 12-n))), 3)
	}
	type want struct {
		stage any // float64 (JSON) or nil
		after any
	}
	tests := []struct {
		name     string
		timeline []results.Sample
		probes   []results.Probe
		stages   []loadprofiles.Stage
		want     want
	}{
		{"hang in the first hold", goodFor(5), silent, stages, want{1.0, 2.0}},
		{"hang at the start of the second hold", goodFor(7), silent, stages, want{2.0, 0.0}},
		{"hang in the ramp", goodFor(2), silent, stages, want{nil, nil}},
		{"saturation in a hold is no hang", goodFor(5), answered, stages, want{nil, nil}},
		{"no stages given", goodFor(5), silent, nil, want{nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s results.Summary
			Summarize(&s, tt.timeline, tt.probes, Thresholds{}, tt.stages...)
			data, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"hang_stage", "hang_after_stage_start_s"} {
				if _, ok := m[k]; !ok {
					t.Errorf("%s missing from the summary JSON, want it (null when not a hold)", k)
				}
			}
			if m["hang_stage"] != tt.want.stage || m["hang_after_stage_start_s"] != tt.want.after {
				t.Errorf("hang_stage %v, hang_after_stage_start_s %v; want %v, %v (hang onset %v)",
					m["hang_stage"], m["hang_after_stage_start_s"], tt.want.stage, tt.want.after, m["hang_onset_s"])
			}
		})
	}

	// Summarize again without a hang clears them.
	var s results.Summary
	Summarize(&s, goodFor(5), silent, Thresholds{}, stages...)
	Summarize(&s, goodFor(12), silent, Thresholds{}, stages...)
	if s.HangStage != nil || s.HangAfterStageStartS != nil {
		t.Errorf("re-summarized without a hang: stage %v, after %v; want both nil", s.HangStage, s.HangAfterStageStartS)
	}
}

func TestHoldStage(t *testing.T) {
	hold := func(d time.Duration) loadprofiles.Stage {
		return loadprofiles.Stage{Duration: d, Target: 10, Mode: loadprofiles.ModeHold}
	}
	ramp := loadprofiles.Stage{Duration: 10 * time.Second, Target: 10}
	tests := []struct {
		name      string
		stages    []loadprofiles.Stage
		t         float64
		wantIndex int
		wantSince float64
		wantOK    bool
	}{
		{"single hold", []loadprofiles.Stage{hold(time.Minute)}, 42.5, 0, 42.5, true},
		{"start of a hold", []loadprofiles.Stage{ramp, hold(time.Minute)}, 10, 1, 0, true},
		{"late tick before the start", []loadprofiles.Stage{hold(time.Minute)}, -0.001, 0, 0, true},
		{"in a ramp", []loadprofiles.Stage{ramp, hold(time.Minute)}, 9.99, 0, 0, false},
		{"third stage", []loadprofiles.Stage{hold(5 * time.Second), ramp, hold(time.Minute)}, 20, 2, 5, true},
		{"after the last stage", []loadprofiles.Stage{hold(5 * time.Second)}, 5, 0, 0, false},
		{"no stages", nil, 1, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, since, ok := HoldStage(tt.stages, tt.t)
			if i != tt.wantIndex || math.Abs(since-tt.wantSince) > 1e-9 || ok != tt.wantOK {
				t.Errorf("HoldStage(%v) = %d, %v, %v; want %d, %v, %v", tt.t, i, since, ok, tt.wantIndex, tt.wantSince, tt.wantOK)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	got := Thresholds{}.Normalize()
	want := Thresholds{HangFraction: 0.1, HangHold: 3 * time.Second, MinOfferedRPS: 1, SaturationFraction: 0.9}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	custom := Thresholds{HangFraction: 0.25, HangHold: time.Second, MinOfferedRPS: 5, SaturationFraction: 0.8}
	if got := custom.Normalize(); got != custom {
		t.Errorf("Normalize changed set fields: %+v", got)
	}
}

// TestDraining: a queue that shrinks over the lookback is draining; one that stays (a hung
// server), is empty, grows, or was never reported is not.
func TestDraining(t *testing.T) {
	series := func(queued ...int) []results.Sample {
		var out []results.Sample
		for i, q := range queued {
			out = append(out, results.Sample{T: float64(i), AppUp: q >= 0, SocketsMissing: true, AppStats: results.AppStats{Queued: max(q, 0)}})
		}
		return out
	}
	backlog := func(waiting ...int) []results.Sample {
		var out []results.Sample
		for i, q := range waiting {
			x := results.Sample{T: float64(i), AppUp: true}
			x.AcceptQueue = q
			out = append(out, x)
		}
		return out
	}
	for _, c := range []struct {
		name   string
		tl     []results.Sample
		lookbk time.Duration
		want   bool
	}{
		{"shrinking", series(700, 690, 680, 671, 660), 3 * time.Second, true},
		{"hung: constant", series(815, 815, 815, 815, 815), 3 * time.Second, false},
		{"empty", series(30, 20, 10, 0, 0), 3 * time.Second, false},
		{"growing", series(10, 20, 30, 40), 3 * time.Second, false},
		{"too short to judge", series(700, 690), 3 * time.Second, false},
		{"no admin reports", series(-1, -1, -1, -1, -1), 3 * time.Second, false},
		{"gaps skipped", series(700, -1, 690, -1, 650), 3 * time.Second, true},
		{"a listen backlog draining (bio)", backlog(900, 850, 700, 640, 600), 3 * time.Second, true},
		{"a full listen backlog", backlog(1024, 1024, 1024, 1024), 3 * time.Second, false},
	} {
		if got := Draining(c.tl, c.lookbk); got != c.want {
			t.Errorf("%s: Draining = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestSummarizePeakAcceptQueue: the peak is the largest accept queue of any window with a
// census; a window whose census is missing counts nothing, whatever its column holds.
func TestSummarizePeakAcceptQueue(t *testing.T) {
	tl := []results.Sample{{T: 1}, {T: 2}, {T: 3}, {T: 4}}
	tl[0].AcceptQueue = 3
	tl[1].AcceptQueue = 41
	tl[2].AcceptQueue, tl[2].SocketsMissing = 900, true
	tl[3].AcceptQueue = 7
	var s results.Summary
	Summarize(&s, tl, nil, Thresholds{})
	if s.PeakAcceptQueue != 41 {
		t.Errorf("peak accept queue %d, want 41 (the gap's 900 is no count)", s.PeakAcceptQueue)
	}
	Summarize(&s, tl[:1], nil, Thresholds{})
	if s.PeakAcceptQueue != 3 {
		t.Errorf("second Summarize: peak accept queue %d, want 3 (it replaces the first)", s.PeakAcceptQueue)
	}
}

// TestStuck: the longest stretch after the load in which requests waited and none was taken,
// until the first good answer; the worker queue and the listen backlog both count, and a record
// that measured neither cannot tell.
func TestStuck(t *testing.T) {
	// after builds the recovery phase, a window a second: each value is the requests waiting
	// in the backlog at the window's end (-1: no census), ok marks the first good answer.
	after := func(okAt int, backlog ...int) []results.Sample {
		out := []results.Sample{{T: 0, WindowS: 1, Phase: results.PhaseLoad}}
		for i, q := range backlog {
			x := results.Sample{T: float64(i + 1), WindowS: 1, Phase: results.PhaseRecovery, SocketsMissing: q < 0}
			x.AcceptQueue = max(q, 0)
			if i+1 == okAt {
				x.OK = 1
			}
			out = append(out, x)
		}
		return out
	}
	series := func(n, q int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = q
		}
		return out
	}
	for _, c := range []struct {
		name    string
		tl      []results.Sample
		longest float64
		waited  bool
	}{
		// Puma: 60 s with 950 waiting and none taken, then the timeouts free it.
		{"stuck, then freed", after(70, append(append(series(60, 950), 900, 500, 100, 0), series(10, 0)...)...), 60, true},
		// A draining server takes some every few windows.
		{"draining", after(0, 100, 100, 90, 90, 80, 80, 70, 60, 0), 2, true},
		// Probes joining a stuck backlog make it grow: still stuck.
		{"growing", after(0, 10, 11, 12, 13, 14), 5, true},
		{"nothing waits", after(3, 0, 0, 0), 0, false},
		{"no census", after(0, -1, -1, -1), 0, false},
		{"a gap does not end the stretch", after(0, 50, -1, 50, 50), 4, true},
		{"good answer ends it", after(3, 50, 50, 50, 50, 50), 2, true},
	} {
		longest, waited := Stuck(c.tl)
		if longest != c.longest || waited != c.waited {
			t.Errorf("%s: Stuck = %v, %v; want %v, %v", c.name, longest, waited, c.longest, c.waited)
		}
	}
}

// TestSummarizeStuckAndFailing: a collapse recovered from only after 60 s stuck is a hang
// (with its recovery kept); the same recovery after a drain stays saturated; a run without a
// collapse or plateau that failed a third of its requests is saturated, not OK.
func TestSummarizeStuckAndFailing(t *testing.T) {
	th := Thresholds{HangFraction: 0.1, HangHold: 3 * time.Second, MinOfferedRPS: 1}
	load := func(okPerWindow, failPerWindow int) []results.Sample {
		var tl []results.Sample
		for i := range 10 {
			tl = append(tl, results.Sample{T: float64(i + 1), WindowS: 1, Phase: results.PhaseLoad, OfferedRPS: 50, SentRPS: 50,
				OK: okPerWindow, OKRPS: float64(okPerWindow), ErrTimeout: failPerWindow})
		}
		return tl
	}
	recovery := func(tl []results.Sample, backlog []int) []results.Sample {
		for i, q := range backlog {
			x := results.Sample{T: float64(11 + i), WindowS: 1, Phase: results.PhaseRecovery}
			x.AcceptQueue = q
			if q == 0 {
				x.OK = 1
			}
			tl = append(tl, x)
		}
		return tl
	}
	probes := func(firstOK int) []results.Probe {
		var out []results.Probe
		for i := range 80 {
			out = append(out, results.Probe{T: float64(10 + i), SinceLoadEnd: float64(i), OK: i >= firstOK})
		}
		return out
	}
	stuck := make([]int, 60)
	for i := range stuck {
		stuck[i] = 500
	}
	var s results.Summary
	Summarize(&s, recovery(load(0, 50), append(stuck, 0)), probes(61), th)
	if s.Verdict != results.VerdictHang || !s.Hang || !s.Recovered || s.StuckAfterLoadS == nil || *s.StuckAfterLoadS < 59 {
		t.Errorf("stuck 60 s then recovered: verdict %s hang %v recovered %v stuck %v", s.Verdict, s.Hang, s.Recovered, s.StuckAfterLoadS)
	}
	drain := []int{500, 400, 300, 200, 100, 0}
	Summarize(&s, recovery(load(0, 50), drain), probes(6), th)
	if s.Verdict != results.VerdictSaturated || s.Hang {
		t.Errorf("drained then recovered: verdict %s hang %v", s.Verdict, s.Hang)
	}
	Summarize(&s, load(33, 17), probes(0), th)
	if s.Verdict != results.VerdictSaturated || s.FailedLoadShare < 0.33 || s.FailedLoadShare > 0.35 {
		t.Errorf("a third failed: verdict %s, failed share %v", s.Verdict, s.FailedLoadShare)
	}
	Summarize(&s, load(49, 1), probes(0), th)
	if s.Verdict != results.VerdictOK {
		t.Errorf("2 %% failed: verdict %s, want ok", s.Verdict)
	}
}
