package hazard

import (
	"fmt"
	"math"
	"time"

	"github.com/simdev/sim/internal/invalid"
)

// DefaultConfidence is the level of every interval unless told otherwise: the usual 95 %.
const DefaultConfidence = 0.95

// Method names how an Estimate was obtained.
type Method string

// The estimators.
const (
	// MethodObserved is the exponential MLE of observed hold times (MLE).
	MethodObserved Method = "observed"
	// MethodBruteForce runs independent systems until they hang or are censored (BruteForce).
	MethodBruteForce Method = "brute-force"
	// MethodSplitting is fixed-effort multilevel splitting on Level (Split).
	MethodSplitting Method = "splitting"
)

// Estimate is a hang hazard — hangs per hour of exposure — with its confidence interval.
type Estimate struct {
	// Rate is the offered rate in page requests per second (0 for MLE of observations).
	Rate float64 `json:"rate"`
	// PerHour is the point estimate of the hazard, hangs per hour.
	PerHour float64 `json:"per_hour"`
	// Lower and Upper bound the hazard at Confidence.
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	// Confidence is the level of [Lower, Upper], e.g. 0.95.
	Confidence float64 `json:"confidence"`
	Method     Method  `json:"method"`
	// Hangs and ExposureHours are the raw counts of an observed or brute-force estimate.
	Hangs         int     `json:"hangs,omitempty"`
	ExposureHours float64 `json:"exposure_hours,omitempty"`
	// Steps is the number of System.Step calls the estimate cost (its price in events).
	Steps int64 `json:"steps,omitempty"`
	// Bound reports that the hazard was too small to resolve (within ten times
	// SplitOptions.Floor): then PerHour and Upper bound it from above and Lower is 0.
	Bound bool `json:"bound,omitempty"`
	// Split details a splitting estimate; nil otherwise.
	Split *SplitDetail `json:"split,omitempty"`
}

// Risk is the probability of at least one hang within horizon at the point estimate:
// 1 − exp(−hazard·horizon), hangs being a Poisson process of intensity PerHour.
func (e Estimate) Risk(horizon time.Duration) float64 { return riskOf(e.PerHour, horizon) }

// RiskUpper is Risk at the upper end of the interval: the figure a cautious plan uses.
func (e Estimate) RiskUpper(horizon time.Duration) float64 { return riskOf(e.Upper, horizon) }

// MeanTimeToHang is 1 / hazard (infinite for a zero hazard).
func (e Estimate) MeanTimeToHang() time.Duration {
	if e.PerHour <= 0 {
		return time.Duration(math.MaxInt64)
	}
	h := 1 / e.PerHour
	if h*float64(time.Hour) >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(h * float64(time.Hour))
}

// String renders "1.2e-04/h [8.1e-05, 1.6e-04] 95 % (splitting)", or "< 3e-07/h …" for a
// bound.
func (e Estimate) String() string {
	if e.Bound {
		return fmt.Sprintf("< %.3g/h (%g %% upper bound, %s)", e.Upper, 100*e.Confidence, e.Method)
	}
	return fmt.Sprintf("%.3g/h [%.3g, %.3g] %g %% (%s)", e.PerHour, e.Lower, e.Upper, 100*e.Confidence, e.Method)
}

func riskOf(perHour float64, horizon time.Duration) float64 {
	return -math.Expm1(-perHour * horizon.Hours())
}

// hazardFor is the hazard per hour whose risk over horizon is risk: −ln(1 − risk) / horizon.
func hazardFor(risk float64, horizon time.Duration) float64 {
	return -math.Log1p(-risk) / horizon.Hours()
}

// Observation is one run of a system: how long it was watched and whether it hung. A run that
// hung gives the time of the hang; one that did not is censored at the end of the watch.
type Observation struct {
	// Time is the time to the hang, or the length of the run if it did not hang.
	Time time.Duration `json:"time"`
	Hung bool          `json:"hung"`
}

// MLE estimates a constant hazard from runs censored at their length: the exponential maximum
// likelihood estimate hangs / total exposure, with the exact (Garwood) interval of a Poisson
// count over that exposure, [χ²(α/2; 2k) / 2T, χ²(1−α/2; 2k+2) / 2T]. With no hang the
// estimate is 0 and the upper end is −ln(α/2)/T (the "rule of three" for 95 %).
// confidence 0 means DefaultConfidence.
func MLE(obs []Observation, confidence float64) (Estimate, error) {
	if confidence == 0 {
		confidence = DefaultConfidence
	}
	if !(confidence > 0 && confidence < 1) {
		return Estimate{}, invalid.Field("confidence", confidence, "between 0 and 1")
	}
	if len(obs) == 0 {
		return Estimate{}, invalid.Field("observations", "none", "at least one run")
	}
	hangs := 0
	var exposure time.Duration
	for i, o := range obs {
		if o.Time < 0 {
			return Estimate{}, invalid.Field(fmt.Sprintf("observations[%d].time", i), o.Time, ">= 0")
		}
		exposure += o.Time
		if o.Hung {
			hangs++
		}
	}
	if exposure <= 0 {
		return Estimate{}, invalid.Field("observations", "zero total time", "a positive total time")
	}
	e := poissonRate(hangs, exposure.Hours(), confidence)
	e.Method = MethodObserved
	return e, nil
}

// poissonRate is the MLE and exact interval of a rate from k events over exposure hours.
func poissonRate(k int, hours, confidence float64) Estimate {
	alpha := 1 - confidence
	return Estimate{
		PerHour:       float64(k) / hours,
		Lower:         chi2Quantile(alpha/2, float64(2*k)) / (2 * hours),
		Upper:         chi2Quantile(1-alpha/2, float64(2*k+2)) / (2 * hours),
		Confidence:    confidence,
		Hangs:         k,
		ExposureHours: hours,
	}
}
