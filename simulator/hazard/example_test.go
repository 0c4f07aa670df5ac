package hazard_test

import (
	"fmt"
	"time"

	"github.com/simdev/sim/simulator/hazard"
)

// Ten 10-minute holds on real sockets, three of which hung: the hazard they show.
func ExampleMLE() {
	var runs []hazard.Observation
	for _, hangAfter := range []time.Duration{4 * time.Second, 118 * time.Second, 280 * time.Second} {
		runs = append(runs, hazard.Observation{Time: hangAfter, Hung: true})
	}
	for range 7 {
		runs = append(runs, hazard.Observation{Time: 10 * time.Minute})
	}
	e, err := hazard.MLE(runs, 0.95)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.2f hangs/h, 95 %% interval [%.2f, %.2f]; P(hang within 10 min) = %.2f\n",
		e.PerHour, e.Lower, e.Upper, e.Risk(10*time.Minute))
	// Output:
	// 2.35 hangs/h, 95 % interval [0.48, 6.86]; P(hang within 10 min) = 0.32
}
