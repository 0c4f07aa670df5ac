package hazard

import (
	"context"
	"testing"
)

// BenchmarkSafeRate is one SafeRate search (a day at 1 % risk) on the 16-worker toy chain.
func BenchmarkSafeRate(b *testing.B) {
	f := toyFactory(toyWorkers, toyMu)
	var steps int64
	for i := 0; b.Loop(); i++ {
		s, err := SafeRate(context.Background(), f, testHorizon, testRisk, Options{Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		steps += int64(s.Tried)
	}
	b.ReportMetric(float64(steps)/float64(b.N), "rates/op")
}

// BenchmarkSplit is one splitting estimate on the toy chain at a hazard of 1e-4/h.
func BenchmarkSplit(b *testing.B) {
	f := toyFactory(toyWorkers, toyMu)
	rate := toyRateFor(1e-4, toyMu, toyWorkers)
	var steps int64
	for i := 0; b.Loop(); i++ {
		e, err := Split(context.Background(), f, rate, Options{Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		steps += e.Steps
	}
	b.ReportMetric(float64(steps)/float64(b.N), "steps/op")
}
