package loadprofiles

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// TestStagePacerDrivesVegeta runs a real vegeta attack on a loopback server: the attack sends
// exactly the profile's hits, nothing in the zero-rate stretch, and ends by itself.
func TestStagePacerDrivesVegeta(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
	}))
	defer srv.Close()

	p := &Profile{Stages: []Stage{
		{Duration: 500 * time.Millisecond, Target: 100, Mode: ModeHold}, // 50 hits
		{Duration: 400 * time.Millisecond, Target: 0, Mode: ModeHold},   // none
		{Duration: 500 * time.Millisecond, Target: 100},                 // ramp 0→100: 25 hits
	}}
	atk := vegeta.NewAttacker(vegeta.Timeout(time.Second))
	defer atk.Stop()
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: srv.URL})

	began := time.Now()
	var n int
	deadline := time.After(10 * time.Second)
	results := atk.Attack(tr, p.Pacer(), 0, "stages")
loop:
	for {
		select {
		case r, ok := <-results:
			if !ok {
				break loop
			}
			n++
			if r.Error != "" {
				t.Errorf("hit %d: %s", n, r.Error)
			}
			// Hits 0-49 are the first stage's; the ramp's (50-74) are due from 0.97s, after the
			// zero stage [0.5s, 0.9s). A loaded machine sends a hit late, never early, so only
			// earliness is asserted: a first-stage hit sent late is the machine, not the pacer.
			if at := r.Timestamp.Sub(began); r.Seq >= 50 && at < 900*time.Millisecond {
				t.Errorf("ramp hit %d sent at %v, inside the zero-rate stage", r.Seq, at)
			}
		case <-deadline:
			t.Fatal("the attack did not end by itself")
		}
	}
	if n != 75 || served.Load() != 75 {
		t.Errorf("%d results, %d served; want 75 (the integral of the rate)", n, served.Load())
	}
}
