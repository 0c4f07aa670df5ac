package results

import (
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestWindowFill(t *testing.T) {
	var w Window
	w.AddSent(120)
	// 100 results with latencies 1..100 ms: 90 OK, then one of each failure kind and 5 more
	// timeouts, added in reverse so Fill has to sort.
	for i := 100; i >= 1; i-- {
		r := &vegeta.Result{Code: 200, Latency: time.Duration(i) * time.Millisecond}
		switch {
		case i <= 6:
			r.Code, r.Error = 0, "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
		case i == 7:
			r.Code, r.Error = 0, "connect: connection refused"
		case i == 8:
			r.Code, r.Error = 0, "read: connection reset by peer"
		case i == 9:
			r.Code, r.Error = 500, "500 Internal Server Error"
		case i == 10:
			r.Code, r.Error = 0, "socket: too many open files"
		}
		w.Add(r)
	}
	s := Sample{T: 2, Phase: PhaseLoad, OfferedRPS: 50}
	w.Fill(&s, 2*time.Second)
	want := Sample{
		T: 2, WindowS: 2, Phase: PhaseLoad, OfferedRPS: 50,
		Sent: 120, SentRPS: 60, OK: 90, OKRPS: 45,
		ErrTimeout: 6, ErrRefused: 1, ErrReset: 1, ErrHTTP: 1, ErrOther: 1,
		P50: 50, P90: 90, P99: 99, Max: 100,
		InFlight: 20,
	}
	if s != want {
		t.Errorf("Fill:\n got %+v\nwant %+v", s, want)
	}

	// The next window saw nothing complete: rates and latencies are 0, but the 20 requests
	// still out are still in flight.
	w.AddSent(5)
	var next Sample
	w.Fill(&next, time.Second)
	if want := (Sample{WindowS: 1, Sent: 5, SentRPS: 5, InFlight: 25}); next != want {
		t.Errorf("empty window:\n got %+v\nwant %+v", next, want)
	}
}

func TestWindowPercentilesSmall(t *testing.T) {
	tests := []struct {
		lat                []time.Duration
		p50, p90, p99, max float64
	}{
		{[]time.Duration{7 * time.Millisecond}, 7, 7, 7, 7},
		{[]time.Duration{1 * time.Millisecond, 3 * time.Millisecond}, 1, 3, 3, 3},
		{[]time.Duration{1500 * time.Microsecond, 2 * time.Millisecond, 1 * time.Second}, 2, 1000, 1000, 1000},
	}
	for _, tt := range tests {
		var w Window
		for _, l := range tt.lat {
			w.Add(&vegeta.Result{Code: 200, Latency: l})
		}
		var s Sample
		w.Fill(&s, time.Second)
		if s.P50 != tt.p50 || s.P90 != tt.p90 || s.P99 != tt.p99 || s.Max != tt.max {
			t.Errorf("%v: p50 %v p90 %v p99 %v max %v, want %v %v %v %v",
				tt.lat, s.P50, s.P90, s.P99, s.Max, tt.p50, tt.p90, tt.p99, tt.max)
		}
	}
}

func TestWindowZeroLength(t *testing.T) {
	var w Window
	w.AddSent(3)
	w.Add(&vegeta.Result{Code: 200, Latency: time.Millisecond})
	var s Sample
	w.Fill(&s, 0)
	if s.SentRPS != 0 || s.OKRPS != 0 || s.Sent != 3 || s.OK != 1 {
		t.Errorf("zero-length window: %+v; want counts and no infinite rates", s)
	}
}

// TestWindowNoAllocs: at thousands of results per second the aggregator must not allocate per
// result once its slice has grown to a window's size.
func TestWindowNoAllocs(t *testing.T) {
	var w Window
	r := &vegeta.Result{Code: 200, Latency: time.Millisecond}
	// A full queue answers 503s by the thousand: counting them must not allocate either.
	full := &vegeta.Result{Code: 503, Error: "503 Service Unavailable", Latency: time.Millisecond}
	for range 1000 {
		w.Add(r)
	}
	var s Sample
	w.Fill(&s, time.Second)
	allocs := testing.AllocsPerRun(10, func() {
		for range 500 {
			w.AddSent(2)
			w.Add(r)
			w.Add(full)
		}
		w.Fill(&s, time.Second)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 1000-result window, want 0", allocs)
	}
}

func TestWindowConcurrent(t *testing.T) {
	var w Window
	var wg sync.WaitGroup
	const n = 1000
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				w.AddSent(1)
				w.Add(&vegeta.Result{Code: 200, Latency: time.Millisecond})
			}
		}()
	}
	wg.Wait()
	var s Sample
	w.Fill(&s, time.Second)
	if s.Sent != 4*n || s.OK != 4*n || s.InFlight != 0 {
		t.Errorf("sent %d ok %d in flight %d, want %d %d 0", s.Sent, s.OK, s.InFlight, 4*n, 4*n)
	}
}
