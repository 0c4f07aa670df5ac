package hazard

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestProbeFixed(t *testing.T) {
	lf, sf := fixedToyFactory(16, 0.2), scoredToyFactory(16, 0.2)
	for _, r := range []float64{30, 25, 20, 15, 12, 10} {
		for _, c := range []struct {
			n string
			f Factory
		}{{"level", lf}, {"score", sf}} {
			t0 := time.Now()
			e, err := At(context.Background(), c.f, r, Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			lv := ""
			if e.Split != nil {
				for _, st := range e.Split.Stages {
					lv += fmt.Sprintf(" %.3g:%.2f/%d", st.From, float64(st.Reached+st.Hung)/float64(st.Trials), st.Trials)
				}
			}
			t.Logf("%g rps %s: %v ratio %.3g in %v steps %d;%s", r, c.n, e, e.Upper/e.Lower, time.Since(t0), e.Steps, lv)
		}
	}
}
