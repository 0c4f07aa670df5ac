package results

import (
	"github.com/simdev/sim/internal/topology"

	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/simdev/sim/internal/invalid"
)

// PlanSchemaVersion is the version of plan.json this sim writes and the only one it reads.
//
// Version 2 changed what safe_rps means: in version 1 it was 70 % of a measured deadlock rate,
// a margin that real traffic broke (issue 13: 1 of 3 hour-long holds at that rate hung); from
// version 2 it is the highest rate whose probability of a hang within horizon_s is at most
// risk, from the hang hazard. sustained_rps became null when the SLO search did not run.
const PlanSchemaVersion = 2

// PlanFile is the plan's file name inside its folder.
const PlanFile = "plan.json"

// maxPlanSize bounds how much of plan.json is read: a plan of 8 pool sizes with every step and
// curve point is under 100 kB, so 16 MiB is a file that is not a plan.
const maxPlanSize = 16 << 20

// Bases of a row's safe rate: what limited it.
const (
	// BasisRisk: the highest rate whose probability of a hang within the horizon is at most the
	// risk (self, Poisson arrivals).
	BasisRisk = "risk"
	// BasisThreshold: the evenly paced deadlock threshold (self, uniform arrivals). Evenly paced
	// load has no hang below it in the model, a best case real traffic never gives.
	BasisThreshold = "threshold"
	// BasisSLO: the highest rate that met the SLO, lower than what the risk allowed.
	BasisSLO = "slo"
	// BasisCapacity: the highest rate that met the SLO where nothing hangs (split).
	BasisCapacity = "capacity"
)

// Plan is a capacity plan (plan.json). For the self topology the answer is a risk over a
// horizon: per pool size, the highest rate whose probability of a hang within HorizonS is at
// most Risk, with the hang hazard there; for split, the highest rate within the SLO. Each is
// set beside Little's law.
type Plan struct {
	SchemaVersion int    `json:"schema_version"`
	Topology      string `json:"topology"`
	// Server is the profile server section the plan was made with (beyond each row's
	// max_threads and work_time), e.g. admission: reject; empty when none was given.
	Server map[string]string `json:"server,omitempty"`
	// CanHang says whether the topology, with these server keys, can hang (it has an absorbing
	// state): its rows are planned on a hang risk; otherwise on capacity. Absent in a plan from
	// before there were more topologies than self and split: then it is topology == self.
	CanHang *bool `json:"can_hang,omitempty"`
	// Watchdog says what the server's watchdog (worker_timeout) turns its hang into, measured
	// (topology.Watchdog); empty without one.
	Watchdog string `json:"watchdog,omitempty"`
	// NoHang is why the server cannot hang for good (topology.WhyNoHang), empty when it can;
	// TimerEndsHang says that only a timer (a timeout of the self-call, the lease or the front
	// proxy) stands between it and the hang: a burst that fills the pool stalls it until then.
	NoHang        string `json:"no_hang,omitempty"`
	TimerEndsHang bool   `json:"timer_ends_hang,omitempty"`
	// Engine ran the measured steps (threshold ramps, SLO search): EngineModel or EngineSockets.
	// Hazards always come from the model: no socket run can see a hang a year.
	Engine string `json:"engine"`
	// WorkTimeS is the app's work_time in seconds.
	WorkTimeS float64 `json:"work_time_s"`
	// SelfCallS is the mean time of one self-call (the static fetch) in seconds, used by Little's
	// law: a worker is held for work_time + self-call time per page.
	SelfCallS float64 `json:"self_call_s"`
	SLO       SLO     `json:"slo"`
	// HorizonS and Risk are the budget: at most Risk probability of a hang within HorizonS.
	HorizonS float64 `json:"horizon_s"`
	Risk     float64 `json:"risk"`
	// BudgetPerHour is the highest hazard within the budget: -ln(1 - risk) / horizon in hours.
	BudgetPerHour float64 `json:"budget_per_hour"`
	// Search says how rates were searched, in words.
	Search string    `json:"search"`
	Rows   []PlanRow `json:"rows"`
	// Curves are the hazard against the rate, one per pool size with Poisson arrivals.
	Curves []HazardCurve `json:"curves,omitempty"`
	// Peak answers --peak-rate: the fewest workers within the budget at that rate.
	Peak *PlanPeak `json:"peak,omitempty"`
	// Verify is --verify's real-socket hold against the model's prediction.
	Verify *PlanVerify `json:"verify,omitempty"`
	// Recommendation is the answer in plain words, one paragraph.
	Recommendation string `json:"recommendation"`
	// Explanation is how to read the plan: short paragraphs.
	Explanation []string `json:"explanation,omitempty"`
	// Warnings are things the user asked for that make the plan weaker (planning from evenly
	// paced arrivals only).
	Warnings   []string `json:"warnings,omitempty"`
	StartedAt  string   `json:"started_at"`
	FinishedAt string   `json:"finished_at,omitempty"`
}

// SLO is what "sustains" means in a plan.
type SLO struct {
	P99MS     float64 `json:"p99_ms"`
	ErrorRate float64 `json:"error_rate"` // fraction, 0.01 = 1 %
}

// Interval is a confidence interval of a hazard, per hour.
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	// Level is the confidence level, 0.95 = 95 %.
	Level float64 `json:"level"`
}

// PlanRow is one pool size with one arrival process.
type PlanRow struct {
	MaxThreads int    `json:"max_threads"`
	Arrivals   string `json:"arrivals"` // "uniform" or "poisson"
	// Basis says what set SafeRPS: BasisRisk, BasisThreshold, BasisSLO or BasisCapacity.
	Basis string `json:"basis"`
	// SafeRPS is the recommended highest average rate for this pool size; 0 when none is
	// (even the lowest rate searched missed the SLO).
	SafeRPS float64 `json:"safe_rps"`
	// HazardPerHour is the hang hazard at SafeRPS (hangs per hour of steady traffic) and
	// HazardCI its interval; null when not estimated (uniform arrivals: none below the
	// threshold in the model; split: no hang).
	HazardPerHour *float64  `json:"hazard_per_hour"`
	HazardCI      *Interval `json:"hazard_ci,omitempty"`
	// HazardMethod is how the hazard was estimated ("splitting", "brute force").
	HazardMethod string `json:"hazard_method,omitempty"`
	// HorizonS and Risk repeat the plan's budget, so a row read alone says what it means.
	HorizonS float64 `json:"horizon_s"`
	Risk     float64 `json:"risk"`
	// RiskRPS is the highest rate within the budget before the SLO was applied (self, Poisson).
	RiskRPS *float64 `json:"risk_rps,omitempty"`
	// SustainedRPS is the highest rate that met the SLO; null when the SLO search did not run.
	SustainedRPS *float64 `json:"sustained_rps"`
	// DeadlockRPS is the evenly paced deadlock threshold (the offered rate at hang onset on a
	// uniform ramp); null for split, Poisson rows, or when no ramp hung.
	DeadlockRPS *float64 `json:"deadlock_rps"`
	// PredictedRPS is Little's law: max_threads / (work_time + self-call time).
	PredictedRPS float64 `json:"predicted_rps"`
	// Ratio is measured / predicted: DeadlockRPS when there is one, else SustainedRPS; 0 when
	// neither was measured.
	Ratio float64    `json:"ratio"`
	Steps []PlanStep `json:"steps"`
}

// PlanStep is one measured rate.
type PlanStep struct {
	RateRPS   float64 `json:"rate_rps"`
	P99MS     float64 `json:"p99_ms"`
	ErrorRate float64 `json:"error_rate"`
	MeetsSLO  bool    `json:"meets_slo"`
	Hang      bool    `json:"hang"`
	// OnsetRPS is the offered rate at hang onset when the step hung.
	OnsetRPS *float64 `json:"onset_rps,omitempty"`
	// Record is the step's run record folder, relative to the plan's folder.
	Record string `json:"record,omitempty"`
}

// HazardCurve is the hang hazard against the rate for one pool size under Poisson arrivals.
type HazardCurve struct {
	MaxThreads int           `json:"max_threads"`
	Points     []HazardPoint `json:"points"`
}

// HazardPoint is the hazard at one rate.
type HazardPoint struct {
	RateRPS       float64  `json:"rate_rps"`
	HazardPerHour float64  `json:"hazard_per_hour"`
	HazardCI      Interval `json:"hazard_ci"`
	Method        string   `json:"method,omitempty"`
}

// PlanPeak is the answer to "how many workers for a peak rate".
type PlanPeak struct {
	RateRPS  float64 `json:"rate_rps"`
	Arrivals string  `json:"arrivals"`
	// Basis is what the workers were sized for: BasisRisk (the hang budget), BasisThreshold
	// (Little's law, evenly paced: a best case) or BasisCapacity (the SLO, split).
	Basis string `json:"basis"`
	// Workers is the fewest workers within the budget; 0 when none up to SearchedMax was.
	Workers     int `json:"workers"`
	SearchedMax int `json:"searched_max"`
	// HazardPerHour is the hazard with Workers at RateRPS (BasisRisk only).
	HazardPerHour *float64  `json:"hazard_per_hour,omitempty"`
	HazardCI      *Interval `json:"hazard_ci,omitempty"`
}

// PlanVerify is one real-socket Poisson hold at a rate where the model predicts a hang within
// about a minute, beside the prediction.
type PlanVerify struct {
	MaxThreads int     `json:"max_threads"`
	RateRPS    float64 `json:"rate_rps"`
	Seed       int64   `json:"seed"`
	HoldS      float64 `json:"hold_s"`
	// PredictedPerHour is the model's hazard at RateRPS; PredictedMeanS = 3600 / it, the mean
	// time to hang; PredictedP the probability of a hang within HoldS.
	PredictedPerHour float64  `json:"predicted_per_hour"`
	PredictedCI      Interval `json:"predicted_ci"`
	PredictedMeanS   float64  `json:"predicted_mean_s"`
	PredictedP       float64  `json:"predicted_p"`
	// Hang says whether the hold hung; MeasuredS is when, from the start of the hold (null
	// without a hang).
	Hang      bool     `json:"hang"`
	MeasuredS *float64 `json:"measured_s"`
	// Record is the hold's run record folder, relative to the plan's folder.
	Record string `json:"record,omitempty"`
}

// BudgetPerHour is the highest hang hazard (per hour) whose probability of a hang within
// horizonS seconds is at most risk: hangs of a steady process are a Poisson process of rate
// h, so P(hang within H) = 1 - exp(-h H).
func BudgetPerHour(horizonS, risk float64) float64 {
	return -math.Log1p(-risk) / (horizonS / 3600)
}

// HangProbability is the probability of a hang within horizonS seconds at perHour hangs an hour.
func HangProbability(perHour, horizonS float64) float64 {
	return -math.Expm1(-perHour * horizonS / 3600)
}

// ReadPlan loads dir/plan.json. It refuses a file that is not a plan, and any schema_version
// but PlanSchemaVersion: a newer plan may mean other things by its keys, and an older one (1)
// holds safe rates from a margin that this sim no longer stands behind. Both errors wrap an
// *invalid.Error.
func ReadPlan(dir string) (*Plan, error) {
	path := filepath.Join(dir, PlanFile)
	// ReadFile: a regular file only (os.Open of a FIFO blocks until a writer comes), at most
	// maxPlanSize, and an *invalid.Error naming the path for whatever makes it unreadable.
	data, err := ReadFile(dir, PlanFile)
	if err != nil {
		return nil, err
	}
	var head struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, &invalid.Error{Field: PlanFile, Value: dir, Allowed: "a plan written by sim plan (" + err.Error() + ")", Source: path}
	}
	switch v := head.SchemaVersion; {
	case v == nil || *v <= 0:
		return nil, &invalid.Error{Field: "schema_version", Value: head.SchemaVersion,
			Allowed: fmt.Sprintf("%d (a plan written by sim plan)", PlanSchemaVersion), Source: path}
	case *v > PlanSchemaVersion:
		return nil, &invalid.Error{Field: "schema_version", Value: *v,
			Allowed: fmt.Sprintf("%d (a newer plan needs a newer sim)", PlanSchemaVersion), Source: path}
	case *v < PlanSchemaVersion:
		return nil, &invalid.Error{Field: "schema_version", Value: *v,
			Allowed: fmt.Sprintf("%d: this plan is from an older sim whose safe rate was 70 %% of a measured deadlock rate, "+
				"which bursty traffic still hangs; run sim plan again for a rate with a hang risk over a horizon", PlanSchemaVersion),
			Source: path}
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, &invalid.Error{Field: PlanFile, Value: dir, Allowed: "a plan written by sim plan (" + err.Error() + ")", Source: path}
	}
	if err := CheckNumbers(path, p); err != nil {
		return nil, err
	}
	return &p, nil
}

// FormatHazard writes a hazard per hour with two significant digits: "60", "0.42", "4.2e-4",
// "1e-6".
func FormatHazard(perHour float64) string {
	switch {
	case perHour == 0:
		return "0"
	case math.IsNaN(perHour) || math.IsInf(perHour, 0):
		return "–"
	case perHour >= 0.01 && perHour < 1000:
		return strconv.FormatFloat(perHour, 'g', 2, 64)
	}
	s := strconv.FormatFloat(perHour, 'e', 1, 64) // 4.2e-04
	mant, exp, _ := strings.Cut(s, "e")
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	return strings.TrimSuffix(mant, ".0") + "e" + sign + strings.TrimLeft(exp[1:], "0")
}

// HangEvery says how often a hang comes at perHour hangs an hour, in the unit a person reads:
// "about 99 days", "about 4 minutes", "about 3.2 years".
func HangEvery(perHour float64) string {
	if !(perHour > 0) {
		return "never"
	}
	hours := 1 / perHour
	for _, u := range []struct {
		name  string
		hours float64
		below float64 // counts from it up are shown in the next unit
	}{
		{"second", 1.0 / 3600, 60},
		{"minute", 1.0 / 60, 60},
		{"hour", 1, 48},
		{"day", 24, 730},
		{"year", 24 * 365, math.Inf(1)},
	} {
		n := hours / u.hours
		if n >= u.below {
			continue
		}
		digits := 0
		if n < 10 {
			digits = 1
		}
		s := strings.TrimSuffix(strconv.FormatFloat(n, 'f', digits, 64), ".0")
		name := u.name
		if s != "1" {
			name += "s"
		}
		return "about " + s + " " + name
	}
	return "never"
}

// HorizonText writes a horizon in words: "24 h", "7 days", "1 year", "30 min".
func HorizonText(horizonS float64) string {
	const day, year = 24 * 3600, 365 * 24 * 3600
	switch {
	case horizonS >= year && math.Mod(horizonS, year) == 0:
		return plural(horizonS/year, "year")
	case horizonS > day && math.Mod(horizonS, day) == 0:
		return plural(horizonS/day, "day")
	case horizonS >= 3600:
		return strconv.FormatFloat(horizonS/3600, 'g', 4, 64) + " h"
	case horizonS >= 60:
		return strconv.FormatFloat(horizonS/60, 'g', 4, 64) + " min"
	}
	return strconv.FormatFloat(horizonS, 'g', 4, 64) + " s"
}

func plural(n float64, unit string) string {
	s := strconv.FormatFloat(n, 'g', 4, 64)
	if s != "1" {
		unit += "s"
	}
	return s + " " + unit
}

// Hangs says whether the plan's topology can hang (Plan.CanHang, or self for an older plan).
func (p Plan) Hangs() bool {
	if p.CanHang != nil {
		return *p.CanHang
	}
	return p.Topology == topology.Self
}
