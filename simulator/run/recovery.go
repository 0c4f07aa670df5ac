package run

import (
	"time"

	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/results"
	"github.com/simdev/sim/simulator/detect"
)

// The end of a run, the same on both engines, each on its own clock:
//
//  1. stop: the load ends at the profile's end, or, with StopOnHang, at the first load-phase
//     window where StopNow says the collapse has held for hang_hold;
//  2. probe: from that moment, Probes(rc) probes, one every recovery interval, the first at
//     once, each on a fresh connection with the recovery timeout;
//  3. drain: one interval after the last of them, and every interval after that, Extend
//     decides whether to send one more probe (a server still working through its backlog is
//     slow, not hung) or to end the recovery window;
//  4. verdict: Observation.Summarize judges what was observed.

// StopNow says whether StopOnHang ends the load at the window just closed, the last of
// timeline: the collapse condition of package detect has held for hang_hold.
func StopNow(timeline []results.Sample, th detect.Thresholds) bool {
	_, hung := detect.Collapse(timeline, th)
	return hung
}

// Probes is how many recovery probes the window plans: one every interval for the duration,
// the first at the load's end.
func Probes(rc loadprofiles.Recovery) int { return int(rc.Duration/rc.Interval) + 1 }

// Extend says, at a drain check ext past the planned window (0 at the first check, one
// interval after the last planned probe), whether to send one more probe: no probe has been
// answered, the window's extension is still within drain_max, and the server drains its
// backlog (detect.Draining), looking back far enough that a page whose self-call waits out a
// probe timeout ends within the span.
func Extend(rc loadprofiles.Recovery, ext time.Duration, timeline []results.Sample, probes []results.Probe) bool {
	for _, p := range probes {
		if p.OK {
			return false
		}
	}
	return ext < rc.Drain() && detect.Draining(timeline, detect.DrainLookback+rc.Timeout/2)
}

// Observation is what a run observed: whole when the run ended without error, as far as it got
// otherwise.
type Observation struct {
	// Timeline is every closed window, in order.
	Timeline []results.Sample
	// Probes are the recovery probes, by the time they were sent.
	Probes []results.Probe
	// Requests is the number of results of the attack; Kinds counts them by Classify's kind.
	Requests int
	Kinds    map[string]int
	// Latencies over all results (vegeta's bounded t-digest).
	P50, P90, P99, Max time.Duration
	// LoadStopped is when, since the attack started, StopOnHang ended the load; 0 when the
	// load ran its planned length.
	LoadStopped time.Duration
	// Extended is how far recovery probing went past recovery.duration because the server was
	// still draining its backlog (recovery.drain_max); 0 when it did not.
	Extended time.Duration
	// Census says where the socket columns came from and how many windows are gaps; nil
	// without a census source.
	Census *results.Census
	// Started is when the attack started, on this machine's wall clock: the origin of every T
	// in the timeline and the probes (zero when the run ended before the attack).
	Started time.Time
}

// Summarize fills sum from the observation: the verdicts and peaks (detect.Summarize, with
// the profile's stages), the request counts, errors and latencies, the load and recovery
// lengths, StoppedOnHang and where the census came from. Names, times, Complete and the app's
// own figures are the caller's.
func (o *Observation) Summarize(sum *results.Summary, th detect.Thresholds, p *loadprofiles.Profile) {
	detect.Summarize(sum, o.Timeline, o.Probes, th, p.Stages...)
	sum.Requests = o.Requests
	sum.OK = o.Kinds[results.KindOK]
	sum.P50MS, sum.P90MS, sum.P99MS, sum.MaxMS = ms(o.P50), ms(o.P90), ms(o.P99), ms(o.Max)
	sum.Errors = map[string]int{}
	for k, n := range o.Kinds {
		if k != results.KindOK {
			sum.Errors[k] = n
		}
	}
	sum.LoadDurationS = p.Duration().Seconds()
	sum.StoppedOnHang, sum.LoadStoppedS = false, nil
	if at := o.LoadStopped; at > 0 {
		stopped := at.Seconds()
		sum.StoppedOnHang, sum.LoadStoppedS, sum.LoadDurationS = true, &stopped, stopped
	}
	// The window the verdict judges recovery in: the profile's, and the drain extension.
	sum.RecoveryWindowS = (p.Recovery.Duration + o.Extended).Seconds()
	sum.Census = o.Census
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Recovery is steps 2 and 3 of a run's end on either engine's clock: the engine calls Tick at
// every tick of its recovery clock, the first at the load's end, then one every recovery
// interval, and sends a probe when it says so; when it says no, the recovery window is over
// (the engine waits for the probes in flight and stops sampling).
type Recovery struct {
	rc       loadprofiles.Recovery
	ticks    int
	extended time.Duration
}

// NewRecovery starts the recovery window of rc at the load's end.
func NewRecovery(rc loadprofiles.Recovery) *Recovery { return &Recovery{rc: rc} }

// Tick says whether to send a probe at this tick: one of the Probes(rc) planned ones, or, after
// them, one more while Extend says the server drains, judged on what has been observed so far.
func (r *Recovery) Tick(timeline []results.Sample, probes []results.Probe) bool {
	n := Probes(r.rc)
	if r.ticks < n {
		r.ticks++
		return true
	}
	ext := time.Duration(r.ticks-n) * r.rc.Interval
	if !Extend(r.rc, ext, timeline, probes) {
		return false
	}
	r.ticks++
	r.extended = ext + r.rc.Interval
	return true
}

// Extended is how far probing has gone past recovery.duration (Observation.Extended).
func (r *Recovery) Extended() time.Duration { return r.extended }
