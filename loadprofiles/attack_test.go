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
	if testing.Short() {
		t.Skip("runs a 1.4s attack")
	}
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
			// The zero stage is [0.5s, 0.9s) and the ramp's first hit is due at 0.97s; the
			// margins absorb scheduling delays under -race.
			if at := r.Timestamp.Sub(began); at > 620*time.Millisecond && at < 900*time.Millisecond {
				t.Errorf("hit %d sent at %v, inside the zero-rate stage", n, at)
			}
		case <-deadline:
			t.Fatal("the attack did not end by itself")
		}
	}
	if n != 75 || served.Load() != 75 {
		t.Errorf("%d results, %d served; want 75 (the integral of the rate)", n, served.Load())
	}
}
