package model

import (
	"testing"
	"time"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/loadprofiles"
	"github.com/simdev/sim/simulator/app"
)

// BenchmarkQuickProfile is one `sim run --engine model --profile quick` (self), record included:
// the target is 50 ms.
func BenchmarkQuickProfile(b *testing.B) {
	prof, err := loadprofiles.Load("quick")
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		runProfile(b, app.Self, prof)
	}
}

// BenchmarkQuickProfileTopologies is BenchmarkQuickProfile for every topology (admission-limit
// in each mode): each within the same 50 ms.
func BenchmarkQuickProfileTopologies(b *testing.B) {
	prof, err := loadprofiles.Load("quick")
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range variants() {
		b.Run(v.String(), func(b *testing.B) {
			for range b.N {
				v.run(b, prof)
			}
		})
	}
}

// BenchmarkSteadyHour is one simulated hour of 16 workers × 200 ms at 60 rps, as the hazard
// estimators drive it: the target is 1 s. Split serves the hour; self hangs within
// seconds and then piles arrivals up for the rest of the hour; bounded-queue hangs as self
// does and then refuses the arrivals; async is split's capacity with three queue passes a page.
func BenchmarkSteadyHour(b *testing.B) {
	for _, top := range []string{app.Split, app.Self, topology.BoundedQueue, topology.Async} {
		b.Run(top, func(b *testing.B) {
			f := steadyFactory(b, serverConfig(top, nil), loadprofiles.Client{Timeout: 2 * time.Second, Keepalive: true, Connections: 10000})
			events := 0
			for i := range b.N {
				s := f(60, uint64(i)+1)
				for s.Now() < 3600 && s.Step() {
					events++
				}
			}
			b.ReportMetric(float64(events)/float64(b.N), "events/op")
		})
	}
}

// BenchmarkClone is one Clone of a steady system (16 workers × 200 ms, self, the hazard
// estimators' default client) at 10 rps, as splitting makes one per trajectory, and the steps
// a clone costs (clone_steps: its time over the mean step's, measured on the same system).
func BenchmarkClone(b *testing.B) {
	f := steadyFactory(b, serverConfig(app.Self, nil), loadprofiles.Client{})
	s := f(10, 1)
	for s.Now() < 600 {
		s.Step()
	}
	const steps = 100000
	stepper := s.Clone(1)
	start := time.Now()
	for range steps {
		stepper.Step()
	}
	step := time.Since(start) / steps
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = s.Clone(uint64(i))
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(step), "clone_steps")
}
