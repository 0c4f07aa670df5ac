// Package detect decides a run's verdicts from its timeline and recovery probes.
//
// # Collapse
//
// Only load-phase windows (Phase "load") offering at least MinOfferedRPS are judged; the others
// neither start, break nor end a collapse. A judged window is collapsed when its good
// throughput, 2xx responses completed per second, is below HangFraction times the rate the
// pacer offered in it.
//
// Good throughput has collapsed when the judged windows are collapsed from some window to the
// last judged window of the load, and that run spans at least HangHold, from the start of its
// first window to the end of its last. Its first window is the onset. So:
//
//   - a dip that recovers while load is still offered is not a collapse, however deep or long:
//     any window back at or above the fraction ends the run, and only the run that reaches the
//     end of the load counts;
//   - a collapse that starts less than HangHold before the load ends is not (yet) a collapse:
//     there is too little evidence to tell it from a dip.
//
// The onset time is the start of the first collapsed window, so the real moment throughput fell
// is within one window after it. Completed responses lag the load by their latency; with a
// client timeout of about a window (1 s), that shifts a drop by at most a window. The onset
// reports the offered rate of that window and the in-flight requests, busy workers and
// server-side CLOSE_WAIT sockets measured at its end (for CLOSE_WAIT, when that window's socket
// census is a gap, the last census before it). Gaps in the census (results.Sample.SocketsMissing)
// take no part in peak CLOSE_WAIT.
//
// # Saturation and capacity
//
// A server past its capacity serves its capacity and falls behind the rest: its good throughput
// flattens while the offered rate goes on above it. A judged window is short when its good
// throughput is below SaturationFraction (90 %) of the offered rate; a short window that is not
// collapsed is a plateau window. A saturation is a run of consecutive short judged windows
// (collapsed ones may be among them) whose plateau windows last at least HangHold in all. Its
// capacity is the median good throughput of those plateau windows, and its onset the start of
// the first of them. When several runs qualify, the one with the longest plateau is reported.
// So a dip shorter than HangHold is no saturation, and neither is a collapse with no plateau
// before it: a server that drops from keeping up to answering nothing shows no capacity.
//
// # Recovery and verdict
//
// After the load the runner probes the app. It has recovered at the first probe answered with a
// 2xx; the recovery time is how long after the load ended that probe was sent. A merely
// overloaded server recovers as soon as the load stops, a deadlocked one never does, so recovery,
// not collapse, tells a hang from saturation: a collapse without recovery is "hang"; a
// collapse with recovery, or a saturation without a hang, is "saturated" (at its capacity,
// when it has one); anything else is "ok".
package detect

import (
	"math"
	"slices"
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
)

// Defaults for Thresholds.
const (
	// DefaultHangFraction: a deadlocked server answers next to nothing (its few 2xx are requests
	// that were already past the self-call), while an overloaded one still serves its capacity,
	// a large share of any offered rate near it. 10% sits well between the two.
	DefaultHangFraction = 0.1
	// DefaultHangHold: three one-second windows, longer than a GC pause or a burst of client
	// timeouts, short enough for a ramp that passes the threshold mid-run to show the collapse.
	DefaultHangHold = 3 * time.Second
	// DefaultMinOfferedRPS: below one request per second a one-second window may hold no request
	// at all, and its throughput says nothing.
	DefaultMinOfferedRPS = 1
	// DefaultSaturationFraction: a server that keeps up completes what is offered, give or take
	// one request in a window (4 rps in a 250 ms window, a tenth of 40 rps) and the latency by
	// which completions lag the offered rate on a ramp; 10 % short, held for hang_hold (a dozen
	// such windows in a row), is more than that jitter makes.
	DefaultSaturationFraction = 0.9
)

// holdSlack is the share of a window by which a collapse may fall short of HangHold and still
// count. Windows end on a ticker that runs a few milliseconds late under load, so three
// one-second windows can span 2.99 s; they must count as the 3 s they are meant to be.
const holdSlack = 0.1

// Thresholds set how a collapse is detected. Zero fields take the defaults.
type Thresholds struct {
	// HangFraction: a window is collapsed when its 2xx rate is below this fraction of the
	// offered rate. Default DefaultHangFraction.
	HangFraction float64
	// HangHold: how long the collapse must have lasted by the end of the load. Default
	// DefaultHangHold.
	HangHold time.Duration
	// MinOfferedRPS: windows offering less than this are not judged. Default
	// DefaultMinOfferedRPS.
	MinOfferedRPS float64
	// SaturationFraction: a window is short of the offered rate when its 2xx rate is below this
	// fraction of it (see Saturate). Default DefaultSaturationFraction.
	SaturationFraction float64
}

// Normalize returns t with the defaults in place of zero or negative fields.
func (t Thresholds) Normalize() Thresholds {
	if !(t.HangFraction > 0) {
		t.HangFraction = DefaultHangFraction
	}
	if t.HangHold <= 0 {
		t.HangHold = DefaultHangHold
	}
	if !(t.MinOfferedRPS > 0) {
		t.MinOfferedRPS = DefaultMinOfferedRPS
	}
	if !(t.SaturationFraction > 0) {
		t.SaturationFraction = DefaultSaturationFraction
	}
	return t
}

// Record is t, normalized, as stored in a summary.
func (t Thresholds) Record() results.Thresholds {
	t = t.Normalize()
	return results.Thresholds{
		HangFraction:       t.HangFraction,
		HangHoldS:          t.HangHold.Seconds(),
		MinOfferedRPS:      t.MinOfferedRPS,
		SaturationFraction: t.SaturationFraction,
	}
}

// Onset is the state at the start of a collapse.
type Onset struct {
	// T is the start of the first collapsed window, in seconds since the attack started.
	T float64
	// OfferedRPS is the offered rate of that window.
	OfferedRPS float64
	// InFlight, WorkersBusy and CloseWait are measured at the end of that window.
	InFlight, WorkersBusy, CloseWait int
	// Index is that window's index in the timeline given to Collapse.
	Index int
}

// Collapse finds the collapse of good throughput in timeline, as defined in the package doc,
// and reports its onset; false when throughput did not collapse. Zero thresholds take the
// defaults.
func Collapse(timeline []results.Sample, th Thresholds) (Onset, bool) {
	th = th.Normalize()
	last := -1  // the last judged window of the load
	onset := -1 // the first window of the collapsed run that reaches last
	for i, s := range timeline {
		if s.Phase != results.PhaseLoad || !(s.OfferedRPS >= th.MinOfferedRPS) {
			continue
		}
		last = i
		// Written so that a NaN rate counts as good: no evidence is not evidence of a hang.
		if s.OKRPS < th.HangFraction*s.OfferedRPS {
			if onset < 0 {
				onset = i
			}
		} else {
			onset = -1
		}
	}
	if onset < 0 {
		return Onset{}, false
	}
	start := windowStart(timeline, onset)
	length := timeline[onset].T - start
	if timeline[last].T-start < th.HangHold.Seconds()-holdSlack*length {
		return Onset{}, false
	}
	s := timeline[onset]
	return Onset{
		T:           start,
		OfferedRPS:  s.OfferedRPS,
		InFlight:    s.InFlight,
		WorkersBusy: s.WorkersBusy,
		CloseWait:   closeWaitAt(timeline, onset),
		Index:       onset,
	}, true
}

// closeWaitAt is the CLOSE_WAIT count of window i, or, when its census is a gap, of the last
// window before it that has one: the latest figure known at the onset, never a gap's zero.
func closeWaitAt(timeline []results.Sample, i int) int {
	for ; i >= 0; i-- {
		if !timeline[i].SocketsMissing {
			return timeline[i].CloseWait
		}
	}
	return 0
}

// Saturation is a plateau of good throughput below the offered rate.
type Saturation struct {
	// T is the start of its first plateau window, in seconds since the attack started.
	T float64
	// PlateauS is how long its plateau windows last in all.
	PlateauS float64
	// CapacityRPS is the median 2xx rate of its plateau windows.
	CapacityRPS float64
}

// Saturate finds the saturation in timeline, as defined in the package doc, and reports its
// capacity; false when there is none. Zero thresholds take the defaults.
func Saturate(timeline []results.Sample, th Thresholds) (Saturation, bool) {
	th = th.Normalize()
	var best Saturation
	found := false
	var plateau []int // the plateau windows of the current run of short windows
	end := func() {
		if len(plateau) == 0 {
			return
		}
		var length float64
		rates := make([]float64, 0, len(plateau))
		for _, i := range plateau {
			length += timeline[i].T - windowStart(timeline, i)
			rates = append(rates, timeline[i].OKRPS)
		}
		last := plateau[len(plateau)-1]
		slack := holdSlack * (timeline[last].T - windowStart(timeline, last))
		if length >= th.HangHold.Seconds()-slack && (!found || length > best.PlateauS) {
			best = Saturation{T: windowStart(timeline, plateau[0]), PlateauS: length, CapacityRPS: median(rates)}
			found = true
		}
		plateau = plateau[:0]
	}
	for i, s := range timeline {
		if s.Phase != results.PhaseLoad || !(s.OfferedRPS >= th.MinOfferedRPS) {
			continue
		}
		// Written so that a NaN rate counts as keeping up, as in Collapse.
		if !(s.OKRPS < th.SaturationFraction*s.OfferedRPS) {
			end()
			continue
		}
		if !(s.OKRPS < th.HangFraction*s.OfferedRPS) {
			plateau = append(plateau, i)
		}
	}
	end()
	return best, found
}

// median is the middle of xs (the mean of the middle two for an even count); xs is reordered.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// windowStart is when window i began: from its own length when the record has it, else the end
// of the window before (windows are back to back), else the start of the attack.
func windowStart(timeline []results.Sample, i int) float64 {
	switch s := timeline[i]; {
	case s.WindowS > 0:
		return s.T - s.WindowS
	case i > 0:
		return timeline[i-1].T
	}
	return 0
}

// Recovery reports how long after the load ended the first probe answered with a 2xx was sent;
// false when none was. Probes need not be in order.
func Recovery(probes []results.Probe) (sinceLoadEnd float64, ok bool) {
	first := math.Inf(1)
	for _, p := range probes {
		if p.OK && p.SinceLoadEnd < first {
			first, ok = p.SinceLoadEnd, true
		}
	}
	if !ok {
		return 0, false
	}
	return first, true
}

// Verdict names a complete run's outcome: results.VerdictHang for a collapse the app did not
// recover from after the load; results.VerdictSaturated for a collapse it recovered from, or a
// saturation (Saturate) without a hang; results.VerdictOK otherwise.
func Verdict(collapsed, saturated, recovered bool) string {
	switch {
	case collapsed && !recovered:
		return results.VerdictHang
	case collapsed || saturated:
		return results.VerdictSaturated
	}
	return results.VerdictOK
}

// FailingShare is the share of failed requests (among those completed during the load) at
// which a run without a collapse or a capacity plateau is saturated, not OK: a server that
// failed a tenth of its requests was over its capacity, even if its good throughput never held
// below the offered rate for hang_hold in a row.
const FailingShare = 0.10

// StuckMin is how long an app must have been stuck after the load (Stuck) for a collapse it
// recovered from to be a hang that a timer ended, not a drain: three hang_hold, and at least
// 10 s. A draining server takes a waiting request every few windows (a 1 s self-call timeout
// ends 16 pages a second); Net::HTTP's 60 s read timeout or a 30 s watchdog leave it stuck for
// their whole length.
func StuckMin(th Thresholds) time.Duration {
	return max(10*time.Second, 3*th.HangHold)
}

// Stuck is the longest stretch after the load, before the first window with a good (2xx)
// answer, in which requests waited for the app (its worker queue, from its admin listener or
// the model, plus its listen backlog, from the census) and the number waiting never fell: no
// waiting request was taken. waited is false when nothing waited in the measured windows after
// the load, or nothing was measured: then the record cannot tell stuck from slow.
func Stuck(timeline []results.Sample) (longest float64, waited bool) {
	since, prev := 0.0, -1
	waiting := waitingIn(timeline)
	for _, x := range timeline {
		if x.Phase != results.PhaseRecovery {
			continue
		}
		if x.OK > 0 {
			break
		}
		q, ok := waiting(x)
		if !ok {
			continue
		}
		switch {
		case prev < 0:
			// The first measured window after the load: the stretch starts at its start.
			since = x.T - x.WindowS
		case q == 0 || q < prev:
			// Nothing waits, or a waiting request was taken: not stuck.
			since = x.T
		}
		if q > 0 {
			waited = true
			longest = max(longest, x.T-since)
		}
		prev = q
	}
	return longest, waited
}

// waitingIn returns what counts the requests waiting for the app at the end of a window of
// timeline: its worker queue (when its admin listener answers in some window of the run) plus
// its listen backlog (when the census was taken in some window). A window that lacks one of
// the sources the run has is not measured (false): a window whose admin did not answer would
// otherwise look as if its queue had emptied.
func waitingIn(timeline []results.Sample) func(results.Sample) (int, bool) {
	admin, census := false, false
	for _, x := range timeline {
		admin = admin || x.AppUp
		census = census || !x.SocketsMissing
	}
	return func(x results.Sample) (int, bool) {
		if (admin && !x.AppUp) || (census && x.SocketsMissing) || (!admin && !census) {
			return 0, false
		}
		q := 0
		if admin {
			q += x.Queued
		}
		if census {
			q += x.AcceptQueue
		}
		return q, true
	}
}

// FailedShare is the share of the results completed during the load that failed: timeouts,
// refused and reset connections, non-2xx answers and other errors; 0 when none completed.
func FailedShare(timeline []results.Sample) float64 {
	ok, failed := 0, 0
	for _, x := range timeline {
		if x.Phase != results.PhaseLoad {
			continue
		}
		ok += x.OK
		failed += x.ErrTimeout + x.ErrRefused + x.ErrReset + x.ErrHTTP + x.ErrOther
	}
	if ok+failed == 0 {
		return 0
	}
	return float64(failed) / float64(ok+failed)
}

// Summarize fills the verdict fields of s from the timeline, the probes and the thresholds:
// Thresholds, Collapse and CollapseOnsetS, the Onset fields, CapacityRPS and SaturationOnsetS,
// Recovered and RecoveryS, Hang and HangOnsetS, Saturated, Verdict, PeakCloseWait and PeakCloseWaitTS, PeakAcceptQueue, PeakFDs, AcceptErrors and WorkerKills,
// and the self-call fields (SelfcallMeasured and the rest, see results.Summary). The other
// fields (counts, latencies, times, names, Complete) are the runner's and are left alone, and
// calling it again replaces everything it set.
//
// The verdict does not depend on s.Complete, so Summarize can run before the runner knows
// whether the run finished; results.Writer.WriteSummary turns the verdict of an incomplete
// record into "incomplete". A run that sent no probes has no recovery, so a collapse there is a
// hang: the runner must probe to tell saturation apart.
//
// stages, when given, are the profile's stages: a hang that began in a hold stage (mode: hold)
// also gets HangStage and HangAfterStageStartS (see HoldStage), the time to hang under a steady
// rate. Without them both stay null.
func Summarize(s *results.Summary, timeline []results.Sample, probes []results.Probe, th Thresholds, stages ...loadprofiles.Stage) {
	s.Thresholds = th.Record()

	onset, collapsed := Collapse(timeline, th)
	s.Collapse = collapsed
	s.CollapseOnsetS, s.OnsetRateRPS = nil, nil
	s.OnsetInFlight, s.OnsetWorkersBusy, s.OnsetCloseWait = onset.InFlight, onset.WorkersBusy, onset.CloseWait
	if collapsed {
		s.CollapseOnsetS = ptr(onset.T)
		s.OnsetRateRPS = ptr(onset.OfferedRPS)
	}

	since, recovered := Recovery(probes)
	s.Recovered, s.RecoveryS = recovered, nil
	if recovered {
		s.RecoveryS = ptr(since)
	}

	sat, saturated := Saturate(timeline, th)
	s.CapacityRPS, s.SaturationOnsetS = nil, nil
	if saturated {
		s.CapacityRPS, s.SaturationOnsetS = ptr(sat.CapacityRPS), ptr(sat.T)
	}

	s.StuckAfterLoadS = nil
	stuck, waited := Stuck(timeline)
	if waited {
		if recovered {
			// The stretch starts with the first window after the load, which may begin a
			// fraction of a window before the load's end: never longer than the recovery.
			stuck = min(stuck, since)
		}
		s.StuckAfterLoadS = ptr(stuck)
	}
	s.FailedLoadShare = FailedShare(timeline)
	failing := s.FailedLoadShare >= FailingShare
	// A recovery that came only after the app had been stuck ended a hang; it did not drain.
	stuckThenRecovered := collapsed && recovered && waited && stuck >= StuckMin(th).Seconds()
	s.Verdict = Verdict(collapsed, saturated || failing, recovered && !stuckThenRecovered)
	s.Saturated = s.Verdict == results.VerdictSaturated
	s.Hang, s.HangOnsetS = s.Verdict == results.VerdictHang, nil
	s.HangStage, s.HangAfterStageStartS = nil, nil
	if s.Hang {
		s.HangOnsetS = ptr(onset.T)
		if i, since, ok := HoldStage(stages, onset.T); ok {
			s.HangStage, s.HangAfterStageStartS = ptr(i), ptr(since)
		}
	}

	s.PeakCloseWait, s.PeakCloseWaitTS, s.PeakAcceptQueue, s.PeakFDs, s.AcceptErrors, s.WorkerKills = 0, 0, 0, 0, 0, 0
	s.ProxyTimeouts, s.ProxyClientClosed = 0, 0
	for _, x := range timeline {
		// A gap in the census measured nothing; its zero is not a count.
		if !x.SocketsMissing && x.CloseWait > s.PeakCloseWait {
			s.PeakCloseWait, s.PeakCloseWaitTS = x.CloseWait, x.T
		}
		if !x.SocketsMissing {
			s.PeakAcceptQueue = max(s.PeakAcceptQueue, x.AcceptQueue)
		}
		s.PeakFDs = max(s.PeakFDs, x.FDsOpen)
		// Cumulative in the app: the largest is the latest, and a window where /stats did not
		// answer reports 0, which must not hide it.
		s.AcceptErrors = max(s.AcceptErrors, x.AcceptErrors)
		s.WorkerKills = max(s.WorkerKills, x.WorkersKilled)
		s.ProxyTimeouts = max(s.ProxyTimeouts, x.ProxyTimeouts)
		s.ProxyClientClosed = max(s.ProxyClientClosed, x.ProxyClientClosed)
	}
	selfCalls(s, timeline, onset, collapsed)
}

// selfCalls fills the self-call fields of s (see results.Summary) from the census columns.
// The warning's time is the end of its window, when the census that fired was taken and the
// warning could first be known; its lead is the onset (the start of the first collapsed
// window) minus that time, so a warning seen in the onset window's own census has a lead of
// minus one window.
func selfCalls(s *results.Summary, timeline []results.Sample, onset Onset, collapsed bool) {
	s.SelfcallMeasured, s.PeakSelfcallSockets = false, 0
	s.OnsetSelfcallWaiting, s.OnsetSelfcallOldestWaitMS, s.OnsetWorkersInSelfcall = 0, 0, -1
	s.SelfcallFirstSeenS, s.SelfcallWarningS, s.SelfcallWarningLeadS = nil, nil, nil
	for _, x := range timeline {
		if x.SocketsMissing || !x.SelfcallMeasured {
			continue
		}
		s.SelfcallMeasured = true
		s.PeakSelfcallSockets = max(s.PeakSelfcallSockets, x.SelfcallSockets)
		if x.SelfcallSockets > 0 && s.SelfcallFirstSeenS == nil {
			s.SelfcallFirstSeenS = ptr(x.T)
		}
		if x.SelfcallWarning && s.SelfcallWarningS == nil && x.Phase == results.PhaseLoad {
			s.SelfcallWarningS = ptr(x.T)
		}
	}
	if !collapsed || !s.SelfcallMeasured {
		return
	}
	for i := onset.Index; i >= 0; i-- {
		if x := timeline[i]; !x.SocketsMissing && x.SelfcallMeasured {
			s.OnsetSelfcallWaiting, s.OnsetSelfcallOldestWaitMS = x.SelfcallSocketsWaiting, x.SelfcallOldestWaitMS
			break
		}
	}
	if x := timeline[onset.Index]; x.AppUp {
		s.OnsetWorkersInSelfcall = x.SelfcallLeased + x.SelfcallWaiting
	}
	if s.SelfcallWarningS != nil {
		s.SelfcallWarningLeadS = ptr(onset.T - *s.SelfcallWarningS)
	}
}

// HoldStage finds the stage that t, seconds since the load started, falls in, and reports its
// index and how long after its start t is; false when that stage is a ramp or t is outside the
// stages. A stage holds [start, start+duration); a t a hair before 0 (a window boundary
// computed from a late tick) counts as the first stage's start.
func HoldStage(stages []loadprofiles.Stage, t float64) (index int, sinceStart float64, ok bool) {
	start := 0.0
	for i, st := range stages {
		end := start + st.Duration.Seconds()
		if t < end {
			if st.Mode != loadprofiles.ModeHold {
				return 0, 0, false
			}
			return i, max(t-start, 0), true
		}
		start = end
	}
	return 0, 0, false
}

func ptr[T any](v T) *T { return &v }

// DrainLookback is how far back Draining compares the worker queue: long enough to span several
// sample windows and a 1 s self-call timeout, in which a draining server ends at least one page.
const DrainLookback = 3 * time.Second

// Draining says whether the server is still working through a backlog at the end of timeline:
// the requests waiting for it (waiting: its worker queue, as its admin listener or the model
// reported it, plus its listen backlog, where a connector that accepts only with a free worker
// keeps them) are not none and fewer than lookback earlier. A hung server's queue stays as it
// is; without a report there is nothing to judge, and it is not draining.
func Draining(timeline []results.Sample, lookback time.Duration) bool {
	last, first := -1, -1
	var lastT float64
	waiting := waitingIn(timeline)
	for i := len(timeline) - 1; i >= 0; i-- {
		q, ok := waiting(timeline[i])
		if !ok {
			continue
		}
		if last < 0 {
			last, lastT = q, timeline[i].T
		}
		if lastT-timeline[i].T >= lookback.Seconds() {
			first = q
			break
		}
	}
	return last > 0 && first >= 0 && last < first
}
