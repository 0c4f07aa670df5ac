package results

import (
	"math"
	"strconv"
	"strings"
)

// Why says why the app hung, when the record can: from the self-call census, e.g. "the app
// calls its own listener: 16 of 16 workers were inside self-calls at the onset, 2 self-calls
// waiting on its port, the oldest for 3.2 s; warned 2.5 s before the onset", or "no self-call
// was seen on the app's port: the hang has another cause". Empty for a run without a hang or
// whose census could not see self-calls.
func (s *Summary) Why() string {
	if !s.Hang || !s.SelfcallMeasured {
		return ""
	}
	if s.PeakSelfcallSockets == 0 {
		return "no self-call was seen on the app's port: the hang has another cause"
	}
	var b strings.Builder
	b.WriteString("the app calls its own listener: ")
	if s.OnsetWorkersInSelfcall >= 0 && s.OnsetWorkersBusy > 0 {
		b.WriteString(strconv.Itoa(min(s.OnsetWorkersInSelfcall, s.OnsetWorkersBusy)) + " of " + strconv.Itoa(s.OnsetWorkersBusy) +
			" busy workers were inside self-calls at the onset, ")
	}
	b.WriteString(strconv.Itoa(s.OnsetSelfcallWaiting) + " self-calls waiting on its port")
	if s.OnsetSelfcallWaiting > 0 {
		b.WriteString(", the oldest for " + strconv.FormatFloat(float64(s.OnsetSelfcallOldestWaitMS)/1000, 'f', 1, 64) + " s")
	}
	if s.SelfcallWarningLeadS != nil {
		lead := *s.SelfcallWarningLeadS
		if lead >= 0 {
			b.WriteString("; warned " + strconv.FormatFloat(lead, 'f', 1, 64) + " s before the onset")
		} else {
			b.WriteString("; warned " + strconv.FormatFloat(-lead, 'f', 1, 64) + " s after the onset")
		}
	}
	return b.String()
}

// VerdictLine says the verdict in a few words, as `sim run` prints it and the reports show it:
// "HANG", "OK", "INCOMPLETE", and for a saturated run its capacity and whether it recovered:
// "SATURATED at 80 rps, recovered", "SATURATED at 80 rps, not recovered within 8 s", or
// "SATURATED, recovered" for a collapse that came with no plateau to measure a capacity on.
// Empty when the record has no verdict.
//
// A run whose watchdog (worker_timeout) killed workers says so: a hang "HANG: the watchdog
// killed 64 workers; still not answering 120 s after the load" (restarting workers did not end
// it), a hang the kills ended "HANG, ended 1710.0 s after the load: the watchdog killed 848
// workers, its replacements getting through the requests left behind a few at a time (stuck for
// 32 s between kills)", a run that was only slow "SATURATED, recovered 2.0 s after the load; the
// watchdog killed 3 workers".
func (s *Summary) VerdictLine() string {
	line := strings.ToUpper(s.Verdict)
	if s.Verdict == VerdictHang && s.Recovered && s.RecoveryS != nil {
		// A hang a timer ended: stuck after the load, then it answered.
		line += ", ended " + strconv.FormatFloat(*s.RecoveryS, 'f', 1, 64) + " s after the load"
		if s.WorkerKills > 0 {
			// The watchdog's timer: each round of kills let the replacements take a few of the
			// requests left behind, until they were through.
			line += ": the watchdog killed " + count(s.WorkerKills, "worker") + ", its replacements getting through the requests left behind a few at a time"
			if s.StuckAfterLoadS != nil {
				line += " (stuck for " + strconv.FormatFloat(*s.StuckAfterLoadS, 'f', 0, 64) + " s between kills)"
			}
			return line
		}
		if s.StuckAfterLoadS != nil {
			line += " (stuck for " + strconv.FormatFloat(*s.StuckAfterLoadS, 'f', 0, 64) + " s: a timeout ended it, it did not drain)"
		}
		return line
	}
	if s.Verdict != VerdictSaturated {
		if s.WorkerKills > 0 {
			return line + s.watchdogLine()
		}
		return line
	}
	if c := s.CapacityRPS; c != nil {
		// Whole requests per second, as the reports round rates; a tenth below 10 rps.
		decimals := 0
		if math.Abs(*c) < 10 {
			decimals = 1
		}
		line += " at " + strconv.FormatFloat(*c, 'f', decimals, 64) + " rps"
	}
	if s.CapacityRPS == nil && !s.Collapse && s.FailedLoadShare > 0 {
		// Saturated by its failures alone (detect.FailingShare): say how many.
		line += ", " + strconv.FormatFloat(100*s.FailedLoadShare, 'f', 0, 64) + " % of the requests failed"
	}
	if s.WorkerKills > 0 {
		return line + s.watchdogLine()
	}
	if s.Recovered {
		return line + ", recovered"
	}
	return line + ", not recovered within " + strconv.FormatFloat(s.RecoveryWindowS, 'f', -1, 64) + " s"
}

// watchdogLine is what VerdictLine adds after the verdict of a run whose watchdog killed
// workers.
func (s *Summary) watchdogLine() string {
	kills := "the watchdog killed " + count(s.WorkerKills, "worker")
	window := strconv.FormatFloat(s.RecoveryWindowS, 'f', -1, 64) + " s"
	switch {
	case s.Verdict == VerdictHang:
		return ": " + kills + "; still not answering " + window + " after the load"
	case s.Recovered && s.RecoveryS != nil:
		return ", recovered " + strconv.FormatFloat(*s.RecoveryS, 'f', 1, 64) + " s after the load; " + kills
	case s.Recovered:
		return ", recovered; " + kills
	case s.Verdict == VerdictSaturated:
		return ", not recovered within " + window + "; " + kills
	}
	return "; " + kills
}

// count is "1 worker", "2 workers".
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}
