package results

import (
	"math"
	"slices"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Window aggregates the requests of one observation window into the load columns of a Sample.
// The zero value is ready; it is safe for concurrent use, so AddSent can be called from
// vegeta's targeter while the result loop calls Add.
//
// Results arrive when they complete, which can be long after they started, so a window cannot
// count what was sent from its results: the runner reports starts with AddSent (vegeta calls
// the targeter once per request, at its start). The in-flight count is all starts minus all
// completions since the Window was made; Reset does not clear it.
type Window struct {
	mu                               sync.Mutex
	sent, ok                         int
	errTimeout, errRefused, errReset int
	errHTTP, errOther                int
	latencies                        []time.Duration
	startedTotal, completedTotal     int64
}

// AddSent counts n requests started now.
func (w *Window) AddSent(n int) {
	w.mu.Lock()
	w.sent += n
	w.startedTotal += int64(n)
	w.mu.Unlock()
}

// Add counts a completed result, by its Classify kind (every non-2xx status in ErrHTTP), and
// keeps its latency.
func (w *Window) Add(r *vegeta.Result) {
	kind := classify(r)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.completedTotal++
	w.latencies = append(w.latencies, r.Latency)
	switch kind {
	case KindOK:
		w.ok++
	case KindTimeout:
		w.errTimeout++
	case KindRefused:
		w.errRefused++
	case KindReset:
		w.errReset++
	case KindHTTP:
		w.errHTTP++
	default:
		w.errOther++
	}
}

// Fill writes the window's load columns into s (WindowS, Sent, SentRPS, OK, OKRPS, the Err
// counts, P50, P90, P99, Max and InFlight) for a window of the given length, then Resets.
// Other fields, such as T, Phase and OfferedRPS, are the caller's and are left as they are.
// Percentiles are exact (nearest rank over the sorted latencies): a window holds at most a few
// thousand results, and an estimate would blur the one-window jump a hang makes.
func (w *Window) Fill(s *Sample, length time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s.WindowS = length.Seconds()
	s.Sent, s.OK = w.sent, w.ok
	s.SentRPS, s.OKRPS = 0, 0
	if length > 0 {
		s.SentRPS = float64(w.sent) / length.Seconds()
		s.OKRPS = float64(w.ok) / length.Seconds()
	}
	s.ErrTimeout, s.ErrRefused, s.ErrReset = w.errTimeout, w.errRefused, w.errReset
	s.ErrHTTP, s.ErrOther = w.errHTTP, w.errOther
	slices.Sort(w.latencies)
	s.P50 = percentileMS(w.latencies, 0.50)
	s.P90 = percentileMS(w.latencies, 0.90)
	s.P99 = percentileMS(w.latencies, 0.99)
	s.Max = 0
	if n := len(w.latencies); n > 0 {
		s.Max = ms(w.latencies[n-1])
	}
	// A result can be added a moment before its start is counted (two goroutines); a negative
	// count would be noise, not information.
	s.InFlight = int(max(w.startedTotal-w.completedTotal, 0))
	w.resetLocked()
}

// Reset starts a new window: it clears the counts and latencies, keeping the latency slice's
// memory for the next window and the in-flight totals.
func (w *Window) Reset() {
	w.mu.Lock()
	w.resetLocked()
	w.mu.Unlock()
}

func (w *Window) resetLocked() {
	w.sent, w.ok = 0, 0
	w.errTimeout, w.errRefused, w.errReset, w.errHTTP, w.errOther = 0, 0, 0, 0, 0
	w.latencies = w.latencies[:0]
}

// percentileMS is the nearest-rank p-quantile of sorted, in milliseconds; 0 for no values.
func percentileMS(sorted []time.Duration, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(n))) - 1
	return ms(sorted[min(max(i, 0), n-1)])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
