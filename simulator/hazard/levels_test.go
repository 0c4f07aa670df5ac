package hazard_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/simdev/sim/simulator/hazard"
)

// Large pools give an estimate or a flagged bound at every rate below Little's law. At high
// rates (and the default Entrances) their level spreads over so many values that the pilot saw no level entered often
// enough for L1, and the fallback, level 1, was never entered again: 256 workers at 734.5 rps
// failed with "0 entrances into level 1". Rough effort and a floor like SafeRate's keep it cheap.
func TestModelLargePoolsEstimateAtEveryRate(t *testing.T) {
	opt := hazard.Options{Seed: 7, Split: hazard.SplitOptions{Batches: 2, Effort: 20, Successes: 10, Entrances: hazard.DefaultEffort, Floor: 1e-7}}
	for _, c := range []struct {
		workers int
		rates   []float64
	}{
		{128, []float64{64, 298, 334, 600}},
		{256, []float64{128, 734.5, 1200}},
	} {
		f := modelFactory(t, c.workers)
		for _, rate := range c.rates {
			t.Run(fmt.Sprintf("%d workers at %g rps", c.workers, rate), func(t *testing.T) {
				e, err := hazard.At(context.Background(), f, rate, opt)
				if err != nil {
					t.Fatalf("no estimate: %v", err)
				}
				t.Logf("%v", e)
				if !(e.Upper >= e.PerHour && e.PerHour >= 0) || (e.Bound && e.Lower != 0) {
					t.Errorf("not an estimate or a flagged bound: %+v", e)
				}
			})
		}
	}
}
