// Command topologies prints the model's and the real sockets' comparison of every topology side
// by side, from two `sim compare` folders (bench/topologies/run.sh makes them): per topology,
// the verdict, onset, capacity, goodput, peak CLOSE_WAIT and recovery of each engine, as a
// markdown table for the README.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/simdev/sim/internal/topology"
	"github.com/simdev/sim/results"
)

func main() {
	model := flag.String("model", "", "a `sim compare --engine model` folder")
	sockets := flag.String("sockets", "", "a `sim compare` folder (real sockets)")
	flag.Parse()
	if *model == "" || *sockets == "" {
		fmt.Fprintln(os.Stderr, "usage: topologies -model DIR -sockets DIR")
		os.Exit(2)
	}
	fmt.Println("| topology | verdict (model / sockets) | onset rps | capacity rps | goodput OK/s | peak CLOSE_WAIT | recovery s |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, tp := range topology.All() {
		m, errM := summary(*model, tp.Name)
		s, errS := summary(*sockets, tp.Name)
		if errM != nil || errS != nil {
			continue // not in both comparisons
		}
		fmt.Printf("| %s | %s / %s | %s / %s | %s / %s | %.1f / %.1f | %d / %d | %s / %s |\n", tp.Name,
			m.VerdictLine(), s.VerdictLine(), num(m.OnsetRateRPS), num(s.OnsetRateRPS),
			num(m.CapacityRPS), num(s.CapacityRPS), goodput(m), goodput(s),
			m.PeakCloseWait, s.PeakCloseWait, recovery(m), recovery(s))
	}
}

func summary(dir, name string) (results.Summary, error) {
	var s results.Summary
	data, err := os.ReadFile(filepath.Join(dir, name, results.SummaryFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(data, &s)
}

func num(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.0f", *p)
}

// goodput is OK responses per second of load.
func goodput(s results.Summary) float64 {
	if s.LoadDurationS <= 0 {
		return 0
	}
	return float64(s.OK) / s.LoadDurationS
}

func recovery(s results.Summary) string {
	if !s.Recovered || s.RecoveryS == nil {
		return fmt.Sprintf("not in %.0f", s.RecoveryWindowS)
	}
	return fmt.Sprintf("%.1f", *s.RecoveryS)
}
