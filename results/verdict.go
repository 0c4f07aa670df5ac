package results

import (
	"math"
	"strconv"
	"strings"
)

// VerdictLine says the verdict in a few words, as `sim run` prints it and the reports show it:
// "HANG", "OK", "INCOMPLETE", and for a saturated run its capacity and whether it recovered:
// "SATURATED at 80 rps, recovered", "SATURATED at 80 rps, not recovered within 8 s", or
// "SATURATED, recovered" for a collapse that came with no plateau to measure a capacity on.
// Empty when the record has no verdict.
func (s *Summary) VerdictLine() string {
	line := strings.ToUpper(s.Verdict)
	if s.Verdict != VerdictSaturated {
		return line
	}
	if c := s.CapacityRPS; c != nil {
		// Whole requests per second, as the reports round rates; a tenth below 10 rps.
		decimals := 0
		if math.Abs(*c) < 10 {
			decimals = 1
		}
		line += " at " + strconv.FormatFloat(*c, 'f', decimals, 64) + " rps"
	}
	if s.Recovered {
		return line + ", recovered"
	}
	return line + ", not recovered within " + strconv.FormatFloat(s.RecoveryWindowS, 'f', -1, 64) + " s"
}
